using Gateway.Authentication;
using Gateway.Routing;

namespace Gateway.Auditing;

/// <summary>
/// Audits changes to what the gateway enforces: every applied or rejected reload of the routes
/// (and their support classes) and of the support-user directory.
/// </summary>
internal sealed class ConfigurationAuditService(
    RouteConfigFileProvider routes,
    SupportUserDirectory directory,
    IAuditSink audit,
    TimeProvider time) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        routes.Applied += OnRoutesApplied;
        routes.Rejected += OnRoutesRejected;
        directory.Applied += OnDirectoryApplied;
        directory.Rejected += OnDirectoryRejected;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        routes.Applied -= OnRoutesApplied;
        routes.Rejected -= OnRoutesRejected;
        directory.Applied -= OnDirectoryApplied;
        directory.Rejected -= OnDirectoryRejected;
        return Task.CompletedTask;
    }

    private void OnRoutesApplied(RouteTable table) => Write("route-policy-reloaded", "success", null, new Dictionary<string, string?>
    {
        ["revision"] = table.RevisionId,
        ["routes"] = table.Routes.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
    });

    private void OnRoutesRejected(RouteConfigException error) =>
        Write("route-policy-reloaded", "failure", "config.invalid", new Dictionary<string, string?> { ["errors"] = string.Join(" | ", error.Errors) });

    private void OnDirectoryApplied(long generation) =>
        Write("support-directory-reloaded", "success", null, new Dictionary<string, string?> { ["generation"] = generation.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    private void OnDirectoryRejected(IReadOnlyList<string> errors) =>
        Write("support-directory-reloaded", "failure", "config.invalid", new Dictionary<string, string?> { ["errors"] = string.Join(" | ", errors) });

    private void Write(string action, string outcome, string? reason, IReadOnlyDictionary<string, string?> details) =>
        audit.TryWrite(
            new AuditEvent
            {
                Timestamp = time.GetUtcNow(),
                Category = "configuration",
                Action = action,
                Outcome = outcome,
                Reason = reason,
                Details = details,
            },
            AuditRoom.Security);
}
