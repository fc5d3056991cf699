using System.Security.Cryptography;
using System.Text.Json;
using Gateway.Hosting;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Hosting;

/// <summary>Committed keys and passwords never protect anything reachable: refused in production, loopback-only otherwise.</summary>
public sealed class DemoMaterialTests : IDisposable
{
    private readonly TempConfigDirectory _config = new();

    public void Dispose() => _config.Dispose();

    [Fact]
    public void DemoPasswordHashes_AreExactlyThoseOfTheShippedDirectory()
    {
        using var shipped = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.ConfigDir, "support-users.json")));
        var hashes = shipped.RootElement.GetProperty("SupportUsers").GetProperty("Users").EnumerateObject()
            .Select(u => u.Value.GetProperty("PasswordHash").GetString()!).Order(StringComparer.Ordinal);

        Assert.Equal(hashes, DemoMaterial.PasswordHashes.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("http://0.0.0.0:0")]
    [InlineData("http://[::]:0")]
    [InlineData("http://+:0")]
    public async Task DemoConfiguration_ListeningBeyondLoopback_IsRefused_PointingToInit(string url)
    {
        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(() => StartAsync("--urls", url));

        var line = Assert.Single(error.Errors);
        Assert.StartsWith($"Urls: '{url}' is reachable beyond this machine", line, StringComparison.Ordinal);
        Assert.Contains("Management:Issuers:demo:SigningKey", line, StringComparison.Ordinal);
        Assert.Contains("SupportUsers:Users:jill:PasswordHash", line, StringComparison.Ordinal);
        Assert.Contains("Support:SigningKeyPem", line, StringComparison.Ordinal);
        Assert.Contains("Audit:Integrity:SigningKeyPem", line, StringComparison.Ordinal);
        Assert.Contains(" init --out ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DemoConfiguration_OnLoopback_Starts()
    {
        await using var gateway = await StartAsync("--urls", "http://127.0.0.1:0");

        Assert.NotEqual(0, gateway.Port);
    }

    [Fact]
    public async Task DemoContainerSwitch_AllowsNonLoopback_ButNeverInProduction()
    {
        await using (var gateway = await StartAsync("--urls", "http://0.0.0.0:0", "--Gateway:Demo:AllowNonLoopback=true"))
        {
            Assert.NotEqual(0, gateway.Port);
        }

        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(() => StartAsync("--Gateway:Production=true", "--Gateway:Demo:AllowNonLoopback=true"));
        Assert.Contains(error.Errors, e => e.StartsWith("Gateway:Demo:AllowNonLoopback:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Production_RefusesTheDemoSupportPasswords_AndAnInMemoryStoreNotDeclaredSingleInstance()
    {
        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(() => StartAsync(ProductionArgs()));

        Assert.Contains(error.Errors, e => e.StartsWith("support-users.json: SupportUsers:Users:jill:PasswordHash: the demo password", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.StartsWith("support-users.json: SupportUsers:Users:sam:PasswordHash: the demo password", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.StartsWith("Redis:Configuration: empty, so grants would live in this process only", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Production_WithFreshPasswordsAndADeclaredSingleInstanceStore_Starts()
    {
        _config.WriteSupportUsers(("ops-admin", "a-fresh-password-for-this-test"));

        await using var gateway = await StartAsync([.. ProductionArgs(), "--Grants:SingleInstanceInMemoryStore=true"]);

        Assert.NotEqual(0, gateway.Port);
    }

    private static string[] ProductionArgs()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var auditKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return
        [
            "--Gateway:Production=true",
            $"--Support:SigningKeyPem={key.ExportPkcs8PrivateKeyPem()}",
            $"--Secrets:EncryptionKey={Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}",
            $"--Audit:Integrity:SigningKeyPem={auditKey.ExportPkcs8PrivateKeyPem()}",
            "--Management:Issuers:demo:SigningKey=",
            "--Management:Issuers:demo:KeyId=",
            "--Management:Issuers:demo:Issuer=https://login.example.com/realms/ops",
            "--Management:Issuers:demo:Authority=https://login.example.com/realms/ops",
        ];
    }

    private Task<GatewayHost> StartAsync(params string[] args) => GatewayHost.StartAsync(_config, new Dictionary<string, Uri>(), args);
}
