using System.Text.Json;

namespace Gateway.Auditing;

/// <summary>
/// The audit seam's interim implementation: each event as one structured log line (event id
/// 1900) through Serilog. Replaced by the durable spool and Elasticsearch shipper.
/// </summary>
internal sealed partial class LoggingAuditSink(ILogger<LoggingAuditSink> logger) : IAuditSink
{
    public bool TryWrite(AuditEvent auditEvent)
    {
        LogAudit(logger, auditEvent.Action, auditEvent.Tenant, auditEvent.UserName, auditEvent.Outcome,
            JsonSerializer.Serialize(auditEvent, AuditJsonContext.Default.AuditEvent));
        return true;
    }

    [LoggerMessage(EventId = 1900, Level = LogLevel.Information, Message = "Audit {Action} tenant={Tenant} user={User} outcome={Outcome} {Event}")]
    private static partial void LogAudit(ILogger logger, string action, string? tenant, string? user, string outcome, string @event);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(AuditEvent))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(
    DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class AuditJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
