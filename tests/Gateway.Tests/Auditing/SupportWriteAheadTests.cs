using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static Gateway.Tests.Infrastructure.AuditTrail;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Auditing;

/// <summary>
/// The support write-ahead through the real gateway: a support write or WebSocket has a durable
/// <c>support-request-started</c> record that its event names; reads have none (by default);
/// ordinary traffic never; and a write whose record cannot be written is refused, never forwarded.
/// </summary>
public sealed class SupportWriteAheadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task SupportWrite_HasADurableStartedRecord_ThatItsEventNames()
    {
        await using var env = await StartAsync();
        using var client = env.Gateway.Client("acme.localhost");
        var marker = Guid.NewGuid().ToString("N")[..8];

        using var response = await PutAsync(client, $"/api/settings/theme?m={marker}&token=secret");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var done = Assert.Single(await env.Gateway.Audit.WaitForAsync(e => Get(e, "event.action") == AuditActions.SupportRequest && Get(e, "url.query")?.StartsWith($"m={marker}", StringComparison.Ordinal) == true));
        var startedId = Get(done, "gateway.support.started_id");
        Assert.NotNull(startedId);
        var started = Assert.Single(env.Gateway.Audit.Events(), e => Get(e, "event.id") == startedId);
        Assert.Equal(AuditActions.SupportRequestStarted, Get(started, "event.action"));
        Assert.Null(Get(started, "event.outcome"));
        Assert.Null(Get(started, "http.response.status_code"));
        Assert.Equal("jill$john", Get(started, "user.name"));
        Assert.Equal("jill", Get(started, "user.id"));
        Assert.Equal("john", Get(started, "user.target.name"));
        Assert.Equal($"m={marker}&token=REDACTED", Get(started, "url.query"));
        foreach (var field in new[] { "@timestamp", "organization.id", "gateway.support.grant_ids", "gateway.support.isolation", "gateway.support.decision",
                     "gateway.support.session_id", "gateway.route.id", "gateway.route.class", "http.request.method", "url.path", "url.query", "source.ip", "gateway.chain.instance" })
        {
            Assert.Equal(Get(done, field), Get(started, field));
        }

        Assert.True(long.Parse(Get(started, "gateway.chain.seq")!, System.Globalization.CultureInfo.InvariantCulture)
            < long.Parse(Get(done, "gateway.chain.seq")!, System.Globalization.CultureInfo.InvariantCulture));
        var sink = env.Gateway.Services.GetRequiredService<SpoolingAuditSink>();
        Assert.Equal(1, sink.State.WriteAheadRecords);
    }

    [Fact]
    public async Task SupportRead_AndOrdinaryWrite_HaveNoStartedRecord()
    {
        await using var env = await StartAsync();
        using var client = env.Gateway.Client("acme.localhost");

        using (var read = await GetAsync(client, "/api/settings/theme?m=read", Basic("jill$john", JillPassword)))
        {
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        }

        using (var ordinary = await client.PutAsJsonAsync("/api/settings/theme?m=ordinary", new { value = "x" }))
        {
            Assert.Equal(HttpStatusCode.OK, ordinary.StatusCode);
        }

        await env.Gateway.Audit.WaitForAsync(e => Get(e, "url.query") is "m=read" or "m=ordinary", 2);
        Assert.DoesNotContain(env.Gateway.Audit.Events(), e => Get(e, "event.action") == AuditActions.SupportRequestStarted);
        Assert.All(env.Gateway.Audit.Events(), e => Assert.Null(Get(e, "gateway.support.started_id")));
        Assert.Equal(0, env.Gateway.Services.GetRequiredService<SpoolingAuditSink>().State.WriteAheadRecords);
    }

    [Theory]
    [InlineData("all", "GET", true)]
    [InlineData("all", "PUT", true)]
    [InlineData("off", "PUT", false)]
    [InlineData("writes", "DELETE", true)]
    [InlineData("writes", "OPTIONS", false)]
    public async Task Scope_DecidesWhichSupportCallsGetAStartedRecord(string scope, string method, bool recorded)
    {
        await using var env = await StartAsync($"--Audit:WriteAhead={scope}");
        using var client = env.Gateway.Client("acme.localhost");
        using var request = new HttpRequestMessage(new HttpMethod(method), "/api/echo/scope?m=" + scope);
        request.Headers.Authorization = Basic("jill$john", JillPassword);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var done = Assert.Single(await env.Gateway.Audit.WaitForAsync(e => Get(e, "event.action") == AuditActions.SupportRequest && Get(e, "url.path") == "/api/echo/scope"));
        Assert.Equal(recorded, Get(done, "gateway.support.started_id") is not null);
        Assert.Equal(recorded, env.Gateway.Audit.Events().Any(e => Get(e, "event.action") == AuditActions.SupportRequestStarted));
    }

    [Fact]
    public async Task WhenTheStartedRecordCannotBeWritten_TheWriteIs503_AndNeverReachesTheBackend()
    {
        // A queue of one: the call's own event takes it, so its started record finds no room.
        await using var env = await StartAsync("--Audit:QueueCapacity=1");
        using var client = env.Gateway.Client("acme.localhost");
        var sink = env.Gateway.Services.GetRequiredService<SpoolingAuditSink>();
        await QueueDrainedAsync(sink);

        using (var read = await GetAsync(client, "/api/settings/theme", Basic("jill$john", JillPassword)))
        {
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        }

        await QueueDrainedAsync(sink);
        var before = env.Acme.Hits.For("/api/settings");
        using var write = await PutAsync(client, "/api/settings/theme?m=refused");

        Assert.Equal("audit.unavailable", await ManagementClient.ProblemCodeAsync(write, 503));
        Assert.Equal(before, env.Acme.Hits.For("/api/settings"));
        Assert.Contains(env.Gateway.Logs.Entries, l => l.EventId.Id == 1924 && l.Message.Contains("Refused", StringComparison.Ordinal));
        var e = Assert.Single(await env.Gateway.Audit.WaitForAsync(e => Get(e, "url.query") == "m=refused"));
        Assert.Equal("denied", Get(e, "gateway.support.decision"));
        Assert.Equal("audit.unavailable", Get(e, "event.reason"));
        Assert.Equal(1, sink.State.WriteAheadRefused);
        var (_, health) = await env.Gateway.ReadinessAsync();
        Assert.Equal(1, health.GetProperty("checks").GetProperty("audit").GetProperty("writeAheadRefused").GetInt64());
    }

    [Fact]
    public async Task ConcurrentSupportWrites_ShareFsyncs()
    {
        const int Calls = 40;
        await using var env = await StartAsync();
        using var client = env.Gateway.Client("acme.localhost");
        var sink = env.Gateway.Services.GetRequiredService<SpoolingAuditSink>();
        // A first call: the credentials are verified (PBKDF2) once and cached, as in a session.
        using (var first = await PutAsync(client, "/api/settings/warm"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        var (records, syncs) = (sink.State.WriteAheadRecords, sink.State.WriteAheadSyncs);
        var responses = await Task.WhenAll(Enumerable.Range(0, Calls).Select(async i =>
        {
            using var response = await PutAsync(client, $"/api/settings/k{i}");
            return response.StatusCode;
        }));

        Assert.All(responses, s => Assert.Equal(HttpStatusCode.OK, s));
        var (writes, fsyncs) = (sink.State.WriteAheadRecords - records, sink.State.WriteAheadSyncs - syncs);
        Assert.Equal(Calls, writes);
        Assert.True(fsyncs < Calls, $"{fsyncs} fsyncs for {Calls} concurrent support writes");
        var (_, health) = await env.Gateway.ReadinessAsync();
        var audit = health.GetProperty("checks").GetProperty("audit");
        Assert.Equal(Calls + 1, audit.GetProperty("writeAheadRecords").GetInt64());
        output.WriteLine($"{Calls} concurrent support PUTs: {fsyncs} write-ahead fsyncs ({(double)writes / fsyncs:F1} records per fsync); " +
            $"longest wait {audit.GetProperty("writeAheadWaitMaxMs")} ms, longest fsync {audit.GetProperty("fsyncMaxMs")} ms");
    }

    [Fact]
    public async Task SupportWebSocket_IsRecordedBeforeTheUpgrade_AndItsEventNamesTheRecord()
    {
        await using var env = await StartAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using (var socket = new ClientWebSocket())
        {
            socket.Options.SetRequestHeader("Authorization", Basic("jill$john", JillPassword).ToString());
            await socket.ConnectAsync(new Uri($"ws://acme.localhost:{env.Gateway.Port}/ws"), new HttpMessageInvoker(LoopbackHttp.Handler(env.Gateway.Port)), cts.Token);
            await socket.SendAsync(Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text, true, cts.Token);
            var buffer = new byte[64];
            Assert.Equal("ping", Encoding.UTF8.GetString(buffer, 0, (await socket.ReceiveAsync(buffer, cts.Token)).Count));

            // Open: its record is on disk, its event not yet written.
            var started = Assert.Single(env.Gateway.Audit.Events(), e => Get(e, "event.action") == AuditActions.SupportRequestStarted);
            Assert.Equal("/ws", Get(started, "url.path"));
            Assert.Equal("acme-ws", Get(started, "gateway.route.id"));
            Assert.DoesNotContain(env.Gateway.Audit.Events(), e => Get(e, "url.path") == "/ws" && Get(e, "event.action") == AuditActions.SupportRequest);

            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
            var done = Assert.Single(await env.Gateway.Audit.WaitForAsync(e => Get(e, "url.path") == "/ws" && Get(e, "event.action") == AuditActions.SupportRequest));
            Assert.Equal(Get(started, "event.id"), Get(done, "gateway.support.started_id"));
        }
    }

    [Fact]
    public async Task AuditKey_IsPublishedInTheJwks_BesideTheSessionKey_AndVerifyFetchesItByUrl()
    {
        await using var env = await StartAsync();
        var sink = env.Gateway.Services.GetRequiredService<SpoolingAuditSink>();
        using var jwks = JsonDocument.Parse(await env.Gateway.Client("localhost").GetStringAsync("/_gateway/.well-known/jwks.json"));
        var keys = jwks.RootElement.GetProperty("keys").EnumerateArray().ToList();

        Assert.Equal(2, keys.Count);
        Assert.Equal("gateway-1", keys[0].GetProperty("kid").GetString());
        Assert.Equal("audit-1", keys[1].GetProperty("kid").GetString());
        Assert.Equal(sink.SigningKey.PublicJwk["x"], keys[1].GetProperty("x").GetString());
        Assert.False(keys[1].TryGetProperty("d", out _));

        using var write = await PutAsync(env.Gateway.Client("acme.localhost"), "/api/settings/theme");
        await env.Gateway.Audit.WaitForAsync(e => Get(e, "event.action") == AuditActions.SupportRequest);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await Gateway.Cli.CliVerbs.RunAsync(
            ["audit", "verify", "--spool-dir", env.Gateway.Audit.Directory, "--jwks", $"http://localhost:{env.Gateway.Port}/_gateway/.well-known/jwks.json"],
            TextReader.Null, stdout, stderr);
        Assert.True(exit == 0, stdout + stderr.ToString());
        Assert.Contains("JWKS key(s) gateway-1, audit-1", stdout.ToString(), StringComparison.Ordinal);
    }

    private static async Task<TestEnvironment> StartAsync(params string[] args)
    {
        var env = await new TestEnvironment { Backends = TestBackends.Shared, MintTokens = true, ExtraArgs = args }.StartAsync();
        try
        {
            await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { denyData = false, denyConfig = false }, 201);
            return env;
        }
        catch
        {
            await env.DisposeAsync();
            throw;
        }
    }

    private static async Task<HttpResponseMessage> PutAsync(HttpClient client, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, path) { Content = JsonContent.Create(new { value = "dark" }) };
        request.Headers.Authorization = Basic("jill$john", JillPassword);
        return await client.SendAsync(request);
    }

    private static async Task QueueDrainedAsync(SpoolingAuditSink sink) =>
        Assert.True(await sink.State.Written.WaitUntilAsync(() => sink.State.QueueLength == 0, TimeSpan.FromSeconds(10), TimeProvider.System), "the audit queue did not drain");
}
