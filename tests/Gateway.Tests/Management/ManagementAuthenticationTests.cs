using System.Net;
using System.Security.Cryptography;
using Gateway.Tests.Infrastructure;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Tests.Management;

/// <summary>Only tokens of a configured issuer, for its audience, signed with its key and in date, reach the management API.</summary>
public sealed class ManagementAuthenticationTests : IAsyncLifetime
{
    private const string DemoIssuer = "https://demo-issuer.gateway.invalid";
    private const string DemoAudience = "support-gateway-management";
    private const string DemoKey = "d9pAQ+FVCxw0l7LdHJw9yKsyBtvOc2FaQJoBgH+WNHY=";
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment { Backends = TestBackends.None }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task NoToken_Gets401ProblemWithBearerChallenge()
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Get, "/_gateway/platform/support", token: null);

        Assert.Equal("management.unauthenticated", await ManagementClient.ProblemCodeAsync(response, 401));
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task ValidDemoToken_IsAccepted()
    {
        var token = Mint(DemoIssuer, DemoAudience, Convert.FromBase64String(DemoKey), DateTime.UtcNow.AddMinutes(5));

        var settings = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/platform/support", token);

        Assert.False(settings.GetProperty("enabledForAllTenants").GetBoolean());
    }

    public static TheoryData<string> RejectedTokens()
    {
        var key = Convert.FromBase64String(DemoKey);
        var valid = Mint(DemoIssuer, DemoAudience, key, DateTime.UtcNow.AddMinutes(5));
        var parts = valid.Split('.');
        var signature = parts[2].ToCharArray();
        signature[5] = signature[5] == 'A' ? 'B' : 'A';
        return new TheoryData<string>
        {
            string.Join('.', parts[0], parts[1], new string(signature)),                                   // tampered signature
            Mint(DemoIssuer, DemoAudience, RandomNumberGenerator.GetBytes(32), DateTime.UtcNow.AddMinutes(5)), // another key
            Mint("https://someone-else.invalid", DemoAudience, key, DateTime.UtcNow.AddMinutes(5)),          // unknown issuer
            Mint(DemoIssuer, "another-api", key, DateTime.UtcNow.AddMinutes(5)),                             // wrong audience
            Mint(DemoIssuer, DemoAudience, key, DateTime.UtcNow.AddMinutes(-2)),                            // expired beyond the 30 s skew
            new JsonWebTokenHandler().CreateToken("""{"iss":"https://demo-issuer.gateway.invalid","aud":"support-gateway-management","sub":"olivia","roles":["platform-admin"],"exp":4102444800}"""), // unsigned (alg none)
            "not-a-jwt",
            new JsonWebTokenHandler().CreateToken("""{"iss":42,"aud":"support-gateway-management","sub":"olivia","roles":["platform-admin"],"exp":4102444800}""", new SigningCredentials(new SymmetricSecurityKey(key), SecurityAlgorithms.HmacSha256)), // iss not a string
            new JsonWebTokenHandler().CreateToken("""{"iss":"https://demo-issuer.gateway.invalid","aud":"support-gateway-management","roles":["platform-admin"],"exp":4102444800}""", new SigningCredentials(new SymmetricSecurityKey(key), SecurityAlgorithms.HmacSha256)), // no subject
        };
    }

    [Theory]
    [MemberData(nameof(RejectedTokens))]
    public async Task InvalidTokens_Get401(string token)
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Get, "/_gateway/platform/support", token);

        Assert.Equal("management.unauthenticated", await ManagementClient.ProblemCodeAsync(response, 401));
    }

    [Fact]
    public async Task TokenWithoutRoles_IsForbiddenEverywhere()
    {
        var token = Mint(DemoIssuer, DemoAudience, Convert.FromBase64String(DemoKey), DateTime.UtcNow.AddMinutes(5), roles: []);

        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/platform/support", token, expectedStatus: 403));
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", token, new { }, 403));
    }

    [Fact]
    public async Task ManagementPaths_AreNotProxied_EvenOnTenantHosts()
    {
        using var client = _env.Gateway.Client("acme.localhost");

        using var response = await client.GetAsync("/_gateway/tenants/acme/support/status");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.False(response.Headers.Contains("X-Sample-App"));
    }

    private static string Mint(string issuer, string audience, byte[] key, DateTime expires, string[]? roles = null)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Claims = new Dictionary<string, object> { ["sub"] = "olivia", ["roles"] = roles ?? ["platform-admin"] },
            IssuedAt = expires.AddMinutes(-10),
            NotBefore = expires.AddMinutes(-10) < now ? expires.AddMinutes(-10) : now,
            Expires = expires,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(key), SecurityAlgorithms.HmacSha256),
        });
    }
}
