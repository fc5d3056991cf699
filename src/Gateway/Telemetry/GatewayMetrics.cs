using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Problems;
using Gateway.Routing;

namespace Gateway.Telemetry;

/// <summary>
/// The gateway's one <see cref="Meter"/> (<see cref="MeterName"/>, created from the host's
/// <see cref="IMeterFactory"/>) and the instruments the request path and the stores record
/// into. Names follow the OpenTelemetry conventions (dotted, unit in <c>Unit</c>); Prometheus
/// sees them with underscores and unit and <c>_total</c> suffixes (docs/telemetry.md lists both).
/// Recording costs no allocation: tags are a <see cref="TagList"/> of constant strings, and an
/// instrument nobody listens to is skipped. Instruments that report state (queue lengths,
/// availability, active sessions) are observable: <see cref="GatewayStateMetrics"/>.
/// </summary>
internal sealed class GatewayMetrics
{
    /// <summary>The meter's name (Prometheus label <c>otel_scope_name</c>), also the gateway's <see cref="ActivitySource"/>.</summary>
    public const string MeterName = "Gateway";

    // Tag (attribute) names: the Prometheus labels are the same with dots as underscores.
    public const string DecisionTag = "gateway.support.decision";
    public const string CodeTag = "gateway.support.code";
    public const string RouteClassTag = "gateway.route.class";
    public const string LoginOutcomeTag = "gateway.support.login.outcome";
    public const string GrantStoreOperationTag = "gateway.grant_store.operation";
    public const string GrantStoreOutcomeTag = "gateway.grant_store.outcome";
    public const string GrantStoreSourceTag = "gateway.grant_store.source";
    public const string AuditStateTag = "gateway.audit.state";
    public const string AuditOutcomeTag = "gateway.audit.outcome";
    public const string ConfigFileTag = "gateway.config.file";
    public const string ConfigOutcomeTag = "gateway.config.outcome";

    /// <summary>Route class of a support request on an endpoint without a compiled policy (refused, fail closed).</summary>
    public const string NoRouteClass = "none";

