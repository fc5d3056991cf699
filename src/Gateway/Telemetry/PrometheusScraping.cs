using OpenTelemetry.Metrics;

namespace Gateway.Telemetry;

/// <summary>
/// The Prometheus text exposition of the gateway's metrics. <b>The only place that names
/// OpenTelemetry.Exporter.Prometheus.AspNetCore</b>, which exists as a pre-release only
/// (docs/dependencies.md): <see cref="AddGatewayScrapeExporter"/> is the one extension method
/// to change to replace it (another exporter, a collector scraping OTLP). Everything else
/// serves the scrape through <see cref="MetricsScrape"/>, which knows no exporter.
/// </summary>
internal static class PrometheusScraping
{
    /// <summary>
    /// Adds the exporter to the meter provider (it collects when scraped: nothing runs between
    /// scrapes) and registers the <see cref="MetricsScrape"/> that answers a scrape request.
    /// </summary>
    public static MeterProviderBuilder AddGatewayScrapeExporter(this MeterProviderBuilder metrics) =>
        metrics
            .AddPrometheusExporter(o =>
            {
                // Every scrape collects afresh: an operator (or a test) reading right after a request sees it.
                o.ScrapeResponseCacheDurationMilliseconds = 0;
            })
            .ConfigureServices(services => services.AddSingleton(new MetricsScrape(branch =>
                branch.UseOpenTelemetryPrometheusScrapingEndpoint(meterProvider: null, predicate: static _ => true, path: null, configureBranchedPipeline: null, optionsName: null))));
}
