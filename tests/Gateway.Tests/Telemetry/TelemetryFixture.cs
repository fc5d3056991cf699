using System.Diagnostics.Metrics;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Telemetry;

/// <summary>
/// One gateway for the metrics tests: Redis grants (so grant-store calls are real Redis calls),
/// audit shipped to an Elasticsearch double, and a management listener. Shared by the tests of
/// one class, which run one after another; each test reads only what it caused (a
/// <c>MetricCollector</c> created at its start, or counters compared before and after).
/// </summary>
public sealed class TelemetryFixture : IAsyncLifetime
{
    private ElasticsearchDouble? _elasticsearch;
    private TestEnvironment? _env;

    public int ManagementPort { get; } = LoopbackPorts.Reserve();

    public TestEnvironment Env => _env ?? throw new InvalidOperationException("not started");

    internal ElasticsearchDouble Elasticsearch => _elasticsearch ?? throw new InvalidOperationException("not started");

    internal GatewayHost Gateway => Env.Gateway;

    internal IMeterFactory Meters => Gateway.Services.GetRequiredService<IMeterFactory>();

    public async Task InitializeAsync()
    {
        _elasticsearch = await ElasticsearchDouble.StartAsync();
        _env = await new TestEnvironment
        {
            WithRedis = true,
            MintTokens = true,
            Backends = TestBackends.Shared,
            ExtraArgs =
            [
                $"--Gateway:ManagementUrls=http://127.0.0.1:{ManagementPort}",
                $"--Audit:Elasticsearch:Url={_elasticsearch.Url}",
                "--Audit:Elasticsearch:MinBackoff=00:00:00.050",
                "--Audit:Elasticsearch:MaxBackoff=00:00:00.500",
                "--Audit:Elasticsearch:BatchMaxDelay=00:00:00.050",
            ],
        }.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_env is not null)
        {
            await _env.DisposeAsync();
        }

        if (_elasticsearch is not null)
        {
            await _elasticsearch.DisposeAsync();
        }
    }
}
