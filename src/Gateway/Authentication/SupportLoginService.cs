using System.Security.Claims;
using System.Text.Json;
using Gateway.Auditing;
using Gateway.Grants;
using Gateway.Problems;
using Gateway.Tenancy;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

/// <summary>
/// The per-request decision for support logins (PRODUCT.md §3–§4), shared by HTTP Basic, the
/// login endpoint and session tokens: credentials → support user permitted for the tenant →
/// an active grant or platform enablement → the target user. Every "no" is a problem with a
/// stable code; the store being unavailable is 503, never "allowed".
/// </summary>
internal sealed partial class SupportLoginService(
    SupportUserDirectory directory,
    SupportCredentialVerifier verifier,
    LoginThrottle throttle,
    SupportAccessReader reader,
    IOptions<TenancyOptions> tenancy,
    IAuditSink audit,
    TimeProvider time,
    ILogger<SupportLoginService> logger)
{
    /// <summary>Checks a support login name and password for a tenant.</summary>
    public async Task<SupportDecision> LoginAsync(SupportLoginName name, string password, string tenant, HttpContext context)
    {
        var client = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        if (throttle.IsBlocked(name.SupportUser, client, out var retryAfter))
        {
            AuditLogin(context, name.Who, name.SupportUser, tenant, "failure", "support.login.rate_limited");
            return SupportDecision.Refuse(ProblemCode.SupportLoginRateLimited, retryAfter: retryAfter);
        }

        var check = verifier.Verify(name.SupportUser, password);
        if (check.Status != CredentialCheckStatus.Valid || check.User is null)
        {
            throttle.RecordFailure(name.SupportUser, client);
            AuditLogin(context, name.Who, name.SupportUser, tenant, "failure", "support.login.invalid");
            LogLoginFailed(logger, tenant, client);
            return SupportDecision.Refuse(ProblemCode.SupportLoginInvalid);
        }

        return await AuthorizeAsync(check.User, name.TargetUser, tenant, SupportCredentialKind.Basic, sessionId: null, context);
    }

    /// <summary>Checks a validated session token's claims against the current directory, tenant and grants.</summary>
    public async Task<SupportDecision> AuthorizeSessionAsync(SessionTokenClaims claims, string tenant, HttpContext context)
    {
        if (claims is not { TargetUser: { } target, Tenant: { } tokenTenant, SessionId: { } sessionId, SupportUser: { } supportUserName })
        {
            return SupportDecision.Refuse(ProblemCode.SupportSessionInvalid);
        }

        if (tokenTenant != tenant)
        {
            return SupportDecision.Refuse(ProblemCode.SupportSessionWrongTenant);
        }

        // The directory may have changed since the token was issued: the user must still exist.
        if (!directory.TryFind(supportUserName, out var user))
        {
            return SupportDecision.Refuse(ProblemCode.SupportSessionInvalid);
        }

        return await AuthorizeAsync(user, target, tenant, SupportCredentialKind.SessionToken, sessionId, context);
    }

    private async Task<SupportDecision> AuthorizeAsync(SupportUser user, string? target, string tenant, SupportCredentialKind kind, string? sessionId, HttpContext context)
    {
        if (!user.IsPermittedFor(tenant))
        {
            AuditLogin(context, $"{user.Name}${target}", user.Name, tenant, "failure", "support.not_permitted");
            return SupportDecision.Refuse(ProblemCode.SupportNotPermitted);
        }

        var result = await reader.GetAsync(tenant, context.RequestAborted);
        if (result.Access is not { } access)
        {
            return SupportDecision.Refuse(ProblemCode.GrantStoreUnavailable);
        }

        if (!access.IsActive || (sessionId is not null && access.IsSessionRevoked(sessionId)))
        {
            AuditLogin(context, $"{user.Name}${target}", user.Name, tenant, "failure", "support.no_grant");
            return SupportDecision.Refuse(ProblemCode.SupportNoGrant, access.DeniedBy);
        }

        // jill$ acts as a grant's grantor (the longest-running grant that names one), else the tenant's designated admin.
        target ??= access.Entries.Where(e => e.Grantor is not null).OrderByDescending(e => e.Until).Select(e => e.Grantor).FirstOrDefault()
            ?? tenancy.Value.Tenants[tenant].DesignatedAdmin;
        if (target is null)
        {
            return SupportDecision.Refuse(ProblemCode.SupportNoTarget);
        }

        return SupportDecision.Allow(new SupportSessionFeature(tenant, user.Name, target, access, kind, sessionId));
    }

    public void AuditLogin(HttpContext context, string who, string supportUser, string tenant, string outcome, string? reason, string? sessionId = null, string action = "support-login")
    {
        var separator = who.IndexOf('$', StringComparison.Ordinal);
        audit.TryWrite(new AuditEvent
        {
            Timestamp = time.GetUtcNow(),
            Category = "authentication",
            Action = action,
            Outcome = outcome,
            Reason = reason,
            UserName = who,
            UserId = supportUser,
            TargetUserName = separator >= 0 && separator < who.Length - 1 ? who[(separator + 1)..] : null,
            Tenant = tenant,
            SourceIp = context.Connection.RemoteIpAddress?.ToString(),
            TraceId = System.Diagnostics.Activity.Current?.TraceId.ToString(),
            Details = sessionId is null ? null : new Dictionary<string, string?> { ["sessionId"] = sessionId },
        });
    }

    public void AuditLogout(HttpContext context, ClaimsPrincipal principal, string tenant, string sessionId)
    {
        var supportUser = SessionTokenClaims.ActorSubject(principal.FindFirst("act")?.Value) ?? "(unknown)";
        AuditLogin(context, $"{supportUser}${principal.FindFirst("sub")?.Value}", supportUser, tenant, "success", null, sessionId, action: "support-logout");
    }

    [LoggerMessage(EventId = 1610, Level = LogLevel.Warning, Message = "Support login failed for tenant {Tenant} from {Client}")]
    private static partial void LogLoginFailed(ILogger logger, string tenant, string client);
}

/// <summary>The outcome of a support decision: the session to forward, or the problem to answer with.</summary>
internal sealed record SupportDecision(SupportSessionFeature? Session, ProblemCode? Problem, string? Detail, TimeSpan? RetryAfter)
{
    public static SupportDecision Allow(SupportSessionFeature session) => new(session, null, null, null);

    public static SupportDecision Refuse(ProblemCode problem, string? detail = null, TimeSpan? retryAfter = null) => new(null, problem, detail, retryAfter);
}
