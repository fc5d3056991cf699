using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Tests.Management;

/// <summary>An issuer with a static <c>PublicKeyPem</c> works as before, beside the demo HMAC issuer.</summary>
public sealed class StaticKeyIssuerTests
{
    private const string Issuer = "https://idp.acme.example";
    private const string Audience = "support-gateway-management";

    [Theory]
    [InlineData(SecurityAlgorithms.EcdsaSha256)]
    [InlineData(SecurityAlgorithms.RsaSha256)]
    public async Task PublicKeyPemIssuer_AcceptsItsOwnKeyOnly(string algorithm)
    {
        using var key = OidcSigningKey.Create(algorithm);
        using var other = OidcSigningKey.Create(algorithm);
        await using var gateway = await GatewayHost.StartAsync(
            new Dictionary<string, Uri>(),
            $"--Management:Issuers:pem:Issuer={Issuer}",
            $"--Management:Issuers:pem:Audience={Audience}",
            $"--Management:Issuers:pem:PublicKeyPem={key.PublicKeyPem()}",
            $"--Management:Issuers:pem:KeyId={key.KeyId}");
        var api = new ManagementClient(gateway);

        var status = await api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", Mint(key.Credentials));
        Assert.Equal("acme", status.GetProperty("tenant").GetString());

        Assert.Equal("management.unauthenticated", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", Mint(other.CredentialsAs(key.KeyId)), expectedStatus: 401));
        // The demo issuer keeps working beside it.
        await api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", await api.TokenAsync("john", "tenant-user", "acme"));
    }

    private static string Mint(SigningCredentials credentials)
    {
        var now = DateTimeOffset.UtcNow;
        var payload = new JsonObject
        {
            ["iss"] = Issuer, ["aud"] = Audience, ["sub"] = "john", ["tenant"] = "acme", ["roles"] = new JsonArray("tenant-user"),
            ["iat"] = now.ToUnixTimeSeconds(), ["exp"] = now.AddMinutes(5).ToUnixTimeSeconds(),
        };
        return new JsonWebTokenHandler().CreateToken(payload.ToJsonString(), credentials);
    }
}
