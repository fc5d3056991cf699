using Gateway.Grants;
using Gateway.Sessions;

namespace Gateway.Events;

/// <summary>What happened, for whoever must be told (the webhook outbox): grants and support sessions.</summary>
internal static class SupportEventTypes
{
    public const string GrantCreated = "grant.created";
    public const string GrantRevoked = "grant.revoked";
    public const string GrantExpired = "grant.expired";
    public const string SessionStarted = "session.started";
    public const string SessionFirstWrite = "session.first_write";
    public const string SessionDenied = "session.denied";
    public const string SessionEnded = "session.ended";

    public static readonly IReadOnlyList<string> All =
        [GrantCreated, GrantRevoked, GrantExpired, SessionStarted, SessionFirstWrite, SessionDenied, SessionEnded];
}

/// <summary>One event: its type, tenant, when, and the record it is about (a grant, or a session with its report).</summary>
internal sealed record SupportEvent(string Type, string Tenant, DateTimeOffset At, SupportGrant? Grant = null, SupportSessionRecord? Session = null, string? Detail = null);

/// <summary>
/// In-process publication of support events. Publishing never blocks or throws into the caller
/// (a subscriber's failure is logged); delivery elsewhere is the subscribers' business.
/// </summary>
internal sealed partial class SupportEventBus(ILogger<SupportEventBus> logger)
{
    public event Action<SupportEvent>? Published;

    public void Publish(SupportEvent supportEvent)
    {
        foreach (var handler in Published?.GetInvocationList() ?? [])
        {
            try
            {
                ((Action<SupportEvent>)handler)(supportEvent);
            }
            catch (Exception ex)
            {
                LogSubscriberFailed(logger, supportEvent.Type, ex);
            }
        }
    }

    [LoggerMessage(EventId = 1700, Level = LogLevel.Error, Message = "A subscriber of support event {Type} failed")]
    private static partial void LogSubscriberFailed(ILogger logger, string type, Exception exception);
}
