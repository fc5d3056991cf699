using Microsoft.Extensions.Options;

namespace Gateway.Telemetry;

/// <summary>
/// The <c>Telemetry</c> section (docs/telemetry.md). Metrics are always recorded into the
/// gateway's meter; these settings say what is exported. The OpenTelemetry SDK's own
/// <c>OTEL_*</c> variables (e.g. <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, <c>OTEL_EXPORTER_OTLP_HEADERS</c>,
/// <c>OTEL_METRIC_EXPORT_INTERVAL</c>) work as documented by OpenTelemetry.
/// </summary>
internal sealed record TelemetryOptions
{
    public const string SectionName = "Telemetry";

    /// <summary>Exports metrics (Prometheus scrape endpoint, OTLP) and traces (OTLP). Off: nothing is exported and <c>/metrics</c> is 404.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>The <c>service.name</c> resource attribute of everything exported.</summary>
    public string ServiceName { get; init; } = "support-gateway";

    public TelemetryTracesOptions Traces { get; init; } = new();

    public TelemetryOtlpOptions Otlp { get; init; } = new();
}

internal sealed record TelemetryTracesOptions
{
    /// <summary>Share of new traces recorded (0 to 1); a request that arrives with a trace context follows its caller's decision.</summary>
    public double SampleRatio { get; init; } = 1.0;
}

internal sealed record TelemetryOtlpOptions
{
    /// <summary>
    /// The collector's base address (e.g. <c>http://otel-collector:4318</c>); empty: the
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> variable, and without either nothing is sent by OTLP.
    /// With <c>http/protobuf</c> the signal paths (<c>/v1/traces</c>, <c>/v1/metrics</c>) are appended.
    /// </summary>
    public string? Endpoint { get; init; }

    /// <summary><c>grpc</c> or <c>http/protobuf</c>; empty: <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, else gRPC.</summary>
    public string? Protocol { get; init; }
}

internal sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    public static readonly string[] Protocols = ["grpc", "http/protobuf"];

    public ValidateOptionsResult Validate(string? name, TelemetryOptions o)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(o.ServiceName))
        {
            failures.Add("Telemetry:ServiceName: not empty.");
        }

        if (double.IsNaN(o.Traces.SampleRatio) || o.Traces.SampleRatio is < 0 or > 1)
        {
            failures.Add("Telemetry:Traces:SampleRatio: from 0 to 1.");
        }

        if (!string.IsNullOrWhiteSpace(o.Otlp.Endpoint) && TelemetryServiceCollectionExtensions.ParseEndpoint(o.Otlp.Endpoint) is null)
        {
            // Not quoted: an address may carry credentials.
            failures.Add("Telemetry:Otlp:Endpoint: not an absolute http(s) address without user information, query or fragment.");
        }

        if (!string.IsNullOrWhiteSpace(o.Otlp.Protocol) && !Protocols.Contains(o.Otlp.Protocol, StringComparer.Ordinal))
        {
            failures.Add($"Telemetry:Otlp:Protocol: '{o.Otlp.Protocol}' is not one of {string.Join(", ", Protocols)}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
