using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Gateway.Grants;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Grants;

/// <summary>
/// Gateways configured with a real Redis: grants shared between instances, revocations seen
/// everywhere within a second, and failing closed (503) when Redis is gone while ordinary
/// traffic keeps flowing.
/// </summary>
public sealed class RedisGatewayTests : IAsyncLifetime
{
    private RedisServer _redis = null!;
    private SampleBackend _backend = null!;
    private readonly string _prefix = RedisFixture.NewKeyPrefix();

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _backend = await SampleBackend.StartAsync("acme");
    }

    public async Task DisposeAsync()
    {
        await _backend.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Revocation_OnOneInstance_IsSeenByAnotherWithinOneSecond()
    {
        await using var a = await StartGatewayAsync();
        await using var b = await StartGatewayAsync();
        var apiA = new ManagementClient(a);
        var apiB = new ManagementClient(b);
        var john = await apiA.TokenAsync("john", "tenant-user", "acme");

        var grant = await apiA.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", john, new { durationHours = 1 }, 201);
        var id = grant.GetProperty("id").GetString();

        // Instance B sees the grant (and now holds it in its cache).
        Assert.True((await apiB.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", john)).GetProperty("active").GetBoolean());
        Assert.True((await apiB.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", john)).GetProperty("active").GetBoolean());

        await apiA.JsonAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/grants/{id}", john);
        var revokedAt = Stopwatch.StartNew();

        var seen = false;
        while (revokedAt.Elapsed < TimeSpan.FromSeconds(1) && !seen)
        {
            seen = !(await apiB.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", john)).GetProperty("active").GetBoolean();
        }

        Assert.True(seen, $"instance B still reported support active {revokedAt.ElapsedMilliseconds} ms after the revocation on A");
    }

    [Fact]
    public async Task RedisDown_SupportManagementFailsClosed_OrdinaryTrafficFlows_ThenRecovers()
    {
        await using var gateway = await StartGatewayAsync();
        var api = new ManagementClient(gateway);
        var john = await api.TokenAsync("john", "tenant-user", "acme");
        await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", john, new { }, 201);
        Assert.True((await api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", john)).GetProperty("active").GetBoolean());

        await _redis.StopAsync();
        try
        {
            // The cached "active" must not outlive the connection: fail closed, promptly.
            var elapsed = Stopwatch.StartNew();
            Assert.Equal("grant_store.unavailable", await UntilProblemAsync(api, john));
            Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(2), $"took {elapsed.ElapsedMilliseconds} ms to fail closed");
            Assert.Equal("grant_store.unavailable", await api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", john, new { }, 503));

            using var client = gateway.Client("acme.localhost");
            using var ordinary = await client.GetAsync("/api/orders");
            Assert.Equal(HttpStatusCode.OK, ordinary.StatusCode);

            var (readyStatus, health) = await gateway.ReadinessAsync();
            Assert.Equal(HttpStatusCode.OK, readyStatus);
            Assert.Equal("degraded", health.GetProperty("checks").GetProperty("grantStore").GetProperty("status").GetString());
        }
        finally
        {
            if (!_redis.IsRunning)
            {
                await _redis.StartAgainAsync();
            }
        }

        // Redis came back empty (no persistence): the gateway answers again, from the store.
        // First the store's own signal that it is subscribed again; the interactive connection
        // may come back a moment later, so a few more tries at a modest pace.
        await gateway.Services.GetRequiredService<IGrantStore>().UntilInvalidationsAsync(connected: true, TimeSpan.FromSeconds(30));
        var recovered = Stopwatch.StartNew();
        JsonElement? status = null;
        while (status is null && recovered.Elapsed < TimeSpan.FromSeconds(20))
        {
            using var response = await api.SendAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", john);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                status = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            }
            else
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100)); // between tries, not as synchronisation
            }
        }

        Assert.True(status is not null, $"the gateway did not answer from Redis again within {recovered.Elapsed} after the subscription was back");
        Assert.False(status.Value.GetProperty("active").GetBoolean());
    }

    [Fact]
    public async Task GatewayStarts_WithRedisUnreachable_AndFailsClosed()
    {
        await _redis.StopAsync();
        await using var gateway = await StartGatewayAsync();
        var api = new ManagementClient(gateway);
        var john = await api.TokenAsync("john", "tenant-user", "acme");

        Assert.Equal("grant_store.unavailable", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", john, expectedStatus: 503));
        using var client = gateway.Client("acme.localhost");
        using var ordinary = await client.GetAsync("/api/echo/x");
        Assert.Equal(HttpStatusCode.OK, ordinary.StatusCode);
    }

    private Task<GatewayHost> StartGatewayAsync() => GatewayHost.StartAsync(
        null,
        new Dictionary<string, Uri> { ["acme"] = _backend.Address, ["globex"] = _backend.Address },
        [$"--Redis:Configuration={_redis.ConnectionString}", $"--Redis:KeyPrefix={_prefix}"]);

    /// <summary>Asks for the status until it stops answering 200 (bounded), and returns the problem code.</summary>
    private static async Task<string> UntilProblemAsync(ManagementClient api, string token)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            using var response = await api.SendAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", token);
            if (response.StatusCode != HttpStatusCode.OK || deadline.Elapsed > TimeSpan.FromSeconds(5))
            {
                return await ManagementClient.ProblemCodeAsync(response, 503);
            }
        }
    }
}
