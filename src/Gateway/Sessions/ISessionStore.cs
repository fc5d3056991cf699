namespace Gateway.Sessions;

/// <summary>
/// Where support-session records live: Redis beside the grants (shared by every instance) or in
/// memory (the embedded default). One contract test suite runs against both. Every method either
/// completes or throws <see cref="Grants.GrantStoreUnavailableException"/>. The request path never
/// calls it in steady state: each instance aggregates in memory and flushes off the path.
/// </summary>
internal interface ISessionStore
{
    /// <summary>Records a new session (a token session at login); false when the id exists.</summary>
    Task<bool> StartAsync(SupportSessionRecord session, CancellationToken cancellationToken);

    /// <summary>
    /// The HTTP Basic session of (tenant, support user, target): the one still open (or ended by
    /// an admin within the last idle timeout, which keeps refusing), else <paramref name="candidate"/>,
    /// recorded now. The key stays open for <paramref name="idleTimeout"/> after each flush.
    /// </summary>
    Task<(SupportSessionRecord Session, bool Started)> OpenBasicAsync(SupportSessionRecord candidate, string basicKey, TimeSpan idleTimeout, CancellationToken cancellationToken);

    /// <summary>
    /// Lets (tenant, support user, target) start a new Basic session at once when <paramref name="id"/>
    /// ended for a reason the support user did not choose to be refused for (its grants ended, idle, expiry).
    /// </summary>
    Task ReleaseBasicAsync(string basicKey, string id, CancellationToken cancellationToken);

    Task<SupportSessionRecord?> GetAsync(string tenant, string id, CancellationToken cancellationToken);

    /// <summary>Adds a delta (counters add up across instances); true when it recorded the session's first write.</summary>
    Task<bool> FlushAsync(SessionDelta delta, TimeSpan idleTimeout, SessionsOptions limits, CancellationToken cancellationToken);

    /// <summary>Ends a session once; the record as it ended, or null when it had already ended or is unknown.</summary>
    Task<SupportSessionRecord?> EndAsync(string tenant, string id, SessionEnd end, DateTimeOffset retainUntil, CancellationToken cancellationToken);

    Task SaveReportAsync(string tenant, string id, SessionReport report, CancellationToken cancellationToken);

    /// <summary>Active sessions whose idle timeout or token expiry has passed.</summary>
    Task<IReadOnlyList<(string Tenant, string Id)>> DueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>When the earliest active session falls due (idle or expired); null when none is active.</summary>
    Task<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken);

    Task<SessionPage> ListAsync(SessionQuery query, CancellationToken cancellationToken);
}
