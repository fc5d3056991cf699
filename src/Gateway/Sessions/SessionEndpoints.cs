using System.Globalization;
using System.Text.RegularExpressions;
using Gateway.Auditing;
using Gateway.Management;
using Gateway.Problems;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Sessions;

/// <summary>
/// Support sessions as records the tenant can see: the list (newest first, cursor-paged), one
/// session with its calls read back from the audit, its post-session report (JSON, text, HTML),
/// and a tenant admin ending one now. The platform admin lists across tenants.
/// </summary>
internal static partial class SessionEndpoints
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 200;

    public static RouteGroupBuilder MapSessionEndpoints(this RouteGroupBuilder gateway)
    {
        var management = gateway.MapGroup("").AddEndpointFilter<NoStoreFilter>();
        var tenant = management.MapGroup("/tenants/{tenant}/support/sessions").RequireAuthorization(ManagementPolicies.TenantAdmin);
        tenant.MapGet("", ListTenantAsync);
        tenant.MapGet("/{id}", GetAsync);
        tenant.MapGet("/{id}/report", ReportAsync);
        tenant.MapDelete("/{id}", EndAsync);
        management.MapGet("/platform/support/sessions", ListPlatformAsync).RequireAuthorization(ManagementPolicies.PlatformAdmin);
        return gateway;
    }

    private static Task<Results<Ok<SessionListView>, GatewayProblem>> ListTenantAsync(
        string tenant, string? status, string? supportUser, string? from, string? to, string? cursor, string? limit, ISessionStore store, CancellationToken cancellationToken) =>
        ListAsync(tenant, status, supportUser, from, to, cursor, limit, store, cancellationToken);

    private static Task<Results<Ok<SessionListView>, GatewayProblem>> ListPlatformAsync(
        string? tenant, string? status, string? supportUser, string? from, string? to, string? cursor, string? limit, ISessionStore store, CancellationToken cancellationToken) =>
        ListAsync(string.IsNullOrEmpty(tenant) ? null : tenant, status, supportUser, from, to, cursor, limit, store, cancellationToken);

    private static async Task<Results<Ok<SessionListView>, GatewayProblem>> ListAsync(
        string? tenant, string? status, string? supportUser, string? from, string? to, string? cursor, string? limit, ISessionStore store, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        if (status is not (null or "" or "active" or "all"))
        {
            errors.Add("status: 'active' or 'all'.");
        }

        var fromAt = Instant(from, "from", errors);
        var toAt = Instant(to, "to", errors);
        var size = Limit(limit, DefaultLimit, "limit", errors);
        if (!string.IsNullOrEmpty(cursor) && !IsSessionCursor(cursor))
        {
            errors.Add("cursor: not a cursor this API gave.");
        }

        if (supportUser is { Length: > 128 })
        {
            errors.Add("supportUser: at most 128 characters.");
        }

        if (errors.Count > 0)
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, string.Join(" ", errors));
        }

        var page = await store.ListAsync(
            new SessionQuery(tenant, status == "active", string.IsNullOrEmpty(supportUser) ? null : supportUser, fromAt, toAt, string.IsNullOrEmpty(cursor) ? null : cursor, size),
            cancellationToken);
        return TypedResults.Ok(new SessionListView([.. page.Sessions.Select(SessionView.From)], page.NextCursor));
    }

    private static async Task<Results<Ok<SessionDetailView>, GatewayProblem>> GetAsync(
        string tenant, string id, string? callsCursor, string? callsLimit, ISessionStore store, ISessionCallSource calls, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        var size = Limit(callsLimit, DefaultLimit, "callsLimit", errors);
        if (!CallCursor.TryParse(callsCursor, out var offset))
        {
            errors.Add("callsCursor: not a cursor this API gave.");
        }

        if (errors.Count > 0)
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, string.Join(" ", errors));
        }

        if (!IsSessionId(id) || await store.GetAsync(tenant, id, cancellationToken) is not { } record)
        {
            return GatewayProblem.Create(ProblemCode.SessionNotFound);
        }

        try
        {
            var page = await calls.ReadAsync(tenant, id, offset, size, cancellationToken);
            return TypedResults.Ok(new SessionDetailView(SessionView.From(record), record.RecordedWrites, record.WritesTruncated, page, null));
        }
        catch (SessionCallsUnavailableException ex)
        {
            // The record stands on its own; only the call list waits for the audit to answer.
            return TypedResults.Ok(new SessionDetailView(SessionView.From(record), record.RecordedWrites, record.WritesTruncated, null, ex.Message));
        }
    }

    private static async Task<IResult> ReportAsync(HttpContext http, string tenant, string id, string? format, ISessionStore store, CancellationToken cancellationToken)
    {
        var chosen = format ?? FromAccept(http.Request.Headers.Accept.ToString());
        if (chosen is not ("json" or "text" or "html"))
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, "format: 'json', 'text' or 'html'.");
        }

        if (!IsSessionId(id) || await store.GetAsync(tenant, id, cancellationToken) is not { } record)
        {
            return GatewayProblem.Create(ProblemCode.SessionNotFound);
        }

        if (record.Report is not { } report)
        {
            return GatewayProblem.Create(ProblemCode.SessionActive);
        }

        return chosen switch
        {
            "text" => TypedResults.Text(SessionReportText.Text(report), "text/plain; charset=utf-8"),
            "html" => TypedResults.Text(SessionReportText.Html(report), "text/html; charset=utf-8"),
            _ => TypedResults.Json(report, SessionsJsonContext.Default.SessionReport),
        };
    }

    /// <summary>
    /// A tenant admin ends a session now. Like every action that reduces access it always
    /// succeeds for the caller: when the store cannot record the end now, this instance refuses
    /// the session at once and keeps retrying (202); other instances follow when it lands.
    /// </summary>
    private static async Task<Results<NoContent, Accepted<SessionEndedView>, GatewayProblem>> EndAsync(
        string tenant, string id, ManagementCaller caller, ISessionStore store, SessionTracker sessions, IAuditSink audit, TimeProvider time, CancellationToken cancellationToken) =>
        await EndNowAsync(tenant, id, caller, store, sessions, audit, time, cancellationToken) switch
        {
            SessionEndNow.NotFound => GatewayProblem.Create(ProblemCode.SessionNotFound),
            SessionEndNow.Pending => TypedResults.Accepted($"/_gateway/tenants/{tenant}/support/sessions/{id}", new SessionEndedView(id, tenant, "ending", SessionEndReasons.EndedByAdmin, Pending: true)),
            _ => TypedResults.NoContent(),
        };

    /// <summary>
    /// A tenant admin ends a session now (the endpoint and the Sessions page). Like every action
    /// that reduces access it always succeeds for the caller: when the store cannot record the end
    /// now, this instance refuses the session at once and keeps retrying (pending).
    /// </summary>
    internal static async Task<SessionEndNow> EndNowAsync(
        string tenant, string id, ManagementCaller caller, ISessionStore store, SessionTracker sessions, IAuditSink audit, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!IsSessionId(id))
        {
            return SessionEndNow.NotFound;
        }

        SupportSessionRecord? record;
        try
        {
            record = await store.GetAsync(tenant, id, cancellationToken);
            if (record is null)
            {
                return SessionEndNow.NotFound;
            }

            if (!record.IsActive)
            {
                return SessionEndNow.AlreadyEnded;
            }
        }
        catch (Grants.GrantStoreUnavailableException)
        {
            record = null;
        }

        using var room = audit.ReserveAccessReduction();
        var ended = await sessions.EndAsync(tenant, id, SessionEndReasons.EndedByAdmin, caller.Subject, CancellationToken.None);
        room.Complete(new AuditEvent
        {
            Timestamp = time.GetUtcNow(),
            Category = "session",
            Action = "support-session-ended",
            Outcome = ended ? "success" : "unknown", // recorded locally, to reach the store on a retry
            UserName = caller.Subject,
            UserId = caller.Subject,
            UserRoles = [.. caller.Roles],
            Tenant = tenant,
            TargetUserName = record?.TargetUser,
            SessionId = id,
            Details = new Dictionary<string, string?> { ["supportUser"] = record?.SupportUser, ["reason"] = SessionEndReasons.EndedByAdmin },
        });
        return ended ? SessionEndNow.Ended : SessionEndNow.Pending;
    }

    private static string FromAccept(string accept) =>
        accept.Contains("text/html", StringComparison.OrdinalIgnoreCase) ? "html"
        : accept.Contains("text/plain", StringComparison.OrdinalIgnoreCase) ? "text"
        : "json";

    private static DateTimeOffset? Instant(string? value, string name, List<string> errors)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return at;
        }

        errors.Add($"{name}: an ISO 8601 date and time, e.g. 2026-11-28T09:00:00Z.");
        return null;
    }

    private static int Limit(string? value, int fallback, string name, List<string> errors)
    {
        if (string.IsNullOrEmpty(value))
        {
            return fallback;
        }

        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= MaxLimit)
        {
            return limit;
        }

        errors.Add($"{name}: a whole number from 1 to {MaxLimit}.");
        return fallback;
    }

    private static bool IsSessionCursor(string cursor)
    {
        try
        {
            return SessionCursor.Parse(cursor) is not null;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Session ids are <c>s_</c> and 32 hex digits (those of tokens issued before records are accepted too).</summary>
    internal static bool IsSessionId(string id) => SessionIdPattern().IsMatch(id);

    [GeneratedRegex("^[A-Za-z0-9_-]{8,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex SessionIdPattern();
}

/// <summary>What ending a session now did.</summary>
internal enum SessionEndNow
{
    NotFound,
    AlreadyEnded,
    Ended,

    /// <summary>Refused on this instance at once; the store records the end on a retry.</summary>
    Pending,
}
