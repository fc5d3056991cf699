namespace Gateway.Auditing;

/// <summary>
/// Which part of the spool an event may use. Ordinary traffic cannot consume the room kept for
/// security events, so a flood of anonymous requests can never stop support calls, grant changes
/// or revocations from being recorded.
/// </summary>
internal enum AuditRoom
{
    /// <summary>Ordinary traffic and other attacker-triggerable events (failed logins): up to the spool cap minus the security reserve.</summary>
    Ordinary,

    /// <summary>Support calls, logins, grant and configuration changes: up to the whole spool cap.</summary>
    Security,
}

/// <summary>
/// Where audit events go. Nothing here waits on Elasticsearch.
/// <list type="bullet">
/// <item><see cref="TryReserve"/> holds room for one security event before an audited action is
/// allowed to happen (a support call, a grant change); no reservation means the action is refused
/// (503 <c>audit.unavailable</c>) rather than done unrecorded.</item>
/// <item><see cref="ReserveAccessReduction"/> is for actions that reduce access (revocation, disable,
/// ending a session, logout): they are never refused for the audit's sake; their event goes past
/// every cap, and is logged loudly if it cannot be written.</item>
/// <item><see cref="TryWrite"/> is for events whose action already happened or cannot be refused
/// (ordinary traffic): false means the event was dropped, which the sink counts and reports.</item>
/// </list>
/// </summary>
internal interface IAuditSink
{
    bool TryWrite(AuditEvent auditEvent, AuditRoom room);

    /// <summary>Room for one security event, or null when the sink cannot take it now.</summary>
    IAuditReservation? TryReserve();

    /// <summary>Room for the event of an action that reduces access: always granted.</summary>
    IAuditReservation ReserveAccessReduction();

    /// <summary>Whether support calls can be audited now; while not, live support connections are closed too.</summary>
    bool AcceptsSupportEvents { get; }

    /// <summary>
    /// Called for an admitted support request just before it is forwarded: per <c>Audit:WriteAhead</c>
    /// (by default every write and every upgrade), its <c>support-request-started</c> record is
    /// written and fsynced first (docs/audit.md, "Write-ahead"). Completes synchronously, doing
    /// nothing, for requests out of scope (reads, by default). False: the record could not be made
    /// durable within <c>Audit:WriteAheadTimeout</c>, and the request must be refused (503
    /// <c>audit.unavailable</c>), never forwarded unrecorded.
    /// </summary>
    ValueTask<bool> WriteAheadAsync(HttpContext context, bool upgrade);
}

/// <summary>Room held for one event: <see cref="Complete"/> it with the event (always accepted), or dispose it unused.</summary>
internal interface IAuditReservation : IDisposable
{
    void Complete(AuditEvent auditEvent);
}
