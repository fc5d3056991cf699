using System.Text.Json;

namespace Gateway.Auditing;

/// <summary>
/// An audit sink that writes each event as one structured log line (event id 1900). Used by
/// tests and as a fallback; the gateway's default sink is the durable spool.
/// </summary>
internal sealed partial class LoggingAuditSink(ILogger<LoggingAuditSink> logger) : IAuditSink
{
    public bool TryWrite(AuditEvent auditEvent)
    {
        LogAudit(logger, auditEvent.Action, auditEvent.Tenant, auditEvent.UserName, auditEvent.Outcome,
            JsonSerializer.Serialize(auditEvent, AuditJsonContext.Default.AuditEvent));
        return true;
    }

    public IAuditReservation? TryReserve() => new Reservation(this);

    [LoggerMessage(EventId = 1900, Level = LogLevel.Information, Message = "Audit {Action} tenant={Tenant} user={User} outcome={Outcome} {Event}")]
    private static partial void LogAudit(ILogger logger, string action, string? tenant, string? user, string outcome, string @event);

    private sealed class Reservation(LoggingAuditSink sink) : IAuditReservation
    {
        public void Complete(AuditEvent auditEvent) => sink.TryWrite(auditEvent);

        public void Dispose()
        {
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(AuditEvent))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(
    DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class AuditJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
