using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Hosting;
using Gateway.Tenancy;

namespace Gateway.Authentication;

/// <summary>
/// A support user: either the global <c>SUPPORT</c> permission (every tenant)
/// or the support role on tenant groups, flattened here to the tenants those groups hold.
/// </summary>
internal sealed record SupportUser(string Name, string PasswordHash, bool Global, IReadOnlySet<string> Tenants)
{
    /// <summary>
    /// Stands for the user's current password in session tokens (<c>cfp</c>): a token whose value
    /// differs was issued before a password change and is refused, on every instance that reads
    /// the same directory. Derived from the stored hash, never from the password.
    /// </summary>
    public string CredentialFingerprint { get; } =
        Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(PasswordHash)), 0, 12);

    /// <summary>The user's TOTP secret as stored (encrypted, <see cref="SecretProtector"/>), or null when not enrolled.</summary>
    public string? TotpSecret { get; init; }

    public bool IsPermittedFor(string tenant) => Global || Tenants.Contains(tenant);

    // The generated record ToString would print the hash into any log line that formats a user.
    public override string ToString() =>
        Global ? $"SupportUser {{ Name = {Name}, Global = true }}" : $"SupportUser {{ Name = {Name}, Tenants = [{string.Join(", ", Tenants.Order(StringComparer.Ordinal))}] }}";
}

/// <summary>Where the support-user directory comes from: a file in the configuration directory.</summary>
/// <param name="RefuseDemoPasswords">Production: the demo support users' password hashes shipped with the gateway are errors.</param>
internal sealed record SupportDirectorySource(string Directory, string FileName = SupportDirectorySource.DefaultFileName, bool RefuseDemoPasswords = false)
{
    public const string DefaultFileName = "support-users.json";

    public string FilePath => Path.Combine(Directory, FileName);
}

/// <summary>
/// The embedded support-user directory: <c>support-users.json</c> in the configuration directory,
/// validated strictly and hot-reloaded. A change is applied only when the whole new file is valid;
/// a malformed, half-written or locking-everyone-out edit is logged and the last good directory
/// stays in force. Lookups are lock-free reads of an immutable snapshot.
/// </summary>
internal sealed partial class SupportUserDirectory : IDisposable
{
    /// <summary>Editors write files in several steps; a burst of notifications within this time is one reload.</summary>
    public static readonly TimeSpan ReloadDebounce = TimeSpan.FromMilliseconds(250);

    private readonly SupportDirectorySource _source;
    private readonly ILogger<SupportUserDirectory> _logger;
    private readonly HotReloadedFile<Snapshot> _file;

    public SupportUserDirectory(SupportDirectorySource source, TimeProvider time, ILogger<SupportUserDirectory> logger)
    {
        _source = source;
        _logger = logger;
        _file = new HotReloadedFile<Snapshot>(source.Directory, source.FileName, ReloadDebounce, time, LoadAsync, logger);
        _file.Applied += OnApplied;
        _file.Rejected += OnRejected;
    }

    /// <summary>Raised with the new generation after a changed file was validated and applied.</summary>
    public event Action<long>? Applied;

    /// <summary>Raised with the errors after a changed file was rejected; the previous generation stays in force.</summary>
    public event Action<IReadOnlyList<string>>? Rejected;

    /// <summary>Starts at 1 when loaded; bumps on every applied reload.</summary>
    public long Generation => Current.Generation;

    /// <summary>The users of the generation in force.</summary>
    public IReadOnlyCollection<SupportUser> Users => Current.Users.Values;

    /// <summary>The errors of the last rejected reload, until a later reload succeeds (for health checks).</summary>
    public IReadOnlyList<string>? LastRejection => _file.LastRejection;

    public string FilePath => _source.FilePath;

    private Snapshot Current => _file.Current;

    /// <summary>Loads the directory once at start-up. Throws <see cref="GatewayConfigurationException"/> naming the bad keys.</summary>
    public async Task InitializeAsync()
    {
        var snapshot = await _file.InitializeAsync();
        LogLoaded(_logger, snapshot.Generation, snapshot.Users.Count, snapshot.Users.Values.Count(u => u.Global), snapshot.GroupCount, FilePath);
    }

