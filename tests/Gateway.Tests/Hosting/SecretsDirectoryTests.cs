using System.Security.Cryptography;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Tests.Hosting;

/// <summary>Secrets come from a mounted directory of key-per-file secrets (GATEWAY_SECRETS_DIR), never from the settings file.</summary>
public sealed class SecretsDirectoryTests : IDisposable
{
    private readonly TempConfigDirectory _config = new();
    private readonly string _secrets = Directory.CreateTempSubdirectory("gateway-secrets-").FullName;

    public void Dispose()
    {
        _config.Dispose();
        Directory.Delete(_secrets, recursive: true);
    }

    [Fact]
    public async Task SigningKey_FromTheSecretsDirectory_IsTheOneTheJwksPublishes()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(Path.Combine(_secrets, "Support__SigningKeyPem"), key.ExportPkcs8PrivateKeyPem() + "\n");
        using var auditKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(Path.Combine(_secrets, "Audit__Integrity__SigningKeyPem"), auditKey.ExportPkcs8PrivateKeyPem() + "\n");

        await using var gateway = GatewayProcess.Start(
            ["--config-dir", _config.Path, "--urls", "http://127.0.0.1:0", "--Gateway:Demo:HostSampleApps=false", $"--Audit:SpoolDirectory={Path.Combine(_config.LogDirectory, "spool")}"],
            new Dictionary<string, string> { ["GATEWAY_SECRETS_DIR"] = _secrets });
        var address = await gateway.ListeningAsync();
        using var client = LoopbackHttp.Client(address.Port, "localhost");

        using var jwks = JsonDocument.Parse(await client.GetStringAsync("/_gateway/.well-known/jwks.json"));

        var published = jwks.RootElement.GetProperty("keys")[0].GetProperty("x").GetString();
        Assert.Equal(Base64UrlEncoder.Encode(key.ExportParameters(false).Q.X), published);
        Assert.Equal(Base64UrlEncoder.Encode(auditKey.ExportParameters(false).Q.X), jwks.RootElement.GetProperty("keys")[1].GetProperty("x").GetString());
        Assert.DoesNotContain("generated at start", gateway.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingSecretsDirectory_StopsStartup_NamingIt()
    {
        await using var gateway = GatewayProcess.Start(
            ["--config-dir", _config.Path, "--urls", "http://127.0.0.1:0"],
            new Dictionary<string, string> { ["GATEWAY_SECRETS_DIR"] = Path.Combine(_secrets, "absent") });

        Assert.Equal(2, await gateway.WaitForExitAsync());
        Assert.Contains("GATEWAY_SECRETS_DIR: secrets directory", gateway.StandardError, StringComparison.Ordinal);
    }
}
