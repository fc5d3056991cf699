using OpenTelemetry.Metrics;

namespace Gateway.Telemetry;

/// <summary>
/// The Prometheus text exposition of the gateway's metrics. <b>The only file that names
/// OpenTelemetry.Exporter.Prometheus.AspNetCore</b>, which exists as a pre-release only
/// (docs/dependencies.md): replacing it (another exporter, a collector scraping OTLP) means
/// changing these three methods and nothing else. Where the endpoint is served and who may
/// read it is decided by the callers (<see cref="TelemetryServiceCollectionExtensions"/>).
/// </summary>
internal static class PrometheusScraping
{
    /// <summary>Adds the exporter to the meter provider: it collects when scraped (nothing runs between scrapes).</summary>
    public static MeterProviderBuilder AddGatewayPrometheusExporter(this MeterProviderBuilder metrics) =>
        metrics.AddPrometheusExporter();

    /// <summary>Answers the requests <paramref name="predicate"/> picks with the scrape, before anything after it in the pipeline.</summary>
    public static IApplicationBuilder UseGatewayPrometheusScraping(this IApplicationBuilder app, Func<HttpContext, bool> predicate) =>
        app.UseOpenTelemetryPrometheusScrapingEndpoint(meterProvider: null, predicate, path: null, configureBranchedPipeline: null, optionsName: null);

    /// <summary>An endpoint serving the scrape at <paramref name="path"/> (authorization is the caller's).</summary>
    public static IEndpointConventionBuilder MapGatewayPrometheusScraping(this IEndpointRouteBuilder endpoints, string path) =>
        endpoints.MapPrometheusScrapingEndpoint(path);
}