    /// <summary>Finds a support user by name, case-insensitively; <paramref name="user"/> carries the canonical name.</summary>
    public bool TryFind(string supportUserName, [NotNullWhen(true)] out SupportUser? user) =>
        Current.Users.TryGetValue(supportUserName, out user);

    /// <summary>As <see cref="TryFind(string, out SupportUser?)"/>, with the generation the answer came from (one consistent snapshot).</summary>
    public bool TryFind(string supportUserName, [NotNullWhen(true)] out SupportUser? user, out long generation)
    {
        var snapshot = Current;
        generation = snapshot.Generation;
        return snapshot.Users.TryGetValue(supportUserName, out user);
    }

    /// <summary>Re-reads the file now. Never throws: a bad file is logged and reported through <see cref="Rejected"/>.</summary>
    public Task ReloadAsync() => _file.ReloadAsync();

    public void Dispose() => _file.Dispose();

    private async Task<FileLoad<Snapshot>> LoadAsync(Snapshot? previous)
    {
        var (users, groupCount, errors) = await ReadAsync();
        return errors.Count > 0
            ? FileLoad<Snapshot>.Bad(errors)
            : FileLoad<Snapshot>.Good(new Snapshot((previous?.Generation ?? 0) + 1, users.ToFrozenDictionary(u => u.Name, StringComparer.OrdinalIgnoreCase), groupCount));
    }

    private void OnApplied(Snapshot previous, Snapshot next)
    {
        LogLoaded(_logger, next.Generation, next.Users.Count, next.Users.Values.Count(u => u.Global), next.GroupCount, FilePath);
        LogChanges(previous, next);
        Applied?.Invoke(next.Generation);
    }

    private void OnRejected(IReadOnlyList<string> errors)
    {
        LogRejected(_logger, Current.Generation, FilePath, errors.Count, string.Join(Environment.NewLine, errors));
        Rejected?.Invoke(errors);
    }

    private async Task<(IReadOnlyList<SupportUser> Users, int GroupCount, IReadOnlyList<string> Errors)> ReadAsync()
    {
        var fileName = _source.FileName;
        try
        {
            // Share with writers and renames: an editor saving mid-read yields a parse error, retried on the next change.
            await using var stream = new FileStream(FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 4096, useAsync: true);
            using var document = await JsonDocument.ParseAsync(stream, SupportUserDirectoryParser.JsonOptions);
            var errors = new List<string>();
            var (users, groupCount) = SupportUserDirectoryParser.Parse(document.RootElement, errors);
            if (_source.RefuseDemoPasswords)
            {
                errors.AddRange(users.Where(u => DemoMaterial.IsDemoPasswordHash(u.PasswordHash)).Select(u =>
                    $"{fileName}: SupportUsers:Users:{u.Name}:PasswordHash: the demo password shipped with the gateway is refused in a configuration marked Gateway:Production; set a new one with 'hash-password'."));
            }

            return (users, groupCount, errors);
        }
        catch (JsonException ex)
        {
            // Position only: the parser's own message may quote file content, which could be a secret.
            return ([], 0, [$"{fileName}: not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}); the support-user directory must be a complete JSON document."]);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return ([], 0, [$"{fileName}: not found at '{FilePath}'; the support-user directory is required."]);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ([], 0, [$"{fileName}: cannot be read: {ex.Message}"]);
        }
    }

    private void LogChanges(Snapshot previous, Snapshot next)
    {
        var added = next.Users.Keys.Where(n => !previous.Users.ContainsKey(n)).Order(StringComparer.OrdinalIgnoreCase).ToList();
        var removed = previous.Users.Keys.Where(n => !next.Users.ContainsKey(n)).Order(StringComparer.OrdinalIgnoreCase).ToList();
        var changed = next.Users.Values
            .Where(u => previous.Users.TryGetValue(u.Name, out var old) && !SameCredentialsAndPermissions(old, u))
            .Select(u => u.Name)
            .Order(StringComparer.OrdinalIgnoreCase)
            .ToList();
        LogUserChanges(_logger, next.Generation, Names(added), Names(removed), Names(changed));

        static string Names(List<string> names) => names.Count == 0 ? "none" : string.Join(", ", names);
    }

