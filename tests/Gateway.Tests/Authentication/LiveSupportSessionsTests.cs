using System.Net;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
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
    private readonly ManualTimeProvider _clock = new();
    private SampleBackend _backend = null!;
    private GatewayHost _gateway = null!;
    private ManagementClient _api = null!;

    public async Task InitializeAsync()
    {
        _backend = await SampleBackend.StartAsync("acme");
        _gateway = await GatewayHost.StartAsync(
            null,
            new Dictionary<string, Uri> { ["acme"] = _backend.Address, ["globex"] = _backend.Address },
            configure: builder => builder.Services.AddSingleton<TimeProvider>(_clock));
        _api = new ManagementClient(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task Idle_NoTimerRuns_SoAFarClockJumpFiresAlmostNothing()
    {
        // Let the gateway settle (the start-up log of the audit spool is the last step of its start).
        using (var client = _gateway.Client("acme.localhost"))
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
        var john = await _api.TokenAsync("john", "tenant-user", "acme");
        var ann = await _api.TokenAsync("ann", "tenant-admin", "acme");
        await _api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", john, new { denyData = false }, 201);
        using var acme = _gateway.Client("acme.localhost");
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

        await _api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", ann);

        Assert.True(await StreamEndsWithinAsync(reader.BaseStream, TimeSpan.FromSeconds(5)), "the stream outlived the revocation: the change signal was lost");
    }

    private static async Task<bool> StreamEndsWithinAsync(Stream stream, TimeSpan deadline)
    {
        using var cts = new CancellationTokenSource(deadline);
        var buffer = new byte[65536];
        try
        {
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return true; // aborted mid-stream
        }
    }
}
