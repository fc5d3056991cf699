using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gateway.Authentication;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Cli;

/// <summary><c>init</c> writes real files into a temporary directory; these tests read them back.</summary>
[UnsupportedOSPlatform("windows")]
public sealed partial class InitCommandTests : IDisposable
{
    private const string DemoIssuerKey = "d9pAQ+FVCxw0l7LdHJw9yKsyBtvOc2FaQJoBgH+WNHY=";
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private static readonly string[] Layout =
    [
        ".env",
        "config/gateway.json",
        "config/routes.json",
        "config/support-users.json",
        "secrets/Audit__Elasticsearch__Password",
        "secrets/Audit__Integrity__SigningKeyPem",
        "secrets/Redis__Configuration",
        "secrets/Secrets__EncryptionKey",
        "secrets/Support__SigningKeyPem",
    ];

    private readonly string _root = Directory.CreateTempSubdirectory("gateway-init-").FullName;

    private string Out => Path.Combine(_root, "deploy");

    [Fact]
    public async Task Init_WritesExactlyTheDeploymentLayout_OwnerOnly()
    {
        var result = await CliRunner.RunAsync("init", "--out", Out);

        Assert.Equal(0, result.Exit);
        Assert.Empty(result.Error);
        var files = Directory.EnumerateFiles(Out, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Out, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);
        Assert.Equal(Layout, files);
        var directories = Directory.EnumerateDirectories(Out, "*", SearchOption.AllDirectories).Select(d => Path.GetRelativePath(Out, d)).Order(StringComparer.Ordinal);
        Assert.Equal(["config", "secrets"], directories);

        Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(Out));
        Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(Path.Combine(Out, "config")));
        Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(Path.Combine(Out, "secrets")));
        Assert.All(Layout, file => Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(Path.Combine(Out, file))));
    }

    [Fact]
    public async Task Init_AnExistingEmptyDirectory_IsUsedAndMadeOwnerOnly()
    {
        Directory.CreateDirectory(Out);
        File.SetUnixFileMode(Out, OwnerOnlyDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

        var result = await CliRunner.RunAsync("init", "--out", Out);

        Assert.Equal(0, result.Exit);
        Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(Out));
        Assert.True(File.Exists(Path.Combine(Out, "config", "gateway.json")));
    }

    [Fact]
    public async Task Init_ANonEmptyDirectory_IsRefusedAndLeftUntouched()
    {
        Directory.CreateDirectory(Path.Combine(Out, "config"));
        var existing = Path.Combine(Out, "config", "gateway.json");
        File.WriteAllText(existing, "{ \"mine\": true }");
        var before = File.GetLastWriteTimeUtc(existing);

        var result = await CliRunner.RunAsync("init", "--out", Out);

        Assert.Equal(1, result.Exit);
        Assert.Empty(result.Output);
        Assert.Contains("not an empty directory", result.Error, StringComparison.Ordinal);
        Assert.Single(result.ErrorLines);
        Assert.Equal("{ \"mine\": true }", File.ReadAllText(existing));
        Assert.Equal(before, File.GetLastWriteTimeUtc(existing));
        Assert.Equal([existing], Directory.EnumerateFiles(Out, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Init_AFileInThePlaceOfTheDirectory_IsRefused()
    {
        File.WriteAllText(Out, "not a directory");

        var result = await CliRunner.RunAsync("init", "--out", Out);

        Assert.Equal(1, result.Exit);
        Assert.Equal("not a directory", File.ReadAllText(Out));
    }

    [Fact]
    public async Task Init_PasswordFromStandardInput_IsTheOneThatVerifies_AndIsNeverPrinted()
    {
        const string password = "correct horse battery staple";

        var result = await CliRunner.RunAsync(new StringReader(password + "\nsecond line is ignored\n"), "init", "--out", Out, "--admin", "olga");

        Assert.Equal(0, result.Exit);
        var admin = SupportUser(Out, "olga");
        Assert.True(admin["Global"]!.GetValue<bool>());
        var hash = admin["PasswordHash"]!.GetValue<string>();
        Assert.True(PasswordHasher.Verify(password, hash));
        Assert.False(PasswordHasher.Verify("second line is ignored", hash));
        Assert.DoesNotContain(password, result.Output, StringComparison.Ordinal);
        Assert.Contains("read from standard input", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_AShortPasswordOnStandardInput_IsRefusedBeforeAnythingIsWritten()
    {
        var result = await CliRunner.RunAsync(new StringReader("short\n"), "init", "--out", Out);

        Assert.Equal(2, result.Exit);
        Assert.False(Path.Exists(Out));
    }

    [Fact]
    public async Task Init_WithoutAPassword_GeneratesOne_PrintsItOnce_AndItVerifies()
    {
        var result = await CliRunner.RunAsync(TextReader.Null, "init", "--out", Out);

        Assert.Equal(0, result.Exit);
        var match = GeneratedPasswordLine().Match(result.Output);
        Assert.True(match.Success, result.Output);
        var password = match.Groups[1].Value;
        Assert.True(password.Length >= 20);
        Assert.Matches("^[A-Za-z0-9]+$", password);
        Assert.Single(Regex.Matches(result.Output, Regex.Escape(password)));
        Assert.Contains("will not be shown again", result.Output, StringComparison.Ordinal);
        Assert.True(PasswordHasher.Verify(password, SupportUser(Out, "admin")["PasswordHash"]!.GetValue<string>()));
        Assert.All(Layout, file => Assert.DoesNotContain(password, File.ReadAllText(Path.Combine(Out, file)), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Init_TwoRuns_WriteDifferentKeysAndPasswords()
    {
        var second = Path.Combine(_root, "second");
        Assert.Equal(0, (await CliRunner.RunAsync("init", "--out", Out)).Exit);
        Assert.Equal(0, (await CliRunner.RunAsync("init", "--out", second)).Exit);

        foreach (var secret in Layout.Where(f => f.StartsWith("secrets/", StringComparison.Ordinal)))
        {
            Assert.NotEqual(File.ReadAllText(Path.Combine(Out, secret)), File.ReadAllText(Path.Combine(second, secret)));
        }

        var first = DotEnv(Out);
        var other = DotEnv(second);
        foreach (var key in first.Keys.Where(k => k.EndsWith("_PASSWORD", StringComparison.Ordinal)))
        {
            Assert.NotEqual(first[key], other[key]);
        }
    }

    [Fact]
    public async Task Init_KeysArePemP256_AndTheEnvFileAgreesWithTheSecrets()
    {
        Assert.Equal(0, (await CliRunner.RunAsync("init", "--out", Out)).Exit);

        foreach (var name in new[] { "Support__SigningKeyPem", "Audit__Integrity__SigningKeyPem" })
        {
            using var key = ECDsa.Create();
            key.ImportFromPem(Secret(Out, name));
            Assert.Equal(256, key.KeySize);
            Assert.Equal("1.2.840.10045.3.1.7", key.ExportParameters(includePrivateParameters: true).Curve.Oid.Value); // NIST P-256
        }

        Assert.Equal(32, Convert.FromBase64String(Secret(Out, "Secrets__EncryptionKey")).Length);

        var env = DotEnv(Out);
        Assert.Equal(["REDIS_PASSWORD", "ELASTIC_PASSWORD", "KIBANA_PASSWORD", "GATEWAY_ES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "GATEWAY_DEPLOY_DIR"], env.Keys);
        foreach (var (key, value) in env.Where(e => e.Key.EndsWith("_PASSWORD", StringComparison.Ordinal)))
        {
            Assert.Matches("^[A-Za-z0-9]{24,}$", value);
        }

        Assert.Equal(5, env.Where(e => e.Key.EndsWith("_PASSWORD", StringComparison.Ordinal)).Select(e => e.Value).Distinct().Count());
        Assert.Equal(Out, env["GATEWAY_DEPLOY_DIR"]);
        Assert.Equal($"redis:6379,password={env["REDIS_PASSWORD"]},abortConnect=false", Secret(Out, "Redis__Configuration"));
        Assert.Equal(env["GATEWAY_ES_PASSWORD"], Secret(Out, "Audit__Elasticsearch__Password"));
    }

    [Fact]
    public async Task Init_GatewayJson_IsAProductionSkeletonWithoutSecrets()
    {
        Assert.Equal(0, (await CliRunner.RunAsync("init", "--out", Out)).Exit);

        var text = File.ReadAllText(Path.Combine(Out, "config", "gateway.json"));
        var settings = JsonNode.Parse(text)!;
        Assert.Equal("http://+:8080", settings["Urls"]!.GetValue<string>());
        Assert.True(settings["Gateway"]!["Production"]!.GetValue<bool>());
        Assert.False(settings["Gateway"]!["Demo"]!["HostSampleApps"]!.GetValue<bool>());
        Assert.Equal(["example.invalid"], settings["Gateway"]!["Tenants"]!["example"]!["Hosts"]!.AsArray().Select(h => h!.GetValue<string>()));
        var issuer = settings["Management"]!["Issuers"]!.AsObject().Single();
        Assert.Equal("main", issuer.Key);
        Assert.Equal(["Issuer", "Audience"], issuer.Value!.AsObject().Select(p => p.Key));
        Assert.Null(settings["Redis"]!["Configuration"]);
        Assert.Equal("https://elasticsearch:9200", settings["Audit"]!["Elasticsearch"]!["Url"]!.GetValue<string>());
        Assert.Equal("gateway_audit", settings["Audit"]!["Elasticsearch"]!["Username"]!.GetValue<string>());
        Assert.Null(settings["Audit"]!["Elasticsearch"]!["Password"]);
        Assert.Null(settings["Support"]);

        foreach (var secret in Layout.Where(f => f.StartsWith("secrets/", StringComparison.Ordinal)))
        {
            Assert.DoesNotContain(File.ReadAllText(Path.Combine(Out, secret)).Trim(), text, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_WritesNothingFromTheDemoConfiguration()
    {
        Assert.Equal(0, (await CliRunner.RunAsync("init", "--out", Out)).Exit);

        using var demoUsers = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.ConfigDir, "support-users.json")));
        var demoHashes = demoUsers.RootElement.GetProperty("SupportUsers").GetProperty("Users").EnumerateObject()
            .Select(u => u.Value.GetProperty("PasswordHash").GetString()!)
            .ToList();
        Assert.NotEmpty(demoHashes);
        Assert.Contains(DemoIssuerKey, File.ReadAllText(Path.Combine(RepoPaths.ConfigDir, "gateway.json")), StringComparison.Ordinal);

        string[] demo = [DemoIssuerKey, .. demoHashes, "demo-issuer", "acme.localhost", "globex.localhost", "jill", "127.0.0.1:510"];
        foreach (var file in Layout)
        {
            var content = File.ReadAllText(Path.Combine(Out, file));
            Assert.All(demo, d => Assert.DoesNotContain(d, content, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Init_ConfigDirectory_PassesConfigCheck_WithTheSecretsAndAnIssuerKey()
    {
        Assert.Equal(0, (await CliRunner.RunAsync("init", "--out", Out, "--tenant", "acme-prod", "--host", "support.acme.example", "--host", "acme.example")).Exit);
        var configDir = Path.Combine(Out, "config");

        // As written, the directory names what the operator still has to supply.
        var bare = await CliRunner.RunAsync("config", "check", "--config-dir", configDir);
        Assert.Equal(2, bare.Exit);
        Assert.Contains("Management:Issuers:main", bare.Error, StringComparison.Ordinal);
        Assert.Contains("Support:SigningKeyPem", bare.Error, StringComparison.Ordinal);
        Assert.Contains("Audit:Elasticsearch:Password", bare.Error, StringComparison.Ordinal);

        // The secrets directory as key-per-file configuration ("Section__Key" is "Section:Key"),
        // given on the command line (GATEWAY_SECRETS_DIR is process-wide; tests run in parallel).
        var secrets = Directory.EnumerateFiles(Path.Combine(Out, "secrets"))
            .Select(f => $"--{Path.GetFileName(f).Replace("__", ":", StringComparison.Ordinal)}={File.ReadAllText(f)}");
        using var issuerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var check = await CliRunner.RunAsync(
        [
            "config", "check", "--config-dir", configDir,
            .. secrets,
            $"--Management:Issuers:main:PublicKeyPem={issuerKey.ExportSubjectPublicKeyInfoPem()}",
        ]);

        Assert.True(check.Exit == 0, check.Error);
        Assert.Equal("configuration OK: 2 routes, 1 clusters, 1 support users", check.Output.Trim());
        var settings = JsonNode.Parse(File.ReadAllText(Path.Combine(configDir, "gateway.json")))!;
        Assert.Equal(["support.acme.example", "acme.example"], settings["Gateway"]!["Tenants"]!["acme-prod"]!["Hosts"]!.AsArray().Select(h => h!.GetValue<string>()));
    }

    [Theory]
    [InlineData("--tenant", "acme")]
    [InlineData("--host", "acme.example")]
    [InlineData("--tenant", "Acme!", "--host", "acme.example")]
    [InlineData("--tenant", "acme", "--host", "http://acme.example/")]
    [InlineData("--admin", "jill$")]
    [InlineData("--admin", "")]
    public async Task Init_BadArguments_Exit2AndWriteNothing(params string[] args)
    {
        var result = await CliRunner.RunAsync(["init", "--out", Out, .. args]);

        Assert.Equal(2, result.Exit);
        Assert.StartsWith("init: ", result.ErrorLines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        Assert.False(Path.Exists(Out));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static JsonNode SupportUser(string directory, string name) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "config", "support-users.json")))!["SupportUsers"]!["Users"]![name]!;

    private static string Secret(string directory, string name) => File.ReadAllText(Path.Combine(directory, "secrets", name));

    private static Dictionary<string, string> DotEnv(string directory) => File.ReadAllLines(Path.Combine(directory, ".env"))
        .Where(l => l.Length > 0 && !l.StartsWith('#'))
        .Select(l => l.Split('=', 2))
        .ToDictionary(p => p[0], p => p[1]);

    [GeneratedRegex(@"Password of support admin 'admin': (\S+)")]
    private static partial Regex GeneratedPasswordLine();
}
