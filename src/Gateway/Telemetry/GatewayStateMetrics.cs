using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Auditing;
using Gateway.Authentication;
using Gateway.Grants;
using Gateway.Routing;
using Gateway.Sessions;

namespace Gateway.Telemetry;

/// <summary>
/// The gateway's state as observable instruments on its meter: read from the live objects when
/// metrics are collected (a scrape, an OTLP export), never per request. Also counts the hot
/// reloads of the configuration files from their own events. Created when the host starts.
/// </summary>
internal sealed class GatewayStateMetrics(
    GatewayMetrics metrics,
    SessionTracker sessions,
    LoginThrottle throttle,
    IGrantStore grants,
    AuditSpoolState audit,
    ElasticsearchShipper shipper,
    RouteConfigFileProvider routes,
    SupportUserDirectory supportUsers) : IHostedService
{
    public const string RoutesFile = "routes";
    public const string SupportUsersFile = "support-users";

    private int _started;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return Task.CompletedTask;
        }

        var meter = metrics.Meter;
        meter.CreateObservableUpDownCounter(
            "gateway.support.sessions.active", () => sessions.ActiveCount, "{session}",
            "Support sessions this instance is serving (not ended). Summed over instances, a session used on two counts twice.");
        meter.CreateObservableUpDownCounter(
            "gateway.support.login.throttled_clients", () => throttle.TrackedClients, "{client}",
            "Clients (an IPv6 client is its /64) with failed support logins in the current window, held by the login throttle.");
        meter.CreateObservableGauge(
            "gateway.grant_store.available", () => grants.InvalidationsConnected ? 1 : 0, unit: null,
            "1 while the grant store answers and its invalidations are heard (Redis: the subscription, probed every second); 0 means support requests get 503 or go uncached.");
        meter.CreateObservableUpDownCounter(
            "gateway.audit.queue.length", () => audit.QueueLength, "{event}",
            "Audit events taken but not yet in the spool (reservations of admitted support calls included).");
        meter.CreateObservableUpDownCounter(
            "gateway.audit.spool.size", () => audit.SpoolBytes, "By",
            "Bytes of audit spool segments on disk (shipped segments are deleted).");
        meter.CreateObservableCounter(
            "gateway.audit.events", ObserveAuditEvents, "{event}",
            "Audit events by state: accepted (taken), dropped (ordinary events past the queue or spool), spooled (on disk), shipped (Elasticsearch has them), dead_lettered.");
        if (shipper.Enabled)
        {
            meter.CreateObservableGauge(
                "gateway.audit.shipping.lag", () => audit.CommitMarks.Lag(shipper.Checkpoint, Stopwatch.GetTimestamp()).TotalSeconds, "s",
                "Age of the oldest spooled audit event Elasticsearch does not have yet; 0 when shipping has caught up.");
        }

        routes.Applied += OnRoutesApplied;
        routes.Rejected += OnRoutesRejected;
        supportUsers.Applied += OnSupportUsersApplied;
        supportUsers.Rejected += OnSupportUsersRejected;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        routes.Applied -= OnRoutesApplied;
        routes.Rejected -= OnRoutesRejected;
        supportUsers.Applied -= OnSupportUsersApplied;
        supportUsers.Rejected -= OnSupportUsersRejected;
        return Task.CompletedTask;
    }

    private Measurement<long>[] ObserveAuditEvents() =>
    [
        new(audit.Accepted, new KeyValuePair<string, object?>(GatewayMetrics.AuditStateTag, "accepted")),
        new(audit.Dropped, new KeyValuePair<string, object?>(GatewayMetrics.AuditStateTag, "dropped")),
        new(audit.Spooled, new KeyValuePair<string, object?>(GatewayMetrics.AuditStateTag, "spooled")),
        new(audit.Shipped, new KeyValuePair<string, object?>(GatewayMetrics.AuditStateTag, "shipped")),
        new(audit.DeadLettered, new KeyValuePair<string, object?>(GatewayMetrics.AuditStateTag, "dead_lettered")),
    ];

    private void OnRoutesApplied(RouteTable table) => metrics.ConfigReload(RoutesFile, applied: true);

    private void OnRoutesRejected(RouteConfigException error) => metrics.ConfigReload(RoutesFile, applied: false);

    private void OnSupportUsersApplied(long generation) => metrics.ConfigReload(SupportUsersFile, applied: true);

    private void OnSupportUsersRejected(IReadOnlyList<string> errors) => metrics.ConfigReload(SupportUsersFile, applied: false);
}
