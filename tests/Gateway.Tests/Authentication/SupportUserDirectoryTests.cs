using System.Text.Json.Nodes;
using Gateway.Authentication;
using Gateway.Hosting;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Authentication;

/// <summary>The support-user directory file: the demo directory, strict validation, and hot reload with last-good semantics.</summary>
public sealed class SupportUserDirectoryTests : IDisposable
{
    private readonly TempConfigDirectory _config = new();
    private readonly CapturingLoggerProvider _logs = new();
    private readonly LoggerFactory _loggerFactory;

    public SupportUserDirectoryTests()
    {
        _loggerFactory = new LoggerFactory([_logs]);
    }

    public void Dispose()
    {
        _loggerFactory.Dispose();
        _config.Dispose();
    }

    [Fact]
    public async Task DemoDirectory_Loads_JillGlobal_SamGlobexOnly()
    {
        using var directory = await LoadAsync(TimeProvider.System);

        Assert.Equal(1, directory.Generation);
        Assert.True(directory.TryFind("jill", out var jill));
        Assert.True(jill.Global);
        Assert.True(jill.IsPermittedFor("acme"));
        Assert.True(jill.IsPermittedFor("globex"));
        Assert.True(jill.IsPermittedFor("a-tenant-added-later"));

        Assert.True(directory.TryFind("sam", out var sam));
        Assert.False(sam.Global);
        Assert.Equal(["globex"], sam.Tenants);
        Assert.True(sam.IsPermittedFor("globex"));
        Assert.False(sam.IsPermittedFor("acme"));
        Assert.False(directory.TryFind("john", out _));
    }

    [Fact]
    public async Task DemoDirectory_HoldsHashesOfTheDocumentedDemoPasswords()
    {
        using var directory = await LoadAsync(TimeProvider.System);

        Assert.True(directory.TryFind("jill", out var jill));
        Assert.True(directory.TryFind("sam", out var sam));
        Assert.True(PasswordHasher.TryParse(jill.PasswordHash, out var iterations, out _, out _));
        Assert.Equal(PasswordHasher.DefaultIterations, iterations);
        Assert.True(PasswordHasher.Verify("jill-demo-password", jill.PasswordHash));
        Assert.True(PasswordHasher.Verify("sam-demo-password", sam.PasswordHash));
        Assert.False(PasswordHasher.Verify("sam-demo-password", jill.PasswordHash));
    }

    [Theory]
    [InlineData("JILL")]
    [InlineData("Jill")]
    [InlineData("jIlL")]
    public async Task TryFind_IsCaseInsensitive_AndReturnsTheCanonicalName(string asTyped)
    {
        using var directory = await LoadAsync(TimeProvider.System);

        Assert.True(directory.TryFind(asTyped, out var user));
        Assert.Equal("jill", user.Name);
    }

