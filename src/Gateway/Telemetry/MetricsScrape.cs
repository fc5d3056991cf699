namespace Gateway.Telemetry;

/// <summary>
/// Answers a metrics scrape (Prometheus text) wherever the gateway decides to serve one; who may
/// read it is the caller's decision (<see cref="TelemetryServiceCollectionExtensions"/>). Registered
/// by the exporter (<see cref="PrometheusScraping.AddGatewayScrapeExporter"/>); absent when
/// telemetry is switched off, and then there is no scrape endpoint.
/// </summary>
internal sealed class MetricsScrape(Action<IApplicationBuilder> configureBranch)
{
    private RequestDelegate? _handler;

    /// <summary>Builds the exporter's request pipeline once, on the app's services.</summary>
    public RequestDelegate Handler(IApplicationBuilder app)
    {
        if (_handler is null)
        {
            var branch = app.New();
            configureBranch(branch);
            _handler = branch.Build();
        }

        return _handler;
    }
}