    private static bool SameCredentialsAndPermissions(SupportUser a, SupportUser b) =>
        string.Equals(a.Name, b.Name, StringComparison.Ordinal)
        && string.Equals(a.PasswordHash, b.PasswordHash, StringComparison.Ordinal)
        && a.Global == b.Global
        && a.Tenants.SetEquals(b.Tenants)
        && string.Equals(a.TotpSecret, b.TotpSecret, StringComparison.Ordinal);

    private sealed record Snapshot(long Generation, FrozenDictionary<string, SupportUser> Users, int GroupCount);

    [LoggerMessage(EventId = 1500, Level = LogLevel.Information,
        Message = "Support-user directory generation {Generation} in force: {UserCount} users ({GlobalCount} global), {GroupCount} tenant groups, from {DirectoryPath}")]
    private static partial void LogLoaded(ILogger logger, long generation, int userCount, int globalCount, int groupCount, string directoryPath);

    [LoggerMessage(EventId = 1501, Level = LogLevel.Error,
        Message = "Support-user directory change in {DirectoryPath} rejected; generation {Generation} stays in force. {ErrorCount} error(s):\n{Errors}")]
    private static partial void LogRejected(ILogger logger, long generation, string directoryPath, int errorCount, string errors);

    [LoggerMessage(EventId = 1503, Level = LogLevel.Information,
        Message = "Support-user directory generation {Generation}: added {Added}; removed {Removed}; password, permissions or MFA changed {Changed}")]
    private static partial void LogUserChanges(ILogger logger, long generation, string added, string removed, string changed);
}

/// <summary>
/// Reads the directory document strictly, collecting every error with the key it concerns
/// (<c>SupportUsers:Users:sam:PasswordHash</c>), so an operator fixes a file in one pass.
/// Messages never quote a password-hash value: a mistaken entry may be a plain-text password.
/// </summary>
internal static partial class SupportUserDirectoryParser
{
    public const int MinIterations = 100_000;

    // An absurd count would make every login of that user (and, through the dummy hash, every unknown name) a CPU sink.
    public const int MaxIterations = 10_000_000;