    [Fact]
    public async Task UserToString_NeverShowsThePasswordHash()
    {
        using var directory = await LoadAsync(TimeProvider.System);
        Assert.True(directory.TryFind("sam", out var sam));

        Assert.DoesNotContain("pbkdf2", sam.ToString(), StringComparison.Ordinal);
        Assert.Contains("globex", sam.ToString(), StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> InvalidFiles()
    {
        var data = new TheoryData<string, string, string>();
        void Add(string name, Action<JsonObject> edit, string key)
        {
            var file = SupportUsersFile.Standard();
            edit(file);
            data.Add(name, file.ToJsonString(), key);
        }

        JsonObject Users(JsonObject f) => (JsonObject)f["SupportUsers"]!["Users"]!;
        JsonObject Groups(JsonObject f) => (JsonObject)f["SupportUsers"]!["TenantGroups"]!;

        Add("plain-text password", f => Users(f)["sam"]!["PasswordHash"] = "sam-secret-password", "SupportUsers:Users:sam:PasswordHash");
        Add("other hash format", f => Users(f)["sam"]!["PasswordHash"] = "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", "SupportUsers:Users:sam:PasswordHash");
        Add("too few iterations", f => Users(f)["sam"]!["PasswordHash"] = PasswordHasher.Hash("pw", 10_000), "SupportUsers:Users:sam:PasswordHash");
        Add("absurd iterations", f => Users(f)["sam"]!["PasswordHash"] = SupportUsersFile.HashText(2_000_000_000), "SupportUsers:Users:sam:PasswordHash");
        Add("hash not a string", f => Users(f)["sam"]!["PasswordHash"] = 42, "SupportUsers:Users:sam:PasswordHash");
        Add("hash missing", f => ((JsonObject)Users(f)["sam"]!).Remove("PasswordHash"), "SupportUsers:Users:sam:PasswordHash");
        Add("unknown user key", f => Users(f)["jill"]!["Admin"] = true, "SupportUsers:Users:jill:Admin");
        Add("unknown section key", f => f["SupportUsers"]!["Roles"] = new JsonObject(), "SupportUsers:Roles");
        Add("unknown root key", f => f["Support"] = new JsonObject(), "Support:");
        Add("Global not a boolean", f => Users(f)["jill"]!["Global"] = "yes", "SupportUsers:Users:jill:Global");
        Add("name with $", f => Users(f)["ji$ll"] = SupportUsersFile.User(global: true), "SupportUsers:Users:ji$ll");
        Add("name with /", f => Users(f)["acme/jill"] = SupportUsersFile.User(global: true), "SupportUsers:Users:acme/jill");
        Add("name with space", f => Users(f)["jill smith"] = SupportUsersFile.User(global: true), "SupportUsers:Users:jill smith");
        Add("name with trailing newline", f => Users(f)["bob\n"] = SupportUsersFile.User(global: true), "SupportUsers:Users:bob\\u000a");
        Add("name too long", f => Users(f)[new string('a', 65)] = SupportUsersFile.User(global: true), "SupportUsers:Users:" + new string('a', 65));
        Add("name not NFKC", f => Users(f)["ｊｏｅ"] = SupportUsersFile.User(global: true), "SupportUsers:Users:ｊｏｅ");
        Add("names equal but for case", f => Users(f)["SAM"] = SupportUsersFile.User(global: true), "SupportUsers:Users:SAM");
        Add("neither global nor groups", f => Users(f)["sam"]!["TenantGroups"] = new JsonArray(), "SupportUsers:Users:sam");
        Add("Global false and no groups", f => Users(f)["jill"]!["Global"] = false, "SupportUsers:Users:jill");
        Add("unknown tenant group", f => Users(f)["sam"]!["TenantGroups"] = new JsonArray("initech-support"), "SupportUsers:Users:sam:TenantGroups:0");
        Add("empty tenant group", f => Groups(f)["globex-support"] = new JsonArray(), "SupportUsers:TenantGroups:globex-support");
        Add("bad tenant id", f => Groups(f)["globex-support"] = new JsonArray("Globex"), "SupportUsers:TenantGroups:globex-support:0");
        Add("no users", f => f["SupportUsers"]!["Users"] = new JsonObject(), "SupportUsers:Users");
        Add("no Users section", f => ((JsonObject)f["SupportUsers"]!).Remove("Users"), "SupportUsers:Users");
        data.Add("malformed JSON", """{ "SupportUsers": { "Users": { "jill": """, "support-users.json");
        data.Add("empty file", "", "support-users.json");
        data.Add("not an object", "[]", "SupportUsers");
        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidFiles))]
    public async Task InvalidFile_StopsStartUp_NamingTheKey(string because, string json, string key)
    {
        SupportUsersFile.WriteText(_config.Path, json);
        using var directory = Create(TimeProvider.System);

        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(directory.InitializeAsync);

        Assert.True(error.Errors.Any(e => e.StartsWith(key, StringComparison.Ordinal)), $"{because}: no error names {key}: {string.Join(" | ", error.Errors)}");
        Assert.DoesNotContain(error.Errors, e => e.Contains("sam-secret-password", StringComparison.Ordinal) || e.Contains(SupportUsersFile.SamHash, StringComparison.Ordinal));
    }

