using GatewayIdentityExample;
using Gateway.Tests.Infrastructure;
using Microsoft.IdentityModel.Tokens;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.SupportSessions;

/// <summary>The identity token an app receives verifies with the published keys, for its own request only, once.</summary>
public sealed class BackendIdentityTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        _env = await new TestEnvironment { Backends = TestBackends.Shared, MintTokens = true }.StartAsync();
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
    }

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task TheDocumentedVerifier_AcceptsTheTokenForItsRequest_Once()
    {
        var (verifier, token) = await ReceiveAsync("/api/echo/verify-me");

        var identity = await verifier.VerifyAsync(token, "GET", "/api/echo/verify-me");

        Assert.Equal("john", identity.FindFirst("sub")?.Value);
        Assert.Contains("\"sub\":\"jill\"", identity.FindFirst("act")?.Value, StringComparison.Ordinal);
        await Assert.ThrowsAsync<SecurityTokenReplayDetectedException>(() => verifier.VerifyAsync(token, "GET", "/api/echo/verify-me"));
    }

    [Theory]
    [InlineData("DELETE", "/api/echo/verify-me")]
    [InlineData("GET", "/api/orders")]
    public async Task ATokenReplayedOnAnotherMethodOrRoute_IsRefused(string method, string path)
    {
        var (verifier, token) = await ReceiveAsync("/api/echo/verify-me");

        await Assert.ThrowsAsync<SecurityTokenValidationException>(() => verifier.VerifyAsync(token, method, path));
    }

    [Fact]
    public async Task EachRequest_GetsItsOwnToken()
    {
        var (_, first) = await ReceiveAsync("/api/echo/a");
        var (_, second) = await ReceiveAsync("/api/echo/a");

        Assert.NotEqual(first, second);
    }

    private async Task<(GatewayIdentityVerifier Verifier, string Token)> ReceiveAsync(string path)
    {
        using var client = _env.Gateway.Client("acme.localhost");
        using var response = await GetAsync(client, path, Basic("jill$john", JillPassword));
        response.EnsureSuccessStatusCode();
        using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var http = _env.Gateway.Client("acme.localhost");
        var verifier = new GatewayIdentityVerifier(http, new Uri(http.BaseAddress!, "/_gateway/.well-known/jwks.json"));
        return (verifier, Header(json.RootElement, "X-Gateway-Identity")!);
    }
}
