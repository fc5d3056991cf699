namespace Gateway.Auditing;

/// <summary>
/// Where audit events go. Nothing here waits on Elasticsearch.
/// <list type="bullet">
/// <item><see cref="TryReserve"/> holds room for one event before an audited action is allowed
/// to happen (a support call, a grant change); no reservation means the action is refused
/// (503 <c>audit.unavailable</c>) rather than done unrecorded.</item>
/// <item><see cref="TryWrite"/> is for events whose action already happened or cannot be
/// refused (ordinary traffic): false means the event was dropped, which the sink counts and
/// reports.</item>
/// </list>
/// </summary>
internal interface IAuditSink
{
    bool TryWrite(AuditEvent auditEvent);

    /// <summary>Room for one event, or null when the sink cannot take it now.</summary>
    IAuditReservation? TryReserve();
}

/// <summary>Room held for one event: <see cref="Complete"/> it with the event (always accepted), or dispose it unused.</summary>
internal interface IAuditReservation : IDisposable
{
    void Complete(AuditEvent auditEvent);
}
