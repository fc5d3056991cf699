using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Gateway.Tests.Infrastructure.AuditTrail;

namespace Gateway.Tests.Auditing;

/// <summary>
/// The gateway process killed with SIGKILL while a support call is in flight — a PUT the upstream
/// is still working on, an open WebSocket — and started again on the same spool: the call's
/// write-ahead record was on disk before the upstream saw it, and the restart ships an
/// <c>outcome: unknown</c> event for it to Elasticsearch; a further restart adds none.
/// </summary>
public sealed class AuditWriteAheadCrashTests : IAsyncLifetime
{
    private const string Password = "crash-test-password";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TempConfigDirectory _config = new();
    private ElasticsearchDouble _elasticsearch = null!;

    private string Spool => Path.Combine(_config.LogDirectory, "spool");

    public async Task InitializeAsync()
    {
        _elasticsearch = await ElasticsearchDouble.StartAsync();
        // A test's own support user, with a fast hash: the test is about the audit, not PBKDF2.
        _config.WriteSupportUsers(("jill", Password));
    }

    public async Task DisposeAsync()
    {
        await _elasticsearch.DisposeAsync();
        _config.Dispose();
    }

    [Fact]
    public async Task KilledDuringASupportPut_TheRestartShipsAnUnknownOutcome_Once()
    {
        await using var upstream = await HeldBackend.StartAsync();
        string startedId;
        await using (var first = StartGateway(upstream.Address))
        {
            var port = (await first.ListeningAsync()).Port;
            await GrantAsync(port);
            using var client = LoopbackHttp.Client(port, "acme.localhost");
            using var put = new HttpRequestMessage(HttpMethod.Put, "/api/settings/theme?ticket=42") { Content = JsonContent.Create(new { value = "dark" }) };
            put.Headers.Authorization = SupportClient.Basic("jill$john", Password);
            var sending = client.SendAsync(put);

            Assert.Equal("PUT /api/settings/theme", await upstream.Arrived.WaitAsync(Deadline));
            // The upstream has the request: its record is already in the spool.
            var started = Assert.Single(new AuditTrail(Spool).Events(), e => Get(e, "event.action") == AuditActions.SupportRequestStarted);
            Assert.Equal("/api/settings/theme", Get(started, "url.path"));
            Assert.Equal("jill$john", Get(started, "user.name"));
            startedId = Get(started, "event.id")!;

            await first.KillAsync();
            await Assert.ThrowsAnyAsync<Exception>(() => sending);
        }

        var crashed = await RestartAndWaitForUnknownAsync(upstream.Address, startedId);
        Assert.Equal("PUT", Get(crashed, "http.request.method"));
        Assert.Equal("/api/settings/theme", Get(crashed, "url.path"));
        Assert.Equal("ticket=42", Get(crashed, "url.query"));
        Assert.Equal("jill$john", Get(crashed, "user.name"));
        Assert.Equal("jill", Get(crashed, "user.id"));
        Assert.Equal("john", Get(crashed, "user.target.name"));
        Assert.Equal("acme", Get(crashed, "organization.id"));
        Assert.Equal("acme-settings", Get(crashed, "gateway.route.id"));
        Assert.Equal("config", Get(crashed, "gateway.route.class"));
        Assert.NotNull(Get(crashed, "gateway.support.grant_ids"));

        await AssertNoSecondUnknownAsync(upstream.Address);
    }

    [Fact]
    public async Task KilledDuringAnOpenSupportWebSocket_TheRestartShipsAnUnknownOutcome()
    {
        await using var app = await SampleBackend.StartAsync("acme");
        string startedId;
        await using (var first = StartGateway(app.Address))
        {
            var port = (await first.ListeningAsync()).Port;
            await GrantAsync(port);
            using var cts = new CancellationTokenSource(Deadline);
            using var socket = new ClientWebSocket();
            socket.Options.SetRequestHeader("Authorization", SupportClient.Basic("jill$john", Password).ToString());
            await socket.ConnectAsync(new Uri($"ws://acme.localhost:{port}/ws"), new HttpMessageInvoker(LoopbackHttp.Handler(port)), cts.Token);
            await socket.SendAsync(Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text, true, cts.Token);
            var buffer = new byte[64];
            Assert.Equal("ping", Encoding.UTF8.GetString(buffer, 0, (await socket.ReceiveAsync(buffer, cts.Token)).Count));

            var started = Assert.Single(new AuditTrail(Spool).Events(), e => Get(e, "event.action") == AuditActions.SupportRequestStarted);
            Assert.Equal("/ws", Get(started, "url.path"));
            startedId = Get(started, "event.id")!;
            await first.KillAsync();
        }

        var crashed = await RestartAndWaitForUnknownAsync(app.Address, startedId);
        Assert.Equal("/ws", Get(crashed, "url.path"));
        Assert.Equal("acme-ws", Get(crashed, "gateway.route.id"));
        Assert.Equal("jill$john", Get(crashed, "user.name"));
    }

