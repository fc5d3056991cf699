using System.Net;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.AuditTrail;

namespace Gateway.Tests.Auditing;

/// <summary>The gateway process killed with SIGKILL while events wait in the spool: after a restart every one is delivered once.</summary>
public sealed class AuditCrashTests : IAsyncLifetime
{
    private const int Calls = 40;
    private readonly TempConfigDirectory _config = new();
    private SampleBackend _backend = null!;
    private ElasticsearchDouble _elasticsearch = null!;

    private string Spool => Path.Combine(_config.LogDirectory, "spool");

    public async Task InitializeAsync()
    {
        _backend = await SampleBackend.StartAsync("acme");
        _elasticsearch = await ElasticsearchDouble.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _elasticsearch.DisposeAsync();
        await _backend.DisposeAsync();
        _config.Dispose();
    }

    [Fact]
    public async Task KilledGateway_ShipsItsSpoolAfterRestart_WithNoDuplicates()
    {
        var marker = Guid.NewGuid().ToString("N");
        await _elasticsearch.StopListeningAsync(); // Elasticsearch is down: events stay in the spool

        await using (var first = StartGateway())
        {
            var address = await first.ListeningAsync();
            using var client = LoopbackHttp.Client(address.Port, "acme.localhost");
            for (var i = 0; i < Calls; i++)
            {
                using var response = await client.GetAsync($"/api/echo/crash?m={marker}&i={i}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            await new AuditTrail(Spool).WaitForAsync(e => Get(e, "url.query")?.StartsWith($"m={marker}", StringComparison.Ordinal) == true, Calls);
            await first.KillAsync();
        }

        await _elasticsearch.StartListeningAsync();
        await using var second = StartGateway();
        await second.ListeningAsync();

        await _elasticsearch.WaitForDocumentsAsync(Calls, TimeSpan.FromSeconds(30));
        var delivered = _elasticsearch.Documents.Values.Where(d => d.Contains(marker, StringComparison.Ordinal)).ToList();
        Assert.Equal(Calls, delivered.Count);
        var queries = delivered.Select(d => Get(System.Text.Json.JsonDocument.Parse(d).RootElement, "url.query")).ToHashSet();
        Assert.Equal(Calls, queries.Count);
        Assert.Equal(_elasticsearch.Documents.Count, _elasticsearch.Created);
    }

    private GatewayProcess StartGateway() => GatewayProcess.Start(
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
        $"--ReverseProxy:Clusters:acme:Destinations:primary:Address={_backend.Address}",
    ]);
}
