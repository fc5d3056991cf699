using System.Collections.Frozen;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Authentication;
using Gateway.Cli;
using Gateway.Grants;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Authentication;

/// <summary>TOTP checks on their own: the window, single use, malformed codes, unreadable secrets.</summary>
public sealed class SupportMfaTests
{
    private readonly FakeTimeProvider _time = new(TestClock.Start);
    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(20);
    private readonly SecretProtector _protector = new((string?)null);

    [Theory]
    [InlineData(0, true)]
    [InlineData(-30, true)]
    [InlineData(30, true)]
    [InlineData(-60, false)]
    [InlineData(60, false)]
    public async Task Code_IsAcceptedWithinOneStepOfSkew(int offsetSeconds, bool accepted)
    {
        var mfa = Mfa(requireForAll: false);
        var code = new Totp(_secret).ComputeTotp(_time.GetUtcNow().AddSeconds(offsetSeconds).UtcDateTime);

        Assert.Equal(accepted ? MfaCheck.Valid : MfaCheck.Invalid, await mfa.VerifyAsync(Enrolled(), code, CancellationToken.None));
    }

    [Fact]
    public async Task Code_IsSingleUse_AndTheNextStepsCodeWorks()
    {
        var mfa = Mfa(requireForAll: false);
        var code = new Totp(_secret).ComputeTotp(_time.GetUtcNow().UtcDateTime);

        Assert.Equal(MfaCheck.Valid, await mfa.VerifyAsync(Enrolled(), code, CancellationToken.None));
        Assert.Equal(MfaCheck.Invalid, await mfa.VerifyAsync(Enrolled(), code, CancellationToken.None));

        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(MfaCheck.Valid, await mfa.VerifyAsync(Enrolled(), new Totp(_secret).ComputeTotp(_time.GetUtcNow().UtcDateTime), CancellationToken.None));
    }

    [Theory]
    [InlineData(null, "Missing")]
    [InlineData("  ", "Missing")]
    [InlineData("12345", "Invalid")]
    [InlineData("1234567", "Invalid")]
    [InlineData("12a456", "Invalid")]
    [InlineData("١٢٣٤٥٦", "Invalid")]
    public async Task MissingOrMalformedCodes_AreNeverChecked(string? code, string expected) =>
        Assert.Equal(expected, (await Mfa(requireForAll: false).VerifyAsync(Enrolled(), code, CancellationToken.None)).ToString());

    [Fact]
    public async Task CodeWithASpace_IsAccepted()
    {
        var code = new Totp(_secret).ComputeTotp(_time.GetUtcNow().UtcDateTime);

        Assert.Equal(MfaCheck.Valid, await Mfa(requireForAll: false).VerifyAsync(Enrolled(), code[..3] + " " + code[3..], CancellationToken.None));
    }

    [Fact]
    public async Task Requirement_ComesFromThePlatformOrTheEnrolment()
    {
        var plain = new SupportUser("jill", "hash", true, FrozenSet<string>.Empty);

        Assert.Equal(MfaCheck.NotRequired, await Mfa(requireForAll: false).VerifyAsync(plain, null, CancellationToken.None));
        Assert.Equal(MfaCheck.NotEnrolled, await Mfa(requireForAll: true).VerifyAsync(plain, "123456", CancellationToken.None));
        Assert.Equal(MfaCheck.Missing, await Mfa(requireForAll: false).VerifyAsync(Enrolled(), null, CancellationToken.None));
    }

    [Fact]
    public async Task SecretOfAnotherUserOrKey_IsUnreadable_NeverValid()
    {
        var code = new Totp(_secret).ComputeTotp(_time.GetUtcNow().UtcDateTime);
        var copied = Enrolled() with { Name = "sam" };
        var otherKey = new SecretProtector(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        var wrongKey = Enrolled() with { TotpSecret = otherKey.Protect(_secret, SupportMfa.Purpose("mia")) };

        Assert.Equal(MfaCheck.Unreadable, await Mfa(requireForAll: false).VerifyAsync(copied, code, CancellationToken.None));
        Assert.Equal(MfaCheck.Unreadable, await Mfa(requireForAll: false).VerifyAsync(wrongKey, code, CancellationToken.None));
    }

    [Fact]
    public void Protector_RoundTrips_AndRefusesTampering()
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var protector = new SecretProtector(key);
        var value = protector.Protect(_secret, "totp:mia");

        Assert.StartsWith("v1.", value, StringComparison.Ordinal);
        Assert.True(SecretProtector.LooksProtected(value));
        Assert.Equal(_secret, protector.Unprotect(value, "totp:mia"));
        Assert.Null(protector.Unprotect(value, "totp:sam"));
        var bytes = Convert.FromBase64String(value[3..]);
        bytes[^1] ^= 1;
        Assert.Null(protector.Unprotect("v1." + Convert.ToBase64String(bytes), "totp:mia"));
        Assert.NotEqual(protector.Protect(_secret, "totp:mia"), value); // a fresh nonce each time
    }

