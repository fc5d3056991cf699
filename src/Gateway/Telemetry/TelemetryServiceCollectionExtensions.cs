using Gateway.Hosting;
using Gateway.Management;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gateway.Telemetry;

/// <summary>
/// Metrics and traces with OpenTelemetry (docs/telemetry.md): the gateway's meter and its
/// observable state, ASP.NET Core, Kestrel, HttpClient and .NET runtime metrics, a Prometheus
/// scrape endpoint, and OTLP export of metrics and traces when a collector is configured.
/// </summary>
internal static class TelemetryServiceCollectionExtensions
{
    /// <summary>The runtime's own meter (GC, thread pool, exceptions): built into .NET 9 and later.</summary>
    private const string RuntimeMeter = "System.Runtime";

    /// <summary>YARP's activity source: the forwarding step of a proxied request.</summary>
    private const string YarpActivitySource = "Yarp.ReverseProxy";

    /// <summary>The path of the scrape endpoint on the tenant-facing listener (platform-admin token required).</summary>
    public const string TenantListenerPath = "/metrics";

    /// <summary>The path of the scrape endpoint on the management listener (no token: the port is the operators').</summary>
    public const string ManagementListenerPath = "/metrics";

    public static IServiceCollection AddGatewayTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<TelemetryOptions>()
            .Bind(configuration.GetSection(TelemetryOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<TelemetryOptions>, TelemetryOptionsValidator>();

        // Always there, exported or not: the request path records into them, tests read them.
        services.AddMetrics();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<GatewayStateMetrics>();
        services.AddHostedService(sp => sp.GetRequiredService<GatewayStateMetrics>());

        // What is exported is decided here, from the raw settings; wrong values are reported by
        // the validator at start (the registration below never throws on them).
        var settings = Read(configuration);
        if (!settings.Enabled)
        {
            return services;
        }

        var otlp = OtlpSettings(configuration, settings);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(settings.ServiceName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(GatewayMetrics.MeterName)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddMeter(RuntimeMeter)
                    .AddGatewayPrometheusExporter();
                if (otlp is not null)
                {
                    metrics.AddOtlpExporter(o => otlp.Apply(o, "v1/metrics"));
                }
            });

        // Traces go nowhere without a collector: without one no tracer provider is built, and
        // nothing per request pays for spans.
        if (otlp is not null)
        {
            telemetry.WithTracing(tracing => tracing
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(SampleRatio(settings))))
                .AddSource(GatewayTracing.SourceName, YarpActivitySource)
                .AddAspNetCoreInstrumentation(o =>
                {
                    // Probes and scrapes are not worth a trace each.
                    o.Filter = context => !context.Request.Path.StartsWithSegments("/_gateway/health", StringComparison.OrdinalIgnoreCase)
                        && !context.Request.Path.StartsWithSegments(ManagementListenerPath, StringComparison.OrdinalIgnoreCase)
                        && !context.Request.Path.StartsWithSegments("/_gateway" + TenantListenerPath, StringComparison.OrdinalIgnoreCase);
                })
                .AddHttpClientInstrumentation(o =>
                {
                    // Calls inside a request (the forward to the backend, a discovery fetch) join its
                    // trace; background ones (audit shipping every second) would each be a new trace.
                    o.FilterHttpRequestMessage = _ => System.Diagnostics.Activity.Current is not null;
                })
                .AddOtlpExporter(o => otlp.Apply(o, "v1/traces")));
        }

        return services;
    }

    /// <summary>
    /// The metrics scrape endpoint on both listeners: <c>/metrics</c> on the management listener
    /// without a token (before tenant resolution: that listener's host names are nobody's tenant),
    /// and <c>/_gateway/metrics</c> on the tenant-facing one for platform admins only. Never
    /// anonymous where tenants can reach it.
    /// </summary>
    public static WebApplication UseGatewayMetricsOnManagementListener(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<TelemetryOptions>>().Value.Enabled)
        {
            var listener = app.Services.GetRequiredService<ManagementListener>();
            app.UseGatewayPrometheusScraping(context =>
                listener.IsManagementRequest(context) && context.Request.Path.Equals(ManagementListenerPath, StringComparison.OrdinalIgnoreCase));
        }

        return app;
    }

    /// <summary><c>/_gateway/metrics</c> on the tenant-facing listener: a platform-admin management token, else 401/403 problems.</summary>
    public static RouteGroupBuilder MapGatewayMetrics(this RouteGroupBuilder gateway, IServiceProvider services)
    {
        if (services.GetRequiredService<IOptions<TelemetryOptions>>().Value.Enabled)
        {
            gateway.MapGatewayPrometheusScraping(TenantListenerPath).RequireAuthorization(ManagementPolicies.PlatformAdmin);
        }

        return gateway;
    }

    /// <summary>An OTLP endpoint, if one is configured: <c>Telemetry:Otlp:Endpoint</c> first, then <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>.</summary>
    private static OtlpTarget? OtlpSettings(IConfiguration configuration, TelemetryOptions settings)
    {
        var protocol = settings.Otlp.Protocol switch
        {
            "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
            "grpc" => OtlpExportProtocol.Grpc,
            _ => (OtlpExportProtocol?)null,
        };
        if (ParseEndpoint(settings.Otlp.Endpoint) is { } endpoint)
        {
            return new OtlpTarget(endpoint, protocol);
        }

        // The SDK reads the OTEL_* variables itself (from the configuration, so the command line works too).
        return string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]) ? null : new OtlpTarget(null, protocol);
    }

    /// <summary>The validator refuses a ratio outside 0..1 at start; until then the sampler must not throw.</summary>
    private static double SampleRatio(TelemetryOptions settings) =>
        double.IsNaN(settings.Traces.SampleRatio) ? 1.0 : Math.Clamp(settings.Traces.SampleRatio, 0, 1);

    /// <summary>An absolute http(s) address without user information, query or fragment; null otherwise.</summary>
    internal static Uri? ParseEndpoint(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            && uri.UserInfo.Length == 0 && uri.Query.Length == 0 && uri.Fragment.Length == 0
            ? uri
            : null;

    /// <summary>The settings as far as they can be read; defaults for what cannot (the validator names it at start).</summary>
    private static TelemetryOptions Read(IConfiguration configuration)
    {
        try
        {
            return configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        }
        catch (InvalidOperationException)
        {
            return new TelemetryOptions();
        }
    }

    private sealed record OtlpTarget(Uri? Endpoint, OtlpExportProtocol? Protocol)
    {
        public void Apply(OtlpExporterOptions options, string signalPath)
        {
            if (Protocol is { } protocol)
            {
                options.Protocol = protocol;
            }

            if (Endpoint is { } endpoint)
            {
                // Set in code, the endpoint is used as given: http/protobuf needs the signal's path.
                options.Endpoint = options.Protocol == OtlpExportProtocol.HttpProtobuf
                    ? new Uri(endpoint.AbsoluteUri.TrimEnd('/') + "/" + signalPath)
                    : endpoint;
            }
        }
    }
}
