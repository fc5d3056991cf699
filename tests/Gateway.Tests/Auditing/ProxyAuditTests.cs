using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static Gateway.Tests.Infrastructure.AuditTrail;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Auditing;

/// <summary>Every proxied call leaves exactly one ECS event in the real spool.</summary>
public sealed class ProxyAuditTests(TestEnvironment env) : IClassFixture<TestEnvironment>
{
    [Fact]
    public async Task OrdinaryCall_ProducesOneEcsEvent()
    {
        var marker = Guid.NewGuid().ToString("N");
        using var client = env.Gateway.Client("acme.localhost");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/echo/{marker}?x=1&y=%2F");
        request.Headers.UserAgent.ParseAdd("audit-test/1.0");
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        var e = Assert.Single(await env.Gateway.Audit.WaitForAsync(e => Get(e, "url.path") == $"/api/echo/{marker}"));
        Assert.Equal("proxy-request", Get(e, "event.action"));
        Assert.Equal("web", Get(e, "event.category"));
        Assert.Equal("success", Get(e, "event.outcome"));
        Assert.Equal("GET", Get(e, "http.request.method"));
        Assert.Equal("x=1&y=%2F", Get(e, "url.query"));
        Assert.Equal("200", Get(e, "http.response.status_code"));
        Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), Get(e, "http.response.bytes"));
        Assert.Equal("acme", Get(e, "organization.id"));
        Assert.Equal("acme-echo", Get(e, "gateway.route.id"));
        Assert.Equal("127.0.0.1", Get(e, "source.ip"));
        Assert.Equal("audit-test/1.0", Get(e, "user_agent.original"));
        Assert.True(long.Parse(Get(e, "event.duration")!, System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.False(string.IsNullOrEmpty(Get(e, "event.id")));
        Assert.False(string.IsNullOrEmpty(Get(e, "@timestamp")));
        Assert.Null(Get(e, "user.name"));
    }

    [Theory]
    [InlineData("access_token=abc123&x=1", "access_token=REDACTED&x=1")]
    [InlineData("x=1&API_KEY=s3cr3t&sig=zz", "x=1&API_KEY=REDACTED&sig=REDACTED")]
    [InlineData("%70assword=hunter2", "%70assword=REDACTED")]
    [InlineData("tokens=ok&monkey=ok", "tokens=ok&monkey=ok")]
    public async Task CredentialLikeQueryValues_AreNotKeptInTheAuditTrail(string query, string recorded)
    {
        var marker = Guid.NewGuid().ToString("N");
        using var client = env.Gateway.Client("acme.localhost");
        // Sent verbatim, so an encoded name such as %70assword reaches the gateway encoded.
        var target = new Uri($"{client.BaseAddress}api/echo/{marker}?{query}", new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using (await client.GetAsync(target))
        {
        }

        var e = Assert.Single(await env.Gateway.Audit.WaitForAsync(e => Get(e, "url.path") == $"/api/echo/{marker}"));
        Assert.Equal(recorded, Get(e, "url.query"));
    }

    [Fact]
    public async Task RequestBodyBytes_AreCounted()
    {
        var payload = new byte[12_345];
        using var client = env.Gateway.Client("acme.localhost");
        using var response = await client.PostAsync("/upload", new ByteArrayContent(payload));
        response.EnsureSuccessStatusCode();

        var e = (await env.Gateway.Audit.WaitForAsync(e => Get(e, "url.path") == "/upload" && Get(e, "http.request.bytes") == "12345")).Last();
        Assert.Equal("POST", Get(e, "http.request.method"));
    }

    [Fact]
    public async Task BackendDown_IsAuditedAsAFailure()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var deadPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, Uri> { ["acme"] = new($"http://127.0.0.1:{deadPort}/"), ["globex"] = env.Globex.Address });
        using var client = gateway.Client("acme.localhost");

        using var response = await client.GetAsync("/api/orders");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var e = Assert.Single(await gateway.Audit.WaitForAsync(e => Get(e, "url.path") == "/api/orders"));
        Assert.Equal("502", Get(e, "http.response.status_code"));
        Assert.Equal("failure", Get(e, "event.outcome"));
        Assert.StartsWith("forwarder.", Get(e, "event.reason"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientAbort_IsAuditedWhenTheCallEnds()
    {
        var marker = Guid.NewGuid().ToString("N");
        using (var client = env.Gateway.Client("acme.localhost"))
        {
            using var response = await client.GetAsync($"/download?bytes=10000000000&m={marker}", HttpCompletionOption.ResponseHeadersRead);
            await using var body = await response.Content.ReadAsStreamAsync();
            Assert.True(await body.ReadAsync(new byte[65536]) > 0);
        }

        var e = Assert.Single(await env.Gateway.Audit.WaitForAsync(e => Get(e, "url.query") == $"bytes=10000000000&m={marker}"));
        Assert.Equal("aborted", Get(e, "event.reason"));
        Assert.Equal("failure", Get(e, "event.outcome"));
        Assert.True(long.Parse(Get(e, "http.response.bytes")!, System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Fact]
    public async Task AuditExportVerb_PrintsTheSpoolAsNdjson()
    {
        var marker = Guid.NewGuid().ToString("N");
        using var client = env.Gateway.Client("acme.localhost");
        using (await client.GetAsync($"/api/echo/{marker}"))
        {
        }

        await env.Gateway.Audit.WaitForAsync(e => Get(e, "url.path") == $"/api/echo/{marker}");
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await Gateway.Cli.CliVerbs.RunAsync(["audit", "export", "--spool-dir", env.Gateway.Audit.Directory], TextReader.Null, output, error);

        Assert.Equal(0, exit);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, l => JsonDocument.Parse(l).Dispose());
        Assert.Single(lines, l => l.Contains($"/api/echo/{marker}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SupportCall_ProducesExactlyOneEvent_TheSupportOne()
    {
        var api = env.Api;
        await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await api.TokenAsync("john", "tenant-user", "acme"), new { }, 201);
        var marker = Guid.NewGuid().ToString("N");
        using var client = env.Gateway.Client("acme.localhost");

        using var response = await GetAsync(client, $"/api/echo/{marker}", Basic("jill$john", JillPassword));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var e = Assert.Single(await env.Gateway.Audit.WaitForAsync(e => Get(e, "url.path") == $"/api/echo/{marker}"));
        Assert.Equal("support-request", Get(e, "event.action"));
        Assert.Equal("jill$john", Get(e, "user.name"));
        Assert.Equal("allowed", Get(e, "gateway.support.decision"));
        Assert.Equal("open", Get(e, "gateway.route.class"));
        Assert.Equal("denyData,denyConfig", Get(e, "gateway.support.isolation"));
    }
}

/// <summary>
/// When the spool fills: ordinary traffic stops at its own room (drops counted and shown) and cannot
/// crowd out the audit of support work; when even the security room is full, support calls are
/// refused and live support connections closed, but revocation always succeeds and is recorded.
/// </summary>
public sealed class AuditFullTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment
    {
        Backends = TestBackends.Shared,
        // 72 KiB of spool, of which 64 KiB only security events may use. Admission checks the spool
        // as written so far, so ordinary traffic can pass its 8 KiB by what the queue holds (at
        // most 18 ordinary events of ~3 KiB): the reserve is larger than that, whatever the timing.
        ExtraArgs = ["--Audit:SegmentMaxBytes=2048", "--Audit:SpoolMaxBytes=73728", "--Audit:SecurityReserveBytes=65536", "--Audit:QueueCapacity=20"],
    }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task OrdinaryTrafficFillingTheSpool_LeavesRoomForSupport_AndRevocationIsRecorded()
    {
        var api = _env.Api;
        await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await api.TokenAsync("john", "tenant-user", "acme"), new { denyData = false }, 201);
        var sink = _env.Gateway.Services.GetRequiredService<SpoolingAuditSink>();
        using var client = _env.Gateway.Client("acme.localhost");

        // No Elasticsearch is configured, so the spool only grows. Long queries and user agents,
        // as a flood would send them, are capped per event.
        await FillWithOrdinaryTrafficAsync(client, sink);

        var (_, health) = await _env.Gateway.ReadinessAsync();
        Assert.True(health.GetProperty("checks").GetProperty("audit").GetProperty("dropped").GetInt64() > 0);
        Assert.True(sink.SpoolBytes < 73728, $"ordinary traffic used the security room: {sink.SpoolBytes} bytes");

        // Support work is still admitted and recorded.
        var echo = await EchoAsync(client, Basic("jill$john", JillPassword));
        Assert.Equal("jill", Header(echo, "X-Gateway-Support-User"));

        var ann = await api.TokenAsync("ann", "tenant-admin", "acme");
        await api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", ann);
        await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-grants-revoked-all");
        Assert.All(_env.Gateway.Audit.Events().Where(e => AuditTrail.Get(e, "event.action") == "proxy-request"),
            e => Assert.True(e.GetRawText().Length < 4096, "an ordinary event is not capped"));
    }

    [Fact]
    public async Task SecurityRoomFull_SupportCallsGet503_LiveSupportClosed_RevocationStillSucceeds()
    {
        var api = _env.Api;
        await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await api.TokenAsync("john", "tenant-user", "acme"), new { denyData = false }, 201);
        var sink = _env.Gateway.Services.GetRequiredService<SpoolingAuditSink>();
        using var client = _env.Gateway.Client("acme.localhost");
        using var stream = await GetAsync(client, "/events?interval=10", Basic("jill$john", JillPassword));
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        await using var events = await stream.Content.ReadAsStreamAsync();

        await FillWithOrdinaryTrafficAsync(client, sink);
        // Support calls until the security room is full. A call may also meet a queue still full of
        // the flood's events, and get 503 for that: then it waits for the writer to empty the queue
        // (but for the stream's own reservation), and the loop goes on until the spool itself is full.
        for (var i = 0; i < 200 && sink.AcceptsSupportEvents; i++)
        {
            using var support = await GetAsync(client, $"/api/echo/support-{i}?{new string('q', 1000)}", Basic("jill$john", JillPassword));
            if (support.StatusCode != HttpStatusCode.OK)
            {
                Assert.Equal("audit.unavailable", await ManagementClient.ProblemCodeAsync(support, 503));
                Assert.True(await sink.State.Written.WaitUntilAsync(() => sink.State.QueueLength <= 1, TimeSpan.FromSeconds(10), TimeProvider.System), "the audit queue did not drain");
            }
        }

        Assert.False(sink.AcceptsSupportEvents, "the security room never filled");
        using (var refused = await GetAsync(client, "/api/echo/support-refused", Basic("jill$john", JillPassword)))
        {
            Assert.Equal("audit.unavailable", await ManagementClient.ProblemCodeAsync(refused, 503));
        }

        Assert.True(await StreamEndsWithinAsync(events, TimeSpan.FromSeconds(10)), "a live support stream stayed open while support calls could not be audited");

        var ann = await api.TokenAsync("ann", "tenant-admin", "acme");
        var revoked = await api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", ann);
        Assert.Single(revoked.GetProperty("revoked").EnumerateArray());
        await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-grants-revoked-all");

        using var stillOrdinary = await client.GetAsync("/api/echo/after");
        Assert.Equal(HttpStatusCode.OK, stillOrdinary.StatusCode);
    }

    private static async Task FillWithOrdinaryTrafficAsync(HttpClient client, SpoolingAuditSink sink)
    {
        var padding = new string('x', 8000);
        for (var i = 0; i < 2000 && sink.Dropped == 0; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/echo/fill-{i}?q={padding}");
            request.Headers.TryAddWithoutValidation("User-Agent", padding);
            using var ordinary = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, ordinary.StatusCode);
        }

        Assert.True(sink.Dropped > 0, "the spool never filled");
    }
}