    [Theory]
    [InlineData(true, "", "Secrets:EncryptionKey: required")]
    [InlineData(true, "ZGVtby1rZXktZm9yLXRvdHAtc2VjcmV0cy1vbmx5ISE=", "Secrets:EncryptionKey: the demo key")]
    [InlineData(false, "c2hvcnQ=", "Secrets:EncryptionKey: not base64 of exactly 32 bytes")]
    [InlineData(false, "", null)]
    public void EncryptionKey_Rules(bool production, string key, string? error)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Gateway:Production"] = production.ToString() }).Build();

        var result = new SecretsOptionsValidator(configuration).Validate(null, new SecretsOptions { EncryptionKey = key });

        if (error is null)
        {
            Assert.True(result.Succeeded);
        }
        else
        {
            Assert.StartsWith(error, result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Directory_RefusesAPlainTextSecret()
    {
        using var document = JsonDocument.Parse("""
            {"SupportUsers":{"Users":{"mia":{"PasswordHash":"pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","Global":true,"Mfa":{"TotpSecret":"JBSWY3DPEHPK3PXP"}}}}}
            """);
        var errors = new List<string>();

        SupportUserDirectoryParser.Parse(document.RootElement, errors);

        Assert.Contains(errors, e => e.StartsWith("SupportUsers:Users:mia:Mfa:TotpSecret: not an encrypted secret", StringComparison.Ordinal));
    }

    private SupportUser Enrolled() =>
        new("mia", "hash", true, FrozenSet<string>.Empty) { TotpSecret = _protector.Protect(_secret, SupportMfa.Purpose("mia")) };

    private SupportMfa Mfa(bool requireForAll) => new(
        _protector,
        new InMemoryGrantStore(_time, Options.Create(new GrantsOptions())),
        Options.Create(new SupportOptions { RequireMfa = requireForAll }),
        new ConfigurationBuilder().Build(),
        _time,
        NullLogger<SupportMfa>.Instance);
}

/// <summary>A gateway whose throttle allows three failures per user and client (wrong codes count).</summary>
public sealed class MfaEnvironment : TestEnvironment
{
    public MfaEnvironment()
    {
        MintTokens = true;
        WithRedis = true;
        ExtraArgs = ["--Support:FailedLoginsPerUserAndClient=3", "--Support:FailedLoginsPerClient=1000", "--Support:UserBackoffAfterFailures=1000"];
    }

    /// <summary>The TOTP secrets of the users enrolled on this gateway so far.</summary>
    internal Dictionary<string, byte[]> Secrets { get; } = new(StringComparer.Ordinal);
}

/// <summary>Two-step sign-in through the real gateway: enrolment by the CLI verb, the JSON login's <c>otp</c>, Basic refused, throttling.</summary>
public sealed class MfaGatewayTests(MfaEnvironment env) : IClassFixture<MfaEnvironment>, IAsyncLifetime
{
    private const string Password = "mia-test-password";
    private readonly HttpClient _acme = env.Gateway.Client("acme.localhost");
    public async Task InitializeAsync()
    {
        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", env.Ann);
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { }, 201);
    }

    public Task DisposeAsync()
    {
        _acme.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task JsonLogin_NeedsTheCode_RefusesWrongAndReusedOnes()
    {
        var secret = await EnrolAsync("mia");
        const string name = "mia$john";
        string Code(DateTime at) => new Totp(secret).ComputeTotp(at);
        var code = Code(DateTime.UtcNow);

        Assert.Equal("support.login.mfa_required", await RefusalAsync(name, null, 401));
        Assert.Equal("support.login.mfa_invalid", await RefusalAsync(name, Code(DateTime.UtcNow.AddMinutes(5)), 401));
        using (var ok = await LoginAsync(name, code))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        Assert.Equal("support.login.mfa_invalid", await RefusalAsync(name, code, 401));
    }

    [Fact]
    public async Task Basic_ForAnEnrolledUser_IsRefusedWithMfaRequired_AndNeverReachesTheApp()
    {
        await EnrolAsync("mia");
        const string name = "mia$john";
        var hits = env.Acme.Hits.Total;

        using var response = await GetAsync(_acme, "/api/echo/x", Basic(name, Password));

        Assert.Equal("support.login.mfa_required", await ManagementClient.ProblemCodeAsync(response, 401));
        Assert.Equal(hits, env.Acme.Hits.Total);
    }

    [Fact]
    public async Task WrongCodes_CountAsFailedLogins_EvenWithTheRightPassword()
    {
        // Its own support user: the throttle counts per support user and client.
        var secret = await EnrolAsync("max");
        const string name = "max$john";
        string Code(DateTime at) => new Totp(secret).ComputeTotp(at);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("support.login.mfa_invalid", await RefusalAsync(name, Code(DateTime.UtcNow.AddMinutes(5 + i)), 401));
        }

        // The budget of this user from this client is spent: even the right code waits.
        Assert.Equal("support.login.rate_limited", await RefusalAsync(name, Code(DateTime.UtcNow), 429));
    }

    private Task<HttpResponseMessage> LoginAsync(string username, string? otp) =>
        _acme.PostAsync("/_gateway/support/login", new StringContent(JsonSerializer.Serialize(new { username, password = Password, otp }), Encoding.UTF8, "application/json"));

    private async Task<string> RefusalAsync(string username, string? otp, int status)
    {
        using var response = await LoginAsync(username, otp);
        return await ManagementClient.ProblemCodeAsync(response, status);
    }

    /// <summary>Adds the support user and enrols it with the real <c>mfa enroll</c> verb (once per gateway); its TOTP secret.</summary>
    private async Task<byte[]> EnrolAsync(string user)
    {
        await Enrolments.WaitAsync();
        try
        {
            if (!env.Secrets.TryGetValue(user, out var secret))
            {
                secret = await EnrolNowAsync(user);
                env.Secrets[user] = secret;
            }

            return secret;
        }
        finally
        {
            Enrolments.Release();
        }
    }

    private async Task<byte[]> EnrolNowAsync(string name)
    {
        var directory = env.Gateway.Services.GetRequiredService<SupportUserDirectory>();

        var file = Path.Combine(env.Gateway.Config.Path, "support-users.json");
        var document = JsonNode.Parse(await File.ReadAllTextAsync(file))!.AsObject();
        document["SupportUsers"]!["Users"]![name] = new JsonObject
        {
            ["PasswordHash"] = PasswordHasher.Hash(Password, SupportUserDirectoryParser.MinIterations),
            ["Global"] = true,
        };
        await File.WriteAllTextAsync(file + ".tmp", document.ToJsonString());
        File.Move(file + ".tmp", file, overwrite: true);

        var reloaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnApplied(long generation)
        {
            if (directory.TryFind(name, out var user) && user.TotpSecret is not null)
            {
                reloaded.TrySetResult();
            }
        }

        directory.Applied += OnApplied;
        try
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            Assert.Equal(0, await CliVerbs.RunAsync(["mfa", "enroll", name, "--config-dir", env.Gateway.Config.Path], TextReader.Null, output, error));
            var printed = output.ToString();
            Assert.Contains("Scan this QR code", printed, StringComparison.Ordinal);
            Assert.Contains("█", printed, StringComparison.Ordinal); // the QR code itself, as text
            var uri = new Uri(printed.Split('\n').Single(l => l.StartsWith("otpauth://totp/", StringComparison.Ordinal)).Trim());
            var query = System.Web.HttpUtility.ParseQueryString(uri.Query);
            Assert.Equal("SHA1", query["algorithm"]);
            Assert.Equal("6", query["digits"]);
            Assert.Equal("30", query["period"]);

            // At rest the secret is encrypted, never the base32 the app was shown.
            var stored = await File.ReadAllTextAsync(file);
            Assert.Contains("\"TotpSecret\": \"v1.", stored, StringComparison.Ordinal);
            Assert.DoesNotContain(query["secret"]!, stored, StringComparison.Ordinal);

            OnApplied(0);
            await reloaded.Task.WaitAsync(TimeSpan.FromSeconds(15));
            return Base32Encoding.ToBytes(query["secret"]!);
        }
        finally
        {
            directory.Applied -= OnApplied;
        }
    }

    private static readonly SemaphoreSlim Enrolments = new(1, 1);
}