    [Fact]
    public async Task EmptyDirectory_IsRefused_BecauseItWouldLockEveryoneOut()
    {
        SupportUsersFile.WriteText(_config.Path, """{ "SupportUsers": { "Users": { } } }""");
        using var directory = Create(TimeProvider.System);

        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(directory.InitializeAsync);

        Assert.Contains(error.Errors, e => e.StartsWith("SupportUsers:Users:", StringComparison.Ordinal) && e.Contains("lock every support user out", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MissingFile_StopsStartUp()
    {
        File.Delete(Path.Combine(_config.Path, SupportDirectorySource.DefaultFileName));
        using var directory = Create(TimeProvider.System);

        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(directory.InitializeAsync);

        Assert.Contains(error.Errors, e => e.StartsWith("support-users.json: not found", StringComparison.Ordinal));
    }

    [Fact]
    public async Task KeysAreCaseInsensitive_AndCommentsAllowed_LikeOtherConfiguration()
    {
        SupportUsersFile.WriteText(_config.Path, $$"""
            {
              // the demo support users
              "supportUsers": {
                "users": { "jill": { "passwordHash": "{{SupportUsersFile.JillHash}}", "global": true } },
              }
            }
            """);
        using var directory = Create(TimeProvider.System);

        await directory.InitializeAsync();

        Assert.True(directory.TryFind("jill", out var jill));
        Assert.True(jill.Global);
    }

    [Fact]
    public async Task HotReload_AppliesAChangedPasswordAndANewUser()
    {
        SupportUsersFile.Write(_config.Path, SupportUsersFile.Standard());
        using var directory = Create(TimeProvider.System);
        await directory.InitializeAsync();

        var reload = SupportUsersFile.NextReloadAsync(directory);
        var file = SupportUsersFile.Standard();
        var newSamHash = PasswordHasher.Hash("sam-new-password", SupportUsersFile.TestIterations);
        file["SupportUsers"]!["Users"]!["sam"]!["PasswordHash"] = newSamHash;
        file["SupportUsers"]!["Users"]!["Ann.Lee@example"] = SupportUsersFile.User(groups: ["acme-support"]);
        SupportUsersFile.Write(_config.Path, file);
        var outcome = await reload;

        Assert.Equal(2, outcome.Applied);
        Assert.Equal(2, directory.Generation);
        Assert.True(directory.TryFind("sam", out var sam));
        Assert.Equal(newSamHash, sam.PasswordHash);
        Assert.True(directory.TryFind("ann.lee@example", out var ann));
        Assert.Equal("Ann.Lee@example", ann.Name);
        Assert.True(ann.IsPermittedFor("acme"));
        Assert.False(ann.IsPermittedFor("globex"));
        Assert.Contains(_logs.Entries, e => e.EventId.Id == 1503 && e.Message.Contains("added Ann.Lee@example", StringComparison.Ordinal) && e.Message.Contains("changed sam", StringComparison.Ordinal));
        AssertNoHashLogged();
    }

    [Fact]
    public async Task MalformedEdit_IsRejected_AndTheLastGoodDirectoryStays()
    {
        SupportUsersFile.Write(_config.Path, SupportUsersFile.Standard());
        using var directory = Create(TimeProvider.System);
        await directory.InitializeAsync();

        var reload = SupportUsersFile.NextReloadAsync(directory);
        SupportUsersFile.WriteText(_config.Path, """{ "SupportUsers": { "Users": { "jill": { "PasswordHash": """);
        var outcome = await reload;

        Assert.NotNull(outcome.Rejected);
        Assert.Contains(outcome.Rejected, e => e.StartsWith("support-users.json", StringComparison.Ordinal));
        Assert.Equal(1, directory.Generation);
        Assert.Equal(outcome.Rejected, directory.LastRejection);
        Assert.True(directory.TryFind("jill", out var jill));
        Assert.Equal(SupportUsersFile.JillHash, jill.PasswordHash);
        Assert.Contains(_logs.Entries, e => e.EventId.Id == 1501 && e.Level == LogLevel.Error);

        // A later good edit applies again and clears the rejection.
        reload = SupportUsersFile.NextReloadAsync(directory);
        SupportUsersFile.Write(_config.Path, SupportUsersFile.Standard());
        Assert.Equal(2, (await reload).Applied);
        Assert.Null(directory.LastRejection);
        AssertNoHashLogged();
    }

    [Fact]
    public async Task EditWithAPlainTextPassword_IsRejected_NamingTheKey_WithoutLoggingIt()
    {
        SupportUsersFile.Write(_config.Path, SupportUsersFile.Standard());
        using var directory = Create(TimeProvider.System);
        await directory.InitializeAsync();

        var reload = SupportUsersFile.NextReloadAsync(directory);
        var file = SupportUsersFile.Standard();
        file["SupportUsers"]!["Users"]!["sam"]!["PasswordHash"] = "sam-plain-text";
        SupportUsersFile.Write(_config.Path, file);
        var outcome = await reload;

        Assert.NotNull(outcome.Rejected);
        Assert.Contains(outcome.Rejected, e => e.StartsWith("SupportUsers:Users:sam:PasswordHash", StringComparison.Ordinal));
        Assert.True(directory.TryFind("sam", out var sam));
        Assert.Equal(SupportUsersFile.SamHash, sam.PasswordHash);
        Assert.DoesNotContain(_logs.Entries, e => e.Message.Contains("sam-plain-text", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EditRemovingEveryUser_IsRejected_AndTheLastGoodDirectoryStays()
    {
        SupportUsersFile.Write(_config.Path, SupportUsersFile.Standard());
        using var directory = Create(TimeProvider.System);
        await directory.InitializeAsync();

        var reload = SupportUsersFile.NextReloadAsync(directory);
        SupportUsersFile.WriteText(_config.Path, """{ "SupportUsers": { "Users": { }, "TenantGroups": { } } }""");
        var outcome = await reload;

        Assert.NotNull(outcome.Rejected);
        Assert.Contains(outcome.Rejected, e => e.Contains("lock every support user out", StringComparison.Ordinal));
        Assert.True(directory.TryFind("jill", out _));
        Assert.True(directory.TryFind("sam", out _));
    }

    [Fact]
    public async Task DeletedFile_IsRejected_AndTheLastGoodDirectoryStays()
    {
        SupportUsersFile.Write(_config.Path, SupportUsersFile.Standard());
        using var directory = Create(TimeProvider.System);
        await directory.InitializeAsync();

        File.Delete(directory.FilePath);
        await directory.ReloadAsync();

        Assert.NotNull(directory.LastRejection);
        Assert.Equal(1, directory.Generation);
        Assert.True(directory.TryFind("jill", out _));
    }

    private SupportUserDirectory Create(TimeProvider time) =>
        new(new SupportDirectorySource(_config.Path), time, _loggerFactory.CreateLogger<SupportUserDirectory>());

    private async Task<SupportUserDirectory> LoadAsync(TimeProvider time)
    {
        var directory = Create(time);
        await directory.InitializeAsync();
        return directory;
    }

    private void AssertNoHashLogged() =>
        Assert.DoesNotContain(_logs.Entries, e => e.Message.Contains(PasswordHasher.Scheme + "$", StringComparison.Ordinal));
}

internal sealed record DirectoryReloadOutcome(long? Applied, IReadOnlyList<string>? Rejected);

/// <summary>Writes support-users.json files for tests, with cheap (100 000-iteration) hashes.</summary>
internal static class SupportUsersFile
{
    public const int TestIterations = 100_000;
    public const string JillPassword = "jill-test-password";
    public const string SamPassword = "sam-test-password";

    private static readonly Lazy<string> JillHashLazy = new(() => PasswordHasher.Hash(JillPassword, TestIterations));
    private static readonly Lazy<string> SamHashLazy = new(() => PasswordHasher.Hash(SamPassword, TestIterations));

    public static string JillHash => JillHashLazy.Value;

    public static string SamHash => SamHashLazy.Value;

    /// <summary>jill global; sam on globex-support (globex); an unused acme-support group (acme).</summary>
    public static JsonObject Standard() => new()
    {
        ["SupportUsers"] = new JsonObject
        {
            ["Users"] = new JsonObject
            {
                ["jill"] = new JsonObject { ["PasswordHash"] = JillHash, ["Global"] = true },
                ["sam"] = new JsonObject { ["PasswordHash"] = SamHash, ["TenantGroups"] = new JsonArray("globex-support") },
            },
            ["TenantGroups"] = new JsonObject
            {
                ["globex-support"] = new JsonArray("globex"),
                ["acme-support"] = new JsonArray("acme"),
            },
        },
    };

    public static JsonObject User(bool global = false, string[]? groups = null, string? hash = null)
    {
        var user = new JsonObject { ["PasswordHash"] = hash ?? JillHash };
        if (global)
        {
            user["Global"] = true;
        }

        if (groups is not null)
        {
            user["TenantGroups"] = new JsonArray([.. groups.Select(g => JsonValue.Create(g))]);
        }

        return user;
    }

    /// <summary>A well-formed hash text with the given iteration count (never verified).</summary>
    public static string HashText(int iterations) =>
        $"{PasswordHasher.Scheme}${iterations}${Convert.ToBase64String(new byte[16])}${Convert.ToBase64String(new byte[32])}";

    public static void Write(string directory, JsonObject file) => WriteText(directory, file.ToJsonString(new() { WriteIndented = true }));

    /// <summary>Replaces the file in one step (write a staging file, then rename), as a careful editor does.</summary>
    public static void WriteText(string directory, string text)
    {
        var path = Path.Combine(directory, SupportDirectorySource.DefaultFileName);
        var staging = path + ".tmp";
        File.WriteAllText(staging, text);
        File.Move(staging, path, overwrite: true);
    }

    /// <summary>Completes with the next applied generation or rejection; subscribe before writing.</summary>
    public static async Task<DirectoryReloadOutcome> NextReloadAsync(SupportUserDirectory directory)
    {
        var outcome = new TaskCompletionSource<DirectoryReloadOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnApplied(long generation) => outcome.TrySetResult(new DirectoryReloadOutcome(generation, null));
        void OnRejected(IReadOnlyList<string> errors) => outcome.TrySetResult(new DirectoryReloadOutcome(null, errors));
        directory.Applied += OnApplied;
        directory.Rejected += OnRejected;
        try
        {
            return await outcome.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            directory.Applied -= OnApplied;
            directory.Rejected -= OnRejected;
        }
    }

    public static SupportUserDirectory Create(string configDirectory, TimeProvider time) =>
        new(new SupportDirectorySource(configDirectory), time, NullLogger<SupportUserDirectory>.Instance);
}
