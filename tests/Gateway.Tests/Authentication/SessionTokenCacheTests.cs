using Gateway.SupportSessions;
using System.Net;
using System.Net.Http.Headers;
using Gateway.Authentication;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Authentication;

/// <summary>
/// The cache of verified session tokens on a clock the test moves: a cached token stops working
/// at its own expiry even while the grant runs on, and a bearer token the gateway never issued
/// is neither cached nor taken for a session.
/// </summary>
public sealed class SessionTokenCacheTests : IAsyncLifetime
{
    private readonly TimerCountingTimeProvider _clock = new(TestClock.Start);
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment { Clock = _clock, Backends = TestBackends.Shared }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task CachedToken_IsRefusedFromItsExpiry_WhileTheGrantRunsOn()
    {
        var john = await _env.Api.TokenAsync("john", "tenant-user", "acme");
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", john, new { durationHours = 72 }, 201);
        using var acme = _env.Gateway.Client("acme.localhost");
        var (token, expiresIn, _) = await LoginAsync(acme, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        var cache = _env.Gateway.Services.GetRequiredService<SessionTokenCache>();

        Assert.Equal("john", Header(await EchoAsync(acme, bearer), "X-Gateway-User"));
        Assert.Equal("john", Header(await EchoAsync(acme, bearer), "X-Gateway-User"));
        Assert.Equal(1, cache.Verifications);
        Assert.True(expiresIn < 72 * 3600, $"the token lives {expiresIn} s, as long as the grant: nothing to test");

        // Past the expiry and the 30 s of clock skew that token validation allows.
        _clock.Advance(TimeSpan.FromSeconds(expiresIn + 31));

        using var expired = await GetAsync(acme, "/api/echo/x", bearer);
        Assert.Equal("support.session.invalid", await ManagementClient.ProblemCodeAsync(expired, 401));
        Assert.Equal(2, cache.Verifications);
    }

    [Fact]
    public async Task ForeignBearerToken_IsNotASession_AndIsNotCached()
    {
        using var acme = _env.Gateway.Client("acme.localhost");
        var foreign = new AuthenticationHeaderValue("Bearer", "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwcC5leGFtcGxlIiwic3ViIjoiYm9iIn0.c2lnbmF0dXJl");
        var cache = _env.Gateway.Services.GetRequiredService<SessionTokenCache>();

        var echo = await EchoAsync(acme, foreign);

        Assert.Equal(foreign.ToString(), Header(echo, "Authorization"));
        Assert.Null(Header(echo, "X-Gateway-User"));
        Assert.Equal(0, cache.Verifications);
    }
}