    // Seconds, from well under a millisecond (a loopback Redis) to past the default 200 ms budget.
    private static readonly double[] StoreBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5];

    // Seconds: a _bulk request takes milliseconds to its timeout (30 s by default).
    private static readonly double[] ShippingBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private readonly Counter<long> _supportRequests;
    private readonly Counter<long> _logins;
    private readonly Histogram<double> _grantStoreDuration;
    private readonly Counter<long> _grantStoreReads;
    private readonly Histogram<double> _invalidationLag;
    private readonly Histogram<double> _auditBulkDuration;
    private readonly Counter<long> _configReloads;

    public GatewayMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        _supportRequests = Meter.CreateCounter<long>(
            "gateway.support.requests", "{request}",
            "Support requests decided by the gateway, by decision (allowed, denied), route class and refusal code.");
        _logins = Meter.CreateCounter<long>(
            "gateway.support.logins", "{login}",
            "Support logins (the login endpoint, the sign-in page and each HTTP Basic support request), by outcome: success, failure (wrong password or code), throttled, busy, mfa_required, unavailable.");
        _grantStoreDuration = Meter.CreateHistogram(
            "gateway.grant_store.duration", "s",
            "Duration of grant-store calls to Redis, by operation and outcome (ok, unavailable, cancelled).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StoreBuckets });
        _grantStoreReads = Meter.CreateCounter<long>(
            "gateway.grant_store.reads", "{read}",
            "Support-access lookups of the request path, by where the answer came from (cache, store).");
        _invalidationLag = Meter.CreateHistogram(
            "gateway.grant_store.invalidation.lag", "s",
            "From sending a grant change to hearing its invalidation back on the subscription (the path other instances hear it by).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StoreBuckets });
        _auditBulkDuration = Meter.CreateHistogram(
            "gateway.audit.shipping.duration", "s",
            "Duration of each _bulk request shipping audit events to Elasticsearch, by outcome (ok, failed, too_large).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ShippingBuckets });
        _configReloads = Meter.CreateCounter<long>(
            "gateway.config.reloads", "{reload}",
            "Hot reloads of a configuration file (routes, support-users), by outcome (applied, rejected).");
    }

    /// <summary>The gateway's meter; <see cref="GatewayStateMetrics"/> adds its observable instruments to it.</summary>
    public Meter Meter { get; }

    /// <summary>A support request was decided: <paramref name="refusal"/> null means allowed.</summary>
    public void SupportRequest(RouteClass? routeClass, ProblemCode? refusal)
    {
        if (!_supportRequests.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { DecisionTag, refusal is null ? "allowed" : "denied" },
            { RouteClassTag, routeClass?.ToConfigName() ?? NoRouteClass },
        };
        if (refusal is not null)
        {
            tags.Add(CodeTag, refusal.Value);
        }

        _supportRequests.Add(1, in tags);
    }

    /// <summary>A support password check ended: <see cref="LoginOutcome"/>.</summary>
    public void Login(string outcome)
    {
        if (_logins.Enabled)
        {
            _logins.Add(1, new KeyValuePair<string, object?>(LoginOutcomeTag, outcome));
        }
    }

    /// <summary>A grant-store call to Redis ended (<see cref="GrantStoreOutcome"/>), begun at <paramref name="startedTimestamp"/> (<see cref="Stopwatch"/>).</summary>
    public void GrantStoreCall(string operation, string outcome, long startedTimestamp)
    {
        if (_grantStoreDuration.Enabled)
        {
            _grantStoreDuration.Record(
                Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds,
                new KeyValuePair<string, object?>(GrantStoreOperationTag, operation),
                new KeyValuePair<string, object?>(GrantStoreOutcomeTag, outcome));
        }
    }

    /// <summary>The request path looked up a tenant's support access: from its cache, or from the store.</summary>
    public void GrantStoreRead(bool fromCache)
    {
        if (_grantStoreReads.Enabled)
        {
            _grantStoreReads.Add(1, new KeyValuePair<string, object?>(GrantStoreSourceTag, fromCache ? "cache" : "store"));
        }
    }

    public void InvalidationLag(TimeSpan lag)
    {
        if (_invalidationLag.Enabled)
        {
            _invalidationLag.Record(lag.TotalSeconds);
        }
    }

    /// <summary>One <c>_bulk</c> request ended (<c>ok</c>, <c>failed</c>, <c>too_large</c>), begun at <paramref name="startedTimestamp"/>.</summary>
    public void AuditBulkRequest(string outcome, long startedTimestamp)
    {
        if (_auditBulkDuration.Enabled)
        {
            _auditBulkDuration.Record(
                Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds,
                new KeyValuePair<string, object?>(AuditOutcomeTag, outcome));
        }
    }

    /// <summary>A hot-reloaded configuration file (<c>routes</c>, <c>support-users</c>) was applied or rejected.</summary>
    public void ConfigReload(string file, bool applied) =>
        _configReloads.Add(
            1,
            new KeyValuePair<string, object?>(ConfigFileTag, file),
            new KeyValuePair<string, object?>(ConfigOutcomeTag, applied ? "applied" : "rejected"));
}

/// <summary>Values of <see cref="GatewayMetrics.LoginOutcomeTag"/>.</summary>
internal static class LoginOutcome
{
    public const string Success = "success";
    public const string Failure = "failure";
    public const string Throttled = "throttled";
    public const string Busy = "busy";
    public const string MfaRequired = "mfa_required";
    public const string Unavailable = "unavailable";
}

/// <summary>Values of <see cref="GatewayMetrics.GrantStoreOutcomeTag"/>.</summary>
internal static class GrantStoreOutcome
{
    public const string Ok = "ok";
    public const string Unavailable = "unavailable";
    public const string Cancelled = "cancelled";
}