    /// <summary>Starts the gateway again on the spool; waits until Elasticsearch holds the unknown-outcome event of <paramref name="startedId"/>.</summary>
    private async Task<JsonElement> RestartAndWaitForUnknownAsync(Uri upstream, string startedId)
    {
        await using var second = StartGateway(upstream);
        await second.ListeningAsync();
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var crashed = Unknowns().Where(d => Get(d, "gateway.support.started_id") == startedId).ToList();
            if (crashed.Count > 0)
            {
                var e = Assert.Single(crashed);
                Assert.Equal(AuditActions.SupportRequest, Get(e, "event.action"));
                Assert.Equal(AuditEvent.DerivedId(startedId, AuditActions.CrashedReason), Get(e, "event.id"));
                Assert.Contains("1 support call(s) were in flight", second.StandardOutput, StringComparison.Ordinal);
                await second.KillAsync();
                return e;
            }

            Assert.True(watch.Elapsed < Deadline, $"no unknown-outcome event shipped; Elasticsearch holds {_elasticsearch.DocumentCount} documents\n{second.StandardOutput}");
            await _elasticsearch.WaitForDocumentsAsync(_elasticsearch.DocumentCount + 1, Deadline);
        }
    }

    /// <summary>A third start: its recovery finds the call completed (by the event the second start wrote) and writes nothing.</summary>
    private async Task AssertNoSecondUnknownAsync(Uri upstream)
    {
        await using var third = StartGateway(upstream);
        await third.ListeningAsync();
        var watch = Stopwatch.StartNew();
        // The writer logs where the chain continues once its start-up scan is done.
        while (!third.StandardOutput.Contains("continues after sequence", StringComparison.Ordinal))
        {
            Assert.True(watch.Elapsed < Deadline, third.StandardOutput);
            await Task.Delay(20);
        }

        Assert.DoesNotContain("were in flight", third.StandardOutput, StringComparison.Ordinal);
        Assert.Single(Unknowns());
        Assert.True(new AuditTrail(Spool).Events().Count(e => Get(e, "event.reason") == AuditActions.CrashedReason) <= 1);
    }

    private IEnumerable<JsonElement> Unknowns() =>
        _elasticsearch.Documents.Values.Select(d => JsonDocument.Parse(d).RootElement).Where(d => Get(d, "event.reason") == AuditActions.CrashedReason);

    private async Task GrantAsync(int port)
    {
        var john = await ManagementClient.MintTokenAsync(_config.Path, "john", "tenant-user", "acme");
        using var client = LoopbackHttp.Client(port, "localhost");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_gateway/tenants/acme/support/grants") { Content = JsonContent.Create(new { denyData = false, denyConfig = false }) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", john);
        using var response = await client.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
    }

    private GatewayProcess StartGateway(Uri acme) => GatewayProcess.Start(
    [
        "--config-dir", _config.Path,
        "--urls", "http://127.0.0.1:0",
        "--Gateway:Demo:HostSampleApps=false",
        $"--Serilog:WriteTo:File:Args:path={Path.Combine(_config.LogDirectory, "gateway-.log")}",
        $"--Audit:SpoolDirectory={Spool}",
        $"--Audit:Elasticsearch:Url={_elasticsearch.Url}",
        "--Audit:Elasticsearch:MinBackoff=00:00:00.050",
        "--Audit:Elasticsearch:MaxBackoff=00:00:00.500",
        "--Audit:Elasticsearch:BatchMaxDelay=00:00:00.100",
        $"--ReverseProxy:Clusters:acme:Destinations:primary:Address={acme}",
    ]);
}

/// <summary>An upstream that takes a request and never answers it: a slow backend mid-call.</summary>
internal sealed class HeldBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _release = new();
    private readonly TaskCompletionSource<string> _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HeldBackend(WebApplication app)
    {
        _app = app;
    }

    public Uri Address { get; private set; } = null!;

    /// <summary>Completes with "METHOD /path" of the first request to arrive.</summary>
    public Task<string> Arrived => _arrived.Task;

    public static async Task<HeldBackend> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var held = new HeldBackend(app);
        app.Run(async context =>
        {
            held._arrived.TrySetResult($"{context.Request.Method} {context.Request.Path}");
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, held._release.Token);
            try
            {
                await Task.Delay(Timeout.Infinite, linked.Token);
            }
            catch (OperationCanceledException)
            {
                // The caller went away (the gateway was killed), or the test is over.
            }
        });
        await app.StartAsync();
        held.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First() + "/");
        return held;
    }

    public async ValueTask DisposeAsync()
    {
        await _release.CancelAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _release.Dispose();
    }
}
