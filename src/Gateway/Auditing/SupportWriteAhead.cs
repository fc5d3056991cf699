namespace Gateway.Auditing;

/// <summary>
/// The support write-ahead (docs/audit.md, "Write-ahead"): before an admitted support request in
/// scope is forwarded, its <c>support-request-started</c> record — everything known before
/// forwarding — is made durable (<see cref="SpoolingAuditSink.TryWriteDurableAsync"/>), and the
/// call's own event will name it (<c>gateway.support.started_id</c>). If the gateway dies before
/// that event is written, the next start finds the record without a completion and writes an
/// <c>outcome: unknown</c> event for it. Out of scope (reads, by default) it costs nothing: no
/// allocation, no wait.
/// </summary>
internal sealed partial class SupportWriteAhead(SpoolingAuditSink sink, AuditOptions options, TimeProvider time, ILogger logger)
{
    public ValueTask<bool> BeforeForwardingAsync(HttpContext context, bool upgrade) =>
        Applies(options.WriteAhead, context.Request.Method, upgrade) ? new ValueTask<bool>(WriteAsync(context)) : ValueTask.FromResult(true);

    /// <summary>Whether a request of <paramref name="method"/> gets a write-ahead record under <paramref name="scope"/>.</summary>
    internal static bool Applies(AuditWriteAhead scope, string method, bool upgrade) => scope switch
    {
        AuditWriteAhead.Off => false,
        AuditWriteAhead.All => true,
        // Unknown methods count as writes, as in the route policy.
        _ => upgrade || !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)),
    };

    private async Task<bool> WriteAsync(HttpContext context)
    {
        // Only admitted requests come here; without their record there is nothing to write: fail closed.
        if (context.Features.Get<ProxyCallRecord>() is not { Session: not null } record)
        {
            return false;
        }

        var started = ProxyAuditMiddleware.Started(context, record, time);
        var outcome = await sink.TryWriteDurableAsync(started, options.WriteAheadTimeout, context.RequestAborted);
        if (outcome != DurableWrite.Refused)
        {
            // Taken: it may be on disk even if unconfirmed, so the call's event must complete it.
            record.WriteAheadStarted(started.Id);
        }

        if (outcome == DurableWrite.Durable)
        {
            return true;
        }

        if (outcome != DurableWrite.Cancelled)
        {
            sink.State.CountWriteAheadRefused(time.GetUtcNow());
            LogNotDurable(logger, outcome, started.Tenant, started.UserName, started.HttpMethod, options.WriteAheadTimeout);
        }

        return false;
    }

    [LoggerMessage(EventId = 1924, Level = LogLevel.Error,
        Message = "Support {Method} by {User} in {Tenant} refused: its write-ahead audit record was not durable ({Outcome}; budget {Timeout})")]
    private static partial void LogNotDurable(ILogger logger, DurableWrite outcome, string? tenant, string? user, string? method, TimeSpan timeout);
}