    public static readonly JsonDocumentOptions JsonOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 16 };

    private const string Root = "SupportUsers";
    private const string UsersPath = Root + ":Users";
    private const string GroupsPath = Root + ":TenantGroups";

    public static (IReadOnlyList<SupportUser> Users, int GroupCount) Parse(JsonElement document, List<string> errors)
    {
        if (document.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{Root}: the file must be a JSON object with a '{Root}' section.");
            return ([], 0);
        }

        var top = ReadObject(document, "", errors, Root);
        if (!top.TryGetValue(Root, out var section))
        {
            errors.Add($"{Root}: required.");
            return ([], 0);
        }

        if (section.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{Root}: an object with 'Users' and 'TenantGroups' expected.");
            return ([], 0);
        }

        var parts = ReadObject(section, Root, errors, "Users", "TenantGroups");
        var (groups, invalidGroups) = ReadGroups(parts.GetValueOrDefault("TenantGroups"), errors);
        var users = ReadUsers(parts.TryGetValue("Users", out var usersElement) ? usersElement : null, groups, invalidGroups, errors);
        return (users, groups.Count);
    }

    private static (Dictionary<string, FrozenSet<string>> Groups, HashSet<string> Invalid) ReadGroups(JsonElement element, List<string> errors)
    {
        var groups = new Dictionary<string, FrozenSet<string>>(StringComparer.OrdinalIgnoreCase);
        var invalid = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (element.ValueKind == JsonValueKind.Undefined)
        {
            return (groups, invalid);
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{GroupsPath}: an object of group name → tenant ids expected.");
            return (groups, invalid);
        }

        foreach (var property in element.EnumerateObject())
        {
            var name = property.Name;
            var path = $"{GroupsPath}:{Printable(name)}";
            if (groups.ContainsKey(name) || invalid.Contains(name))
            {
                errors.Add($"{path}: given more than once (group names are case-insensitive).");
                continue;
            }

            var errorCount = errors.Count;
            if (!GroupNamePattern().IsMatch(name))
            {
                errors.Add($"{path}: a group name is 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
            }

            var tenants = new HashSet<string>(StringComparer.Ordinal);
            if (property.Value.ValueKind != JsonValueKind.Array)
            {
                errors.Add($"{path}: a list of tenant ids expected.");
            }
            else
            {
                var index = 0;
                foreach (var tenant in property.Value.EnumerateArray())
                {
                    if (tenant.ValueKind != JsonValueKind.String || tenant.GetString() is not { } id || !TenantId.IsValid(id))
                    {
                        errors.Add($"{path}:{index}: a tenant id ({TenantId.Rule}) expected.");
                    }
                    else
                    {
                        tenants.Add(id);
                    }

                    index++;
                }

                if (index == 0)
                {
                    errors.Add($"{path}: empty; a tenant group holds at least one tenant.");
                }
            }

            if (errors.Count == errorCount)
            {
                groups.Add(name, tenants.ToFrozenSet(StringComparer.Ordinal));
            }
            else
            {
                invalid.Add(name);
            }
        }

        return (groups, invalid);
    }

    private static List<SupportUser> ReadUsers(JsonElement? element, Dictionary<string, FrozenSet<string>> groups, HashSet<string> invalidGroups, List<string> errors)
    {
        var users = new List<SupportUser>();
        if (element is not { } usersElement)
        {
            errors.Add($"{UsersPath}: required.");
            return users;
        }

        if (usersElement.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{UsersPath}: an object of support user name → user expected.");
            return users;
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in usersElement.EnumerateObject())
        {
            var name = property.Name;
            var path = $"{UsersPath}:{Printable(name)}";
            if (!seen.Add(name))
            {
                errors.Add($"{path}: given more than once (support user names are case-insensitive).");
                continue;
            }

            var errorCount = errors.Count;
            ValidateName(name, path, errors);
            if (property.Value.ValueKind != JsonValueKind.Object)
            {
                errors.Add($"{path}: an object with PasswordHash and Global or TenantGroups expected.");
                continue;
            }

            var fields = ReadObject(property.Value, path, errors, "PasswordHash", "Global", "TenantGroups", "Mfa");
            var hash = ReadPasswordHash(fields.GetValueOrDefault("PasswordHash"), $"{path}:PasswordHash", errors);

            var permissionErrors = errors.Count;
            var global = false;
            if (fields.TryGetValue("Global", out var globalElement))
            {
                if (globalElement.ValueKind is JsonValueKind.True or JsonValueKind.False)
                {
                    global = globalElement.GetBoolean();
                }
                else
                {
                    errors.Add($"{path}:Global: true or false expected.");
                }
            }

            var tenants = new HashSet<string>(StringComparer.Ordinal);
            var groupCount = 0;
            if (fields.TryGetValue("TenantGroups", out var groupsElement))
            {
                if (groupsElement.ValueKind != JsonValueKind.Array)
                {
                    errors.Add($"{path}:TenantGroups: a list of tenant group names expected.");
                }
                else
                {
                    var index = 0;
                    foreach (var group in groupsElement.EnumerateArray())
                    {
                        var groupName = group.ValueKind == JsonValueKind.String ? group.GetString() : null;
                        if (groupName is null)
                        {
                            errors.Add($"{path}:TenantGroups:{index}: a tenant group name expected.");
                        }
                        else if (groups.TryGetValue(groupName, out var members))
                        {
                            tenants.UnionWith(members);
                            groupCount++;
                        }
                        else if (invalidGroups.Contains(groupName))
                        {
                            groupCount++; // already reported under SupportUsers:TenantGroups
                        }
                        else
                        {
                            errors.Add($"{path}:TenantGroups:{index}: no tenant group '{Printable(groupName)}' in {GroupsPath}.");
                        }

                        index++;
                    }
                }
            }

            if (!global && groupCount == 0 && errors.Count == permissionErrors)
            {
                errors.Add($"{path}: neither Global nor any TenantGroups; the user could support no tenant.");
            }

            var totpSecret = fields.TryGetValue("Mfa", out var mfaElement) ? ReadMfa(mfaElement, $"{path}:Mfa", errors) : null;

            if (errors.Count == errorCount && hash is not null)
            {
                users.Add(new SupportUser(name, hash, global, global ? FrozenSet<string>.Empty : tenants.ToFrozenSet(StringComparer.Ordinal)) { TotpSecret = totpSecret });
            }
        }

        if (seen.Count == 0)
        {
            errors.Add($"{UsersPath}: no support users; an empty directory would lock every support user out.");
        }

        return users;
    }

    private static void ValidateName(string name, string path, List<string> errors)
    {
        if (name.Contains('$', StringComparison.Ordinal) || name.Contains('/', StringComparison.Ordinal))
        {
            errors.Add($"{path}: a support user name must not contain '$' or '/' (they separate the parts of a support login).");
        }
        else if (!UserNamePattern().IsMatch(name))
        {
            errors.Add($"{path}: a support user name is 1–64 letters, digits, '.', '_', '@', '+' or '-'.");
        }
        else if (!name.IsNormalized(NormalizationForm.FormKC))
        {
            // Login names are NFKC-normalised before lookup, so this name could never match.
            errors.Add($"{path}: not in Unicode NFKC form; write it as {Printable(name.Normalize(NormalizationForm.FormKC))}.");
        }
    }

    /// <summary><c>"Mfa": { "TotpSecret": "v1...." }</c>, as written by <c>mfa enroll</c>; never a plain-text secret.</summary>
    private static string? ReadMfa(JsonElement element, string path, List<string> errors)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{path}: an object with TotpSecret expected (written by 'Gateway mfa enroll').");
            return null;
        }

        var fields = ReadObject(element, path, errors, "TotpSecret");
        if (!fields.TryGetValue("TotpSecret", out var secret))
        {
            errors.Add($"{path}:TotpSecret: required (written by 'Gateway mfa enroll').");
            return null;
        }

        if (secret.ValueKind != JsonValueKind.String || secret.GetString() is not { } value || !SecretProtector.LooksProtected(value))
        {
            errors.Add($"{path}:TotpSecret: not an encrypted secret ({SecretProtector.Prefix}...); enrol with 'Gateway mfa enroll', plain-text secrets are refused.");
            return null;
        }

        return value;
    }

    private static string? ReadPasswordHash(JsonElement element, string path, List<string> errors)
    {
        if (element.ValueKind == JsonValueKind.Undefined)
        {
            errors.Add($"{path}: required (a PBKDF2 hash printed by 'Gateway hash-password').");
            return null;
        }

        if (element.ValueKind != JsonValueKind.String || element.GetString() is not { } hash
            || !PasswordHasher.TryParse(hash, out var iterations, out _, out _))
        {
            errors.Add($"{path}: not a password hash of the form {PasswordHasher.Scheme}$ITERATIONS$SALT$HASH (print one with 'Gateway hash-password'); plain-text passwords are refused.");
            return null;
        }

        if (iterations is < MinIterations or > MaxIterations)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture,
                $"{path}: {iterations} PBKDF2 iterations; from {MinIterations} to {MaxIterations} required (the default is {PasswordHasher.DefaultIterations})."));
            return null;
        }

        return hash;
    }

    /// <summary>The known properties of an object (case-insensitive, as configuration keys are); unknown or repeated keys are errors.</summary>
    private static Dictionary<string, JsonElement> ReadObject(JsonElement element, string path, List<string> errors, params string[] known)
    {
        var found = new Dictionary<string, JsonElement>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in element.EnumerateObject())
        {
            var key = path.Length == 0 ? Printable(property.Name) : $"{path}:{Printable(property.Name)}";
            var canonical = known.FirstOrDefault(k => string.Equals(k, property.Name, StringComparison.OrdinalIgnoreCase));
            if (canonical is null)
            {
                errors.Add($"{key}: unknown setting (known: {string.Join(", ", known)}).");
            }
            else if (!found.TryAdd(canonical, property.Value))
            {
                errors.Add($"{key}: given more than once.");
            }
        }

        return found;
    }

    /// <summary>Names go into error messages and logs; control characters are escaped so a name cannot forge log lines.</summary>
    private static string Printable(string text)
    {
        if (!text.Any(char.IsControl))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            builder.Append(char.IsControl(c) ? string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}") : c.ToString());
        }

        return builder.ToString();
    }

    // \z, not $: "$" also matches before a final newline.
    [GeneratedRegex(@"^[\p{L}\p{N}._@+-]{1,64}\z")]
    private static partial Regex UserNamePattern();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex GroupNamePattern();
}
