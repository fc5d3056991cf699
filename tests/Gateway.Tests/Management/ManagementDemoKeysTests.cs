using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Gateway.Management;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Management;

/// <summary>The known demo keys are the ones the repository ships, and are recognised however they are spelt.</summary>
public sealed class ManagementDemoKeysTests
{
    [Fact]
    public void EveryKeyOfTheShippedDemoConfiguration_IsAKnownDemoKey()
    {
        var settings = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.ConfigDir, "gateway.json")))!;
        var issuers = settings["Management"]!["Issuers"]!.AsObject();

        Assert.NotEmpty(issuers);
        foreach (var (name, issuer) in issuers)
        {
            if (issuer!["SigningKey"]?.GetValue<string>() is { } signingKey)
            {
                Assert.True(ManagementDemoKeys.IsDemoSigningKey(signingKey), $"Management:Issuers:{name}:SigningKey is missing from ManagementDemoKeys.SigningKeys");
            }

            if (issuer["PublicKeyPem"]?.GetValue<string>() is { } pem)
            {
                Assert.True(ManagementDemoKeys.IsDemoPublicKey(pem), $"Management:Issuers:{name}:PublicKeyPem is missing from ManagementDemoKeys.PublicKeysPem");
            }
        }
    }

    [Fact]
    public void SigningKey_IsComparedByItsBytes()
    {
        var demo = ManagementDemoKeys.SigningKeys[0];
        var wrapped = demo[..20] + "\n " + demo[20..]; // base64 decoding skips white space

        Assert.True(ManagementDemoKeys.IsDemoSigningKey(wrapped));
        Assert.False(ManagementDemoKeys.IsDemoSigningKey(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))));
        Assert.False(ManagementDemoKeys.IsDemoSigningKey("not base64!"));
    }

    [Fact]
    public void PublicKey_IsComparedByItsKey_NotItsPemText()
    {
        using var demo = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string[] known = [demo.ExportSubjectPublicKeyInfoPem()];

        // The same key with other line breaks, and as the private key it belongs to.
        var rewrapped = demo.ExportSubjectPublicKeyInfoPem().Replace("\n", "\r\n", StringComparison.Ordinal);
        Assert.True(ManagementDemoKeys.IsDemoPublicKey(rewrapped, known));
        Assert.True(ManagementDemoKeys.IsDemoPublicKey(demo.ExportPkcs8PrivateKeyPem(), known));
        Assert.False(ManagementDemoKeys.IsDemoPublicKey(other.ExportSubjectPublicKeyInfoPem(), known));
    }
}
