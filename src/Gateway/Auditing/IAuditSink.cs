namespace Gateway.Auditing;

/// <summary>
/// Where audit events go. <see cref="TryWrite"/> never blocks on the downstream store; false
/// means the event could not be accepted, and the caller must refuse the audited action
/// rather than let it happen unrecorded.
/// </summary>
internal interface IAuditSink
{
    bool TryWrite(AuditEvent auditEvent);
}
