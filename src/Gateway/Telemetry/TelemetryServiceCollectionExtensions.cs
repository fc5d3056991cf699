using System.Diagnostics.Metrics;
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
    /// <summary>
    /// Built-in meters of the platform, added by name: ASP.NET Core hosting (request duration;
    /// active requests are dropped, see DroppedPerRequestInstruments), Kestrel (connections, TLS handshakes), routing and the exception
    /// handler; HttpClient (YARP's forwards and the gateway's own calls: System.Net.Http) and
    /// name resolution; the runtime (GC, thread pool). YARP 2.x has no meter of its own (its
    /// counters are an EventSource, read with dotnet-counters): the forward to the backend is
    /// measured by System.Net.Http, and traced by YARP's activity source.
    /// </summary>
    internal static readonly string[] BuiltInMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics",
        "System.Net.Http",
        "System.Net.NameResolution",
        "System.Runtime",
    ];

    /// <summary>
    /// Per-request platform instruments not exported: each costs a measurement on every proxied
    /// request (the benchmark's D-basic against D-notel showed telemetry at 6.7 % of the support
    /// path's throughput with them), and each is derivable or of little use here: active requests
    /// (the request-duration histograms' counts and the thread pool say as much), the connection
    /// pool's queue time, and routing's match attempts (every gateway request matches a route or
    /// the fallback). The request-duration histograms of server and client stay.
    /// </summary>
    internal static readonly string[] DroppedPerRequestInstruments =
    [
        "http.server.active_requests",
        "http.client.active_requests",
        "http.client.request.time_in_queue",
        "aspnetcore.routing.match_attempts",
    ];

    /// <summary>YARP's activity source: the forwarding step of a proxied request.</summary>
    private const string YarpActivitySource = "Yarp.ReverseProxy";

    /// <summary>The scrape endpoint on the management listener (no token: the port is the operators').</summary>
    public const string ManagementListenerPath = "/metrics";

    /// <summary>The scrape endpoint on the tenant-facing listener, under the reserved prefix (platform-admin token).</summary>
    public const string TenantListenerPath = "/_gateway/metrics";

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
                    .AddMeter(BuiltInMeters)
                    .AddGatewayScrapeExporter();
                ((IDeferredMeterProviderBuilder)metrics).Configure((provider, builder) =>
                {
                    // Meters are subscribed to by name, process-wide. Meters made by another host's
                    // meter factory in the same process (several gateways and apps in one test
                    // process) are that host's: dropped, or two hosts' series would collide. With
                    // one gateway per process (production) this drops nothing.
                    var ours = provider.GetRequiredService<IMeterFactory>();
                    builder.AddView(instrument =>
                        (instrument.Meter.Scope is IMeterFactory factory && !ReferenceEquals(factory, ours))
                        || DroppedPerRequestInstruments.Contains(instrument.Name, StringComparer.Ordinal)
                            ? MetricStreamConfiguration.Drop
                            : null);
                });
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
                        && !context.Request.Path.StartsWithSegments(TenantListenerPath, StringComparison.OrdinalIgnoreCase);
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
    /// <c>/metrics</c> on the management listener, without a token: that port is the operators'
    /// and is never published to tenants (answered before tenant resolution, since its host
    /// names are nobody's tenant). Nothing when telemetry is off (the listener then answers 404).
    /// </summary>
    public static WebApplication UseGatewayMetricsOnManagementListener(this WebApplication app)
    {
        if (app.Services.GetService<MetricsScrape>() is not { } scrape)
        {
            return app;
        }

        var listener = app.Services.GetRequiredService<ManagementListener>();
        var handler = scrape.Handler(app);
        app.Use(next => context =>
            listener.IsManagementRequest(context) && context.Request.Path.Equals(ManagementListenerPath, StringComparison.OrdinalIgnoreCase)
                ? handler(context)
                : next(context));
        return app;
    }

    /// <summary>
    /// <c>/_gateway/metrics</c> on the tenant-facing listener: platform admins only (401 without a
    /// token, 403 with another role, as problems). Under the reserved prefix, so a tenant app's
    /// own <c>/metrics</c> is still proxied to it; never anonymous where tenants can reach it,
    /// since the series name tenants, refusal codes and the state of the audit trail.
    /// </summary>
    public static RouteGroupBuilder MapGatewayMetrics(this RouteGroupBuilder gateway, IEndpointRouteBuilder endpoints)
    {
        if (endpoints.ServiceProvider.GetService<MetricsScrape>() is { } scrape)
        {
            var handler = scrape.Handler(endpoints.CreateApplicationBuilder());
            gateway.MapGet(TenantListenerPath["/_gateway".Length..], handler).RequireAuthorization(ManagementPolicies.PlatformAdmin);
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
