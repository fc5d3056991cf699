using System.Net;
using System.Net.Http.Headers;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Sessions;

/// <summary>
/// One support session served by two gateway instances on one Redis: the record adds up what
/// both did, ending it from the API (on one instance) cuts its live stream on the other, a
/// revocation ends it for good everywhere, and in steady state no request sends Redis a command.
/// Timers fire only when the test says, so the instances flush only when the test flushes them.
/// </summary>
public sealed class SessionInstancesTests : IAsyncLifetime
{
    // Real time (Redis expires keys and checks write deadlines by it); timers only when the test says.
    private readonly ManualTimersTimeProvider _clock = new();
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment
    {
        Clock = _clock,
        Backends = TestBackends.Shared,
        WithRedis = true,
        TwoInstances = true,
        MintTokens = true,
        // Two gateways, Redis and the rest of the suite share two cores: the 200 ms default budget of a
        // store call (what production wants) turned a slow moment into a fail-closed 503 at login once.
        // These tests are about sessions across instances, not about the budget (GrantStore tests are).
        // The grant cache's safety re-read (5 s of real time by default, 1 min here, the most it may be) is a backstop behind the
        // invalidations; on a loaded machine the steady-state test's requests outlasted it once and
        // saw that re-read. Invalidations, which these tests rely on, are unaffected.
        ExtraArgs = ["--Grants:StoreTimeout=00:00:02", "--Grants:CacheSafetyTtl=00:01:00"],
    }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task Record_SumsBothInstances_AndEndingItClosesAStreamOnTheOtherWithinASecond()
    {
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
        using var a = _env.Gateway.Client("acme.localhost");
        using var b = _env.SecondGateway.Client("acme.localhost");
        var (token, _, _) = await LoginAsync(a, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(a, HttpMethod.Get, $"/api/echo/a{i}", bearer)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(b, HttpMethod.Get, "/api/orders", bearer)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(b, HttpMethod.Post, "/api/echo/written-on-b", bearer)).StatusCode);
        await FlushBothAsync();

        var list = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", _env.Ann);
        var session = Assert.Single(list.GetProperty("sessions").EnumerateArray());
        var id = session.GetProperty("id").GetString()!;
        Assert.Equal(5, session.GetProperty("calls").GetInt64());
        Assert.Equal(1, session.GetProperty("writes").GetInt64());
        Assert.Equal(4, session.GetProperty("routes").GetProperty("acme-echo").GetInt64());
        Assert.Equal(1, session.GetProperty("routes").GetProperty("acme-orders").GetInt64());

        // A live stream on instance B, ended from instance A's API.
        using var stream = await SendAsync(b, HttpMethod.Get, "/events?interval=50", bearer, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        await using var body = await stream.Content.ReadAsStreamAsync();
        using var end = await _env.Api.SendAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        Assert.Equal(HttpStatusCode.NoContent, end.StatusCode);
        Assert.True(await StreamEndsWithinAsync(body, TimeSpan.FromSeconds(1)), "the stream on the other instance stayed open");

        foreach (var client in new[] { a, b })
        {
            using var refused = await SendAsync(client, HttpMethod.Get, "/api/echo/after", bearer);
            Assert.Equal("support.session.ended", await ManagementClient.ProblemCodeAsync(refused, 401));
        }

        var report = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}/report", _env.Ann);
        Assert.Equal("ended-by-admin", report.GetProperty("endReason").GetString());
        Assert.Equal(["POST /api/echo/written-on-b"],
            report.GetProperty("allowedWrites").EnumerateArray().Select(w => $"{w.GetProperty("method").GetString()} {w.GetProperty("path").GetString()}"));
    }

    [Fact]
    public async Task RevokeAllOnOneInstance_ThenANewGrantOnTheOther_TheOldTokenStaysEnded()
    {
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
        using var a = _env.Gateway.Client("acme.localhost");
        using var b = _env.SecondGateway.Client("acme.localhost");
        var (token, _, _) = await LoginAsync(a, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(b, HttpMethod.Get, "/api/orders", bearer)).StatusCode);

        await _env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", _env.Ann);
        var second = new ManagementClient(_env.SecondGateway);
        await second.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await second.TokenAsync("john", "tenant-user", "acme"), new { denyData = false }, 201);

        foreach (var client in new[] { b, a })
        {
            using var refused = await SendAsync(client, HttpMethod.Get, "/api/orders", bearer);
            Assert.Equal("support.session.ended", await ManagementClient.ProblemCodeAsync(refused, 401));
        }
    }

    [Fact]
    public async Task SteadyState_NoRequestSendsRedisACommand_CountersIncluded()
    {
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
        using var a = _env.Gateway.Client("acme.localhost");
        using var b = _env.SecondGateway.Client("acme.localhost");
        var (token, _, _) = await LoginAsync(a, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        var basic = Basic("jill$ann", JillPassword);
        // Warm: each instance has met the session, the Basic session and the tenant's grants once.
        foreach (var client in new[] { a, b })
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Get, "/api/orders", bearer)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Get, "/api/orders", basic)).StatusCode);
        }

        await using var monitor = await RedisMonitor.StartAsync(_env.Redis);
        await monitor.CommandsUntilNowAsync();
        for (var i = 0; i < 20; i++)
        {
            var client = i % 2 == 0 ? a : b;
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Post, $"/api/echo/w{i}", bearer)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Get, $"/api/orders", basic)).StatusCode);
        }

        var duringRequests = (await monitor.CommandsUntilNowAsync()).Where(c => !IsHeartbeat(c)).ToList();
        Assert.True(duringRequests.Count == 0, "Redis commands on the request path: " + string.Join("; ", duringRequests));

        // What the requests did reaches Redis with the flush, off the path: a handful of commands, not forty.
        await FlushBothAsync();
        var flushing = (await monitor.CommandsUntilNowAsync()).Where(c => !IsHeartbeat(c)).ToList();
        Assert.True(flushing.Count is >= 1 and <= 8, "flush commands: " + string.Join("\n", flushing));
        var list = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", _env.Ann);
        Assert.Equal(22, list.GetProperty("sessions").EnumerateArray().Single(s => s.GetProperty("credential").GetString() == "sessiontoken").GetProperty("calls").GetInt64());
        Assert.Equal(22, list.GetProperty("sessions").EnumerateArray().Single(s => s.GetProperty("credential").GetString() == "basic").GetProperty("calls").GetInt64());
    }

    private static bool IsHeartbeat(string command) =>
        command.StartsWith("\"PING\"", StringComparison.OrdinalIgnoreCase) || command.StartsWith("\"ECHO\"", StringComparison.OrdinalIgnoreCase);

    private async Task FlushBothAsync()
    {
        await _env.Gateway.Services.GetRequiredService<SessionTracker>().FlushAsync(CancellationToken.None);
        await _env.SecondGateway.Services.GetRequiredService<SessionTracker>().FlushAsync(CancellationToken.None);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, AuthenticationHeaderValue authorization, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = authorization;
        return await client.SendAsync(request, completion);
    }
}
