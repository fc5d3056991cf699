using System.Net;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Authentication;

/// <summary>
/// The re-check loop of live support connections on a clock the test moves: it runs no timer
/// while nothing is in flight, and a grant-store change is acted on at once however many quiet
/// ticks came before (the clock does not move after the revocation here, so only the change
/// signal can end the stream).
/// </summary>
public sealed class LiveSupportSessionsTests : IAsyncLifetime
{
    private readonly TimerCountingTimeProvider _clock = new(TestClock.Start);
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment { Clock = _clock, Backends = TestBackends.Shared }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task Idle_NoTimerRuns_SoAFarClockJumpFiresAlmostNothing()
    {
        // Let the gateway settle (the start-up log of the audit spool is the last step of its start).
        using (var client = _env.Gateway.Client("acme.localhost"))
        using (var response = await client.GetAsync("/api/orders"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var before = _clock.FiredCount;
        _clock.Advance(TimeSpan.FromDays(1));

        // A check every LiveSessionCheckInterval (1 s) would fire 86,400 times on the way.
        Assert.InRange(_clock.FiredCount - before, 0, 10);
    }

    [Fact]
    public async Task StoreChange_EndsALiveStreamAtOnce_AfterManyQuietTicks()
    {
        var john = await _env.Api.TokenAsync("john", "tenant-user", "acme");
        var ann = await _env.Api.TokenAsync("ann", "tenant-admin", "acme");
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", john, new { denyData = false }, 201);
        using var acme = _env.Gateway.Client("acme.localhost");
        using var response = await GetAsync(acme, "/events?interval=50", Basic("jill$john", JillPassword));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.NotNull(await reader.ReadLineAsync());

        // Quiet ticks: each one is a round of the loop that ends by its timer, not by a change.
        var fired = _clock.FiredCount;
        for (var i = 0; i < 50 && _clock.FiredCount - fired < 8; i++)
        {
            // The loop re-arms its timer on the thread pool after each tick: wait for that, then tick.
            var armed = _clock.WhenTimerArmedAsync();
            _clock.Advance(TimeSpan.FromSeconds(1));
            await armed.WaitAsync(TimeSpan.FromSeconds(5));
        }

        Assert.True(_clock.FiredCount - fired >= 8, $"the live-session loop ticked {_clock.FiredCount - fired} times with a request in flight");
        Assert.NotNull(await reader.ReadLineAsync()); // still allowed: the grant runs for hours

        await _env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", ann);

        Assert.True(await StreamEndsWithinAsync(reader.BaseStream, TimeSpan.FromSeconds(5)), "the stream outlived the revocation: the change signal was lost");
    }
}
