using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Auditing;
using Gateway.Grants;

namespace Gateway.Policy;

/// <summary>One recorded support request whose decision would change under the candidate routes.</summary>
internal sealed record ReplayChange(
    DateTimeOffset? At,
    string Tenant,
    string Method,
    string Path,
    string Isolation,
    string? RecordedRoute,
    string RecordedDecision,
    string? RecordedCode,
    string? CandidateRoute,
    string? CandidateClass,
    string CandidateDecision,
    string? CandidateCode,
    string Reason);

/// <summary>The changes of one (tenant, route) pair: the route the request matched before, or under the candidate when it matched none before.</summary>
internal sealed record ReplayGroup(string Tenant, string? Route, int NowRefused, int NowAllowed, IReadOnlyList<ReplayChange> Changes);

/// <summary>
/// What a replay found: how many support requests were recorded, decided again, left aside (their
/// refusal did not depend on routes, or the event lacks what deciding needs), and the changes by tenant and route.
/// </summary>
internal sealed record ReplayReport(int Events, int SupportRequests, int Replayed, int NotReplayable, int Changed, IReadOnlyList<ReplayGroup> Groups)
{
    public bool AnyChange => Changed > 0;
}

/// <summary>
/// Policy replay: every recorded support request (ECS audit events, as <c>audit export</c> or an
/// Elasticsearch export writes them) decided again by <see cref="PolicyExplainer"/> over candidate
/// routes, under the isolation it was decided under, to show an operator which requests a routes
/// edit would turn from allowed to refused or back before the edit is applied. Requests refused
/// for reasons routes cannot change (no grant, an ended session, a bad login) are left aside.
/// </summary>
internal static class PolicyReplay
{
    /// <summary>Refusals a different route policy could have decided otherwise.</summary>
    private static readonly HashSet<string> RouteDependentCodes = new(StringComparer.Ordinal)
    {
        "support.isolation.data", "support.isolation.config", "support.forbidden_route", "gateway.no_route",
    };

    /// <summary>Most changes listed per group (the counts stay exact).</summary>
    public const int MaxChangesPerGroup = 100;

    public static async Task<ReplayReport> RunAsync(PolicyExplainer candidate, IEnumerable<string> ndjson, CancellationToken cancellationToken)
    {
        int events = 0, support = 0, replayed = 0, notReplayable = 0, changed = 0;
        var groups = new Dictionary<(string Tenant, string? Route), List<ReplayChange>>();
        foreach (var line in ndjson)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            events++;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException)
            {
                notReplayable++;
                continue;
            }

            using (document)
            {
                // An Elasticsearch export wraps each event as { "_source": … }.
                var e = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("_source", out var source) ? source : document.RootElement;
                if (EcsDocument.Text(e, "event", "action") != "support-request")
                {
                    continue;
                }

                support++;
                var decision = EcsDocument.Text(e, "gateway", "support", "decision");
                var code = EcsDocument.Text(e, "event", "reason");
                var tenant = EcsDocument.Text(e, "organization", "id");
                var method = EcsDocument.Text(e, "http", "request", "method");
                var path = EcsDocument.Text(e, "url", "path");
                var isolation = EcsDocument.Text(e, "gateway", "support", "isolation");
                if (tenant is null || method is null || path is null || decision is not ("allowed" or "denied")
                    || (decision == "denied" && (code is null || !RouteDependentCodes.Contains(code)))
                    || !SupportAccess.TryParseIsolation(isolation, out var denyData, out var denyConfig))
                {
                    notReplayable++;
                    continue;
                }

                replayed++;
                var query = EcsDocument.Text(e, "url", "query");
                var target = query is null ? path : $"{path}?{query}";
                var answer = await candidate.ExplainAsync(tenant, method, target, denyData, denyConfig, cancellationToken: cancellationToken);
                if (answer.Allowed == (decision == "allowed"))
                {
                    continue;
                }

                changed++;
                var recordedRoute = EcsDocument.Text(e, "gateway", "route", "id");
                var key = (tenant, recordedRoute ?? answer.Route);
                if (!groups.TryGetValue(key, out var list))
                {
                    groups[key] = list = [];
                }

                list.Add(new ReplayChange(
                    e.TryGetProperty("@timestamp", out var at) && at.TryGetDateTimeOffset(out var time) ? time : null,
                    tenant, method, target, isolation!, recordedRoute, decision, code,
                    answer.Route, answer.Class, answer.Allowed ? "allowed" : "denied", answer.Code, answer.Reason));
            }
        }

        var report = groups
            .OrderBy(g => g.Key.Tenant, StringComparer.Ordinal).ThenBy(g => g.Key.Route, StringComparer.Ordinal)
            .Select(g => new ReplayGroup(
                g.Key.Tenant, g.Key.Route,
                g.Value.Count(c => c.CandidateDecision == "denied"),
                g.Value.Count(c => c.CandidateDecision == "allowed"),
                [.. g.Value.Take(MaxChangesPerGroup)]))
            .ToList();
        return new ReplayReport(events, support, replayed, notReplayable, changed, report);
    }

    /// <summary>The report for a terminal: one block per tenant and route, one line per changed request.</summary>
    public static void WriteText(ReplayReport report, TextWriter output)
    {
        output.WriteLine($"{report.Events} events, {report.SupportRequests} support requests, {report.Replayed} decided again, {report.NotReplayable} left aside (refused for reasons routes do not change, or incomplete).");
        if (!report.AnyChange)
        {
            output.WriteLine("No decision would change.");
            return;
        }

        output.WriteLine($"{report.Changed} decision(s) would change:");
        foreach (var group in report.Groups)
        {
            output.WriteLine();
            output.WriteLine($"tenant {group.Tenant}, route {group.Route ?? "(none)"}: {group.NowRefused} now refused, {group.NowAllowed} now allowed");
            foreach (var c in group.Changes)
            {
                output.WriteLine($"  {c.At:O} {c.Method} {c.Path} [{c.Isolation}]: {c.RecordedDecision}{Code(c.RecordedCode)} -> {c.CandidateDecision}{Code(c.CandidateCode)} (route {c.CandidateRoute ?? "(none)"}, class {c.CandidateClass ?? "-"}: {c.Reason})");
            }

            if (group.NowRefused + group.NowAllowed > group.Changes.Count)
            {
                output.WriteLine($"  … {group.NowRefused + group.NowAllowed - group.Changes.Count} more");
            }
        }

        static string Code(string? code) => code is null ? "" : $" ({code})";
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ReplayReport))]
internal sealed partial class PolicyReplayJsonContext : JsonSerializerContext;

/// <summary>The arguments the gateway was started with (a candidate gateway is built from the same).</summary>
internal sealed record GatewayStartArguments(IReadOnlyList<string> Args);

/// <summary>A gateway built (never started) from the running one's arguments with other routes: for replaying decisions.</summary>
internal static class CandidateGateway
{
    /// <summary>Throws <see cref="Hosting.GatewayConfigurationException"/> naming every problem of the candidate.</summary>
    public static Task<WebApplication> BuildAsync(IReadOnlyList<string> args, string routesFile) =>
        Hosting.GatewayApp.CreateAsync(
            [.. args, "--urls", "http://127.0.0.1:0", "--Gateway:Demo:HostSampleApps=false", "--Gateway:ManagementUrls=", $"--Gateway:Routing:RoutesFile={Path.GetFullPath(routesFile)}"],
            builder => builder.Logging.ClearProviders());
}
