using System.Security.Claims;
using Gateway.Auditing;
using Gateway.Hosting;
using Gateway.Problems;
using Gateway.SupportSessions;
using Gateway.Telemetry;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

/// <summary>Who a support request is: the support user, whom they asked to act as, and their session; or why that is not known.</summary>
/// <param name="CredentialFingerprint">A session token's record of the password it was issued under (null for Basic).</param>
/// <param name="SessionExpires">When a session token expires (null for Basic).</param>
internal readonly record struct SupportIdentity(SupportUser? User, string? RequestedTarget, string? SessionId, ProblemCode? Problem, TimeSpan? RetryAfter = null, string? CredentialFingerprint = null, DateTimeOffset? SessionExpires = null)
{
    /// <summary>With <see cref="ProblemCode.SupportLoginMfaRequired"/>: the platform requires a code, and the user has no authenticator enrolled.</summary>
    public bool MfaNotEnrolled { get; init; }

    public static SupportIdentity Refuse(ProblemCode problem, TimeSpan? retryAfter = null) => new(null, null, null, problem, retryAfter);
}

/// <summary>
/// Authentication of support requests and logins (who is this?), shared by HTTP Basic on proxied
/// requests, the login endpoint and session tokens. What they may do is decided afterwards, in
/// one place, by <see cref="Policy.SupportAuthorizer"/>. Failed logins are throttled and audited.
/// </summary>
internal sealed partial class SupportAuthenticator(
    SupportUserDirectory directory,
    SupportCredentialVerifier verifier,
    LoginThrottle throttle,
    SessionTokenCache sessionTokens,
    SupportMfa mfa,
    PasswordCheckPool passwordChecks,
    IAuditSink audit,
    GatewayMetrics metrics,
    TimeProvider time,
    ILogger<SupportAuthenticator> logger)
{
    private readonly LogRateLimit _failedLogins = new(time);
    private readonly LogRateLimit _busy = new(time);

    /// <summary>
    /// HTTP Basic on a proxied request: the login name and password (<see cref="CheckPassword"/>).
    /// A user who signs in with a second factor is refused here with
    /// <see cref="ProblemCode.SupportLoginMfaRequired"/>: a TOTP code is single-use, so it cannot
    /// ride along on every request of a Basic client; such clients exchange name, password and code
    /// for a session token at the login endpoint instead (docs/mfa.md).
    /// </summary>
    public async Task<SupportIdentity> AuthenticatePasswordAsync(SupportLoginName name, string password, TenantId tenant, HttpContext context) =>
        Counted(await CheckBasicAsync(name, password, tenant, context));

    private async Task<SupportIdentity> CheckBasicAsync(SupportLoginName name, string password, TenantId tenant, HttpContext context)
    {
        var (identity, attempt) = await CheckPasswordAsync(name, password, tenant, context);
        if (identity.User is not { } user)
        {
            return identity;
        }

        if (mfa.IsRequiredFor(user))
        {
            // The password was right, so this is no guess to count; it is not a success either.
            if (attempt is not null)
            {
                throttle.Abandon(attempt);
            }

            AuditLogin(context, name.Who, user.Name, tenant, "failure", ProblemCode.SupportLoginMfaRequired.Value);
            return SupportIdentity.Refuse(ProblemCode.SupportLoginMfaRequired);
        }

        if (attempt is not null)
        {
            throttle.Succeeded(attempt);
        }

        return identity;
    }

    /// <summary>
    /// A sign-in (the login endpoint and the sign-in page): password, then the second factor when the
    /// user or the platform requires one. A wrong code counts as a failed login (the throttle's attempt
    /// stays open over both factors and only a right code withdraws it), so codes cannot be guessed
    /// faster than passwords; a replayed code is a wrong code.
    /// </summary>
    public async Task<SupportIdentity> AuthenticateSignInAsync(SupportLoginName name, string password, string? oneTimeCode, TenantId tenant, HttpContext context) =>
        Counted(await CheckSignInAsync(name, password, oneTimeCode, tenant, context));

    private async Task<SupportIdentity> CheckSignInAsync(SupportLoginName name, string password, string? oneTimeCode, TenantId tenant, HttpContext context)
    {
        var (identity, attempt) = await CheckPasswordAsync(name, password, tenant, context);
        if (identity.User is not { } user)
        {
            return identity;
        }

        if (!mfa.IsRequiredFor(user))
        {
            if (attempt is not null)
            {
                throttle.Succeeded(attempt);
            }

            return identity;
        }

        if (attempt is null)
        {
            // The password came from the verification cache, which the throttle never sees: the code
            // is a guess of its own, and must pass the throttle.
            var client = LoginThrottle.ClientKey(context.Connection.RemoteIpAddress);
            var decision = throttle.TryBegin(user.Name, client);
            if (decision.Attempt is not { } begun)
            {
                AuditLogin(context, name.Who, user.Name, tenant, "failure", ProblemCode.SupportLoginRateLimited.Value);
                return SupportIdentity.Refuse(ProblemCode.SupportLoginRateLimited, decision.RetryAfter);
            }

            attempt = begun;
        }

        var check = await mfa.VerifyAsync(user, oneTimeCode, context.RequestAborted);
        switch (check)
        {
            case MfaCheck.Valid:
                throttle.Succeeded(attempt);
                return identity;
            case MfaCheck.Missing:
            case MfaCheck.NotEnrolled:
                throttle.Abandon(attempt);
                AuditLogin(context, name.Who, user.Name, tenant, "failure", ProblemCode.SupportLoginMfaRequired.Value);
                return SupportIdentity.Refuse(ProblemCode.SupportLoginMfaRequired) with { MfaNotEnrolled = check == MfaCheck.NotEnrolled };
            case MfaCheck.StoreUnavailable:
                throttle.Abandon(attempt);
                return SupportIdentity.Refuse(ProblemCode.GrantStoreUnavailable);
            default:
                // Invalid, replayed or undecryptable: the attempt's failure stays counted.
                AuditLogin(context, name.Who, user.Name, tenant, "failure", ProblemCode.SupportLoginMfaInvalid.Value);
                return SupportIdentity.Refuse(ProblemCode.SupportLoginMfaInvalid);
        }
    }

    /// <summary>The login metric (docs/telemetry.md): one outcome per password check, whatever refused it.</summary>
    private SupportIdentity Counted(SupportIdentity identity)
    {
        metrics.Login(identity.Problem switch
        {
            null => LoginOutcome.Success,
            var p when p == ProblemCode.SupportLoginRateLimited => LoginOutcome.Throttled,
            var p when p == ProblemCode.SupportLoginBusy => LoginOutcome.Busy,
            var p when p == ProblemCode.SupportLoginMfaRequired => LoginOutcome.MfaRequired,
            var p when p == ProblemCode.GrantStoreUnavailable => LoginOutcome.Unavailable,
            _ => LoginOutcome.Failure,
        });
        return identity;
    }

    /// <summary>
    /// Checks a support login name and password: a cached success passes at once (never
    /// throttled, no attempt); otherwise the throttle takes the attempt's failure first, then at most
    /// <see cref="SupportOptions.MaxConcurrentPasswordChecks"/> PBKDF2 checks run at a time, on the
    /// low-priority threads of <see cref="PasswordCheckPool"/>. A right
    /// password returns its attempt still open: the caller withdraws it, or keeps it for the second factor.
    /// </summary>
    private async ValueTask<(SupportIdentity Identity, LoginAttempt? Attempt)> CheckPasswordAsync(SupportLoginName name, string password, TenantId tenant, HttpContext context)
    {
        if (verifier.CachedSuccess(name.SupportUser, password) is { } cached)
        {
            return (new SupportIdentity(cached, name.TargetUser, null, null), null);
        }

        var client = LoginThrottle.ClientKey(context.Connection.RemoteIpAddress);
        var flight = verifier.JoinOrLead(name.SupportUser, password);
        if (flight.Joined is { } joined && await joined is { } shared)
        {
            // The same credentials are being checked by another request: its answer is this one's, and
            // this request is no attempt of its own (the same guess is counted once).
            if (shared.Status == CredentialCheckStatus.Valid && shared.User is { } sharedUser)
            {
                return (new SupportIdentity(sharedUser, name.TargetUser, null, null), null);
            }

            AuditLogin(context, name.Who, name.SupportUser, tenant, "failure", ProblemCode.SupportLoginInvalid.Value);
            return (SupportIdentity.Refuse(ProblemCode.SupportLoginInvalid), null);
        }

        CredentialCheck? landed = null;
        try
        {
            if (verifier.CachedSuccess(name.SupportUser, password) is { } justCached)
            {
                // A flight landed between the first look at the cache and this one.
                landed = new CredentialCheck(CredentialCheckStatus.Valid, justCached);
                return (new SupportIdentity(justCached, name.TargetUser, null, null), null);
            }

            var known = directory.TryFind(name.SupportUser, out var user) ? user.Name : null;
            var decision = throttle.TryBegin(known, client);
            if (decision.Attempt is not { } attempt)
            {
                AuditLogin(context, name.Who, name.SupportUser, tenant, "failure", ProblemCode.SupportLoginRateLimited.Value);
                return (SupportIdentity.Refuse(ProblemCode.SupportLoginRateLimited, decision.RetryAfter), null);
            }

            if (!passwordChecks.TryRun(() => verifier.Verify(name.SupportUser, password), out var running))
            {
                throttle.Abandon(attempt);
                if (_busy.ShouldLog(out var busySuppressed))
                {
                    LogBusy(logger, tenant.Value, busySuppressed);
                }

                return (SupportIdentity.Refuse(ProblemCode.SupportLoginBusy, TimeSpan.FromSeconds(1)), null);
            }

            var check = await running;
            landed = check;
            return Checked(check, attempt);
        }
        finally
        {
            // Always, also when the check threw: followers must never wait on a flight nobody lands.
            flight.Land(landed);
        }

        (SupportIdentity, LoginAttempt?) Checked(CredentialCheck check, LoginAttempt attempt)
        {
            if (check.Status != CredentialCheckStatus.Valid || check.User is null)
            {
                AuditLogin(context, name.Who, name.SupportUser, tenant, "failure", ProblemCode.SupportLoginInvalid.Value);
                if (_failedLogins.ShouldLog(out var suppressed))
                {
                    LogLoginFailed(logger, tenant.Value, client, suppressed);
                }

                return (SupportIdentity.Refuse(ProblemCode.SupportLoginInvalid), null);
            }

            return (new SupportIdentity(check.User, name.TargetUser, null, null), attempt);
        }
    }

    /// <summary>
    /// A session token's identity: its claims from an earlier verification, else verified now by
    /// JwtBearer (which takes the token from <see cref="SupportCredentials"/>), then checked against
    /// the tenant and the directory as it is now.
    /// </summary>
    public async Task<SupportIdentity> AuthenticateSessionAsync(SupportCredentials credentials, TenantId tenant, HttpContext context)
    {
        var claims = credentials.Claims;
        if (claims is null)
        {
            sessionTokens.CountVerification();
            var result = await context.AuthenticateAsync(SupportSessionAuthentication.Scheme);
            if (!result.Succeeded || result.Principal is null || !long.TryParse(result.Principal.FindFirst("exp")?.Value, out var exp))
            {
                return SupportIdentity.Refuse(ProblemCode.SupportSessionInvalid);
            }

            claims = SessionTokenClaims.From(result.Principal, DateTimeOffset.FromUnixTimeSeconds(exp));
            credentials.Claims = claims;
            if (credentials.Hash is { } hash)
            {
                sessionTokens.Remember(hash, claims);
            }
        }

        if (claims is not { TargetUser: { } target, Tenant: { } tokenTenant, SessionId: { } sessionId, SupportUser: { } supportUser, CredentialFingerprint: { } fingerprint })
        {
            return SupportIdentity.Refuse(ProblemCode.SupportSessionInvalid);
        }

        if (tokenTenant != tenant.Value)
        {
            return SupportIdentity.Refuse(ProblemCode.SupportSessionWrongTenant);
        }

        // The directory may have changed since the token was issued: the user must still exist.
        return directory.TryFind(supportUser, out var user)
            ? new SupportIdentity(user, target, sessionId, null, CredentialFingerprint: fingerprint, SessionExpires: claims.Expires)
            : SupportIdentity.Refuse(ProblemCode.SupportSessionInvalid);
    }

    /// <summary>
    /// A login's event. Successes use the security room; failures, which anyone can cause, the
    /// ordinary one, so a flood of bad logins cannot crowd out the audit of support work.
    /// </summary>
    public void AuditLogin(HttpContext context, string who, string supportUser, TenantId tenant, string outcome, string? reason, string? sessionId = null, string action = "support-login") =>
        audit.TryWrite(LoginEvent(context, who, supportUser, tenant, outcome, reason, sessionId, action), outcome == "success" ? AuditRoom.Security : AuditRoom.Ordinary);

    private AuditEvent LoginEvent(HttpContext context, string who, string supportUser, TenantId tenant, string outcome, string? reason, string? sessionId, string action)
    {
        var separator = who.IndexOf('$', StringComparison.Ordinal);
        return new AuditEvent
        {
            Timestamp = time.GetUtcNow(),
            Category = "authentication",
            Action = action,
            Outcome = outcome,
            Reason = reason,
            UserName = who,
            UserId = supportUser,
            TargetUserName = separator >= 0 && separator < who.Length - 1 ? who[(separator + 1)..] : null,
            Tenant = tenant.Value,
            SourceIp = context.Connection.RemoteIpAddress?.ToString(),
            TraceId = System.Diagnostics.Activity.Current?.TraceId.ToString(),
            Details = sessionId is null ? null : new Dictionary<string, string?> { ["sessionId"] = sessionId },
        };
    }

    /// <summary>A logout reduces access: its event is always taken (past every cap).</summary>
    public void AuditLogout(HttpContext context, ClaimsPrincipal principal, TenantId tenant, string sessionId)
    {
        var supportUser = SessionTokenClaims.ActorSubject(principal.FindFirst("act")?.Value) ?? "(unknown)";
        using var room = audit.ReserveAccessReduction();
        room.Complete(LoginEvent(context, $"{supportUser}${principal.FindFirst("sub")?.Value}", supportUser, tenant, "success", null, sessionId, "support-logout"));
    }

    [LoggerMessage(EventId = 1611, Level = LogLevel.Warning, Message = "Support login in tenant {Tenant} refused: all password checks busy ({Suppressed} more since the last such line)")]
    private static partial void LogBusy(ILogger logger, string tenant, long suppressed);

    [LoggerMessage(EventId = 1610, Level = LogLevel.Warning, Message = "Support login failed for tenant {Tenant} from {Client} ({Suppressed} more failures since the last such line)")]
    private static partial void LogLoginFailed(ILogger logger, string tenant, string client, long suppressed);
}
