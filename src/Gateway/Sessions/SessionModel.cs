using System.Text.Json.Serialization;

namespace Gateway.Sessions;

/// <summary>Why a support session ended. Recorded once; a session never begins again.</summary>
internal static class SessionEndReasons
{
    public const string Logout = "logout";
    public const string Expired = "expired";
    public const string Idle = "idle";
    public const string EndedByAdmin = "ended-by-admin";
    public const string GrantsEnded = "grants-ended";
    public const string CredentialsChanged = "credentials-changed";
}

/// <summary>One allowed write (a call with a method other than GET, HEAD or OPTIONS) of a session.</summary>
internal sealed record SessionWrite(DateTimeOffset At, string Method, string Path, int Status, string? RouteId);

/// <summary>How and when a session ended, and who ended it (a tenant admin, or the gateway).</summary>
internal sealed record SessionEnd(DateTimeOffset At, string Reason, string? By);

/// <summary>
/// A support session as the tenant sees it: who acted as whom, when, from where, under which
/// grants, what it did (counters, every allowed write up to a cap, routes touched) and how it
/// ended. Kept for the grant-history retention after its end.
/// </summary>
internal sealed record SupportSessionRecord
{
    public required string Id { get; init; }

    public required string Tenant { get; init; }

    public required string SupportUser { get; init; }

    public required string TargetUser { get; init; }

    /// <summary><c>basic</c> or <c>sessiontoken</c>.</summary>
    public required string Credential { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset LastActivityAt { get; init; }

    /// <summary>When the session token expires (token sessions).</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The effective isolation when the session began.</summary>
    public string? Isolation { get; init; }

    /// <summary>The grants (or <c>platform</c>, <c>tenant-override</c>) the session was admitted under; it ends when all have ended.</summary>
    public IReadOnlyList<string> AdmittedUnder { get; init; } = [];

    /// <summary>The users support could act as under the tenant's grants when the session began; null: every user.</summary>
    public IReadOnlyList<string>? Scope { get; init; }

    public IReadOnlyList<string> ClientAddresses { get; init; } = [];

    public string? UserAgent { get; init; }

    public SessionEnd? End { get; init; }

    public long Calls { get; init; }

    /// <summary>Allowed writes (every method but GET, HEAD and OPTIONS).</summary>
    public long Writes { get; init; }

    public long RequestBytes { get; init; }

    public long ResponseBytes { get; init; }

    public IReadOnlyDictionary<string, long> Denials { get; init; } = new Dictionary<string, long>();

    /// <summary>Route id → calls, for at most <see cref="SessionsOptions.MaxRoutes"/> routes.</summary>
    public IReadOnlyDictionary<string, long> Routes { get; init; } = new Dictionary<string, long>();

    /// <summary>Every allowed write, in order, up to <see cref="SessionsOptions.MaxRecordedWrites"/>.</summary>
    public IReadOnlyList<SessionWrite> RecordedWrites { get; init; } = [];

    /// <summary>More writes happened than were recorded one by one (the count is in <see cref="Writes"/>).</summary>
    public bool WritesTruncated { get; init; }

    public DateTimeOffset? FirstWriteAt { get; init; }

    public SessionReport? Report { get; init; }

    [JsonIgnore]
    public bool IsActive => End is null;
}

/// <summary>What happened in a session since the last flush, on one instance; flushes add up across instances.</summary>
internal sealed record SessionDelta
{
    public required string Tenant { get; init; }

    public required string Id { get; init; }

    public DateTimeOffset LastActivityAt { get; init; }

    public long Calls { get; init; }

    public long Writes { get; init; }

    public long RequestBytes { get; init; }

    public long ResponseBytes { get; init; }

    public Dictionary<string, long> Denials { get; init; } = [];

    public Dictionary<string, long> Routes { get; init; } = [];

    public List<string> ClientAddresses { get; init; } = [];

    public List<string> AdmittedUnder { get; init; } = [];

    public List<SessionWrite> NewWrites { get; init; } = [];

    /// <summary>For a Basic session: keeps its (user, target) key open for another idle timeout.</summary>
    public string? BasicKey { get; init; }

    public bool IsEmpty => Calls == 0 && Denials.Count == 0 && NewWrites.Count == 0 && AdmittedUnder.Count == 0;
}

/// <summary>The report written when a session ends (also rendered as text and HTML).</summary>
internal sealed record SessionReport(
    string SessionId,
    string Tenant,
    string SupportUser,
    string TargetUser,
    DateTimeOffset StartedAt,
    DateTimeOffset EndedAt,
    string EndReason,
    TimeSpan Duration,
    long Calls,
    long Writes,
    bool WritesTruncated,
    IReadOnlyList<SessionWrite> AllowedWrites,
    IReadOnlyDictionary<string, long> Denials,
    IReadOnlyDictionary<string, long> RoutesTouched)
{
    public static SessionReport From(SupportSessionRecord record, SessionEnd end) => new(
        record.Id, record.Tenant, record.SupportUser, record.TargetUser, record.StartedAt, end.At, end.Reason,
        end.At - record.StartedAt, record.Calls, record.Writes, record.WritesTruncated, record.RecordedWrites, record.Denials, record.Routes);
}

/// <summary>Which sessions to list: newest first, one page after <see cref="Cursor"/>.</summary>
internal sealed record SessionQuery(string? Tenant, bool ActiveOnly, string? SupportUser, DateTimeOffset? From, DateTimeOffset? To, string? Cursor, int Limit);

internal sealed record SessionPage(IReadOnlyList<SupportSessionRecord> Sessions, string? NextCursor);

/// <summary>A new session's record, as the request that starts it (a login, or a session's first call) describes it.</summary>
internal static class SessionRecords
{
    /// <param name="tenantAccess">The tenant's access when the session starts; the record keeps what covers <paramref name="target"/>.</param>
    public static SupportSessionRecord New(
        string id, string tenant, string supportUser, string target, string credential,
        Grants.SupportAccess tenantAccess, DateTimeOffset now, DateTimeOffset? expiresAt, HttpContext context)
    {
        var access = tenantAccess.ForTarget(target);
        return new SupportSessionRecord
        {
            Id = id,
            Tenant = tenant,
            SupportUser = supportUser,
            TargetUser = target,
            Credential = credential,
            StartedAt = now,
            LastActivityAt = now,
            ExpiresAt = expiresAt,
            Isolation = access.Isolation,
            AdmittedUnder = access.EntryKeys,
            Scope = tenantAccess.Scope,
            ClientAddresses = context.Connection.RemoteIpAddress is { } ip ? [ip.ToString()] : [],
            UserAgent = context.Request.Headers.UserAgent.ToString() is { Length: > 0 } agent ? Auditing.AuditValues.Cap(agent, 512) : null,
        };
    }
}
