using Gateway.Grants;
using Gateway.Sessions;
using Gateway.Policy;
using Gateway.Problems;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

/// <summary>The answer of a sign-in: a session, or why not (the problem the JSON endpoint answers with).</summary>
internal sealed record SignInOutcome
{
    public SessionToken? Session { get; init; }

    /// <summary>Seconds the session lasts (the token's <c>expires_in</c>).</summary>
    public long Lifetime { get; init; }

    public TenantId? Tenant { get; init; }

    public string? SupportUser { get; init; }

    public string? TargetUser { get; init; }

    public ProblemCode? Problem { get; init; }

    public string? Detail { get; init; }

    public TimeSpan? RetryAfter { get; init; }

    /// <summary>With <see cref="ProblemCode.SupportLoginMfaRequired"/>: required by the platform, no authenticator enrolled.</summary>
    public bool MfaNotEnrolled { get; init; }

    public static SignInOutcome Refused(ProblemCode problem, string? detail = null, TimeSpan? retryAfter = null, TenantId? tenant = null) =>
        new() { Problem = problem, Detail = detail, RetryAfter = retryAfter, Tenant = tenant };
}

/// <summary>How a sign-out went.</summary>
internal enum SignOutResult
{
    /// <summary>The session is ended on every instance.</summary>
    Ended,

    /// <summary>The request carried no valid session (already ended, expired, or none).</summary>
    NoSession,

    /// <summary>
    /// The store could not record the end yet: this instance refuses the session at once and
    /// retries until the store takes it (no instance admits support calls while it is unreachable).
    /// </summary>
    Pending,
}

/// <summary>
/// The support sign-in, shared by <c>POST /_gateway/support/login</c> (JSON) and the sign-in page:
/// login name → tenant → <see cref="SupportAuthenticator"/> (password, throttle, second factor) →
/// <see cref="SupportAccessReader"/> → <see cref="SupportAuthorizer.Decide"/> without a route →
/// <see cref="SupportTokens.MintSession"/>; and the session cookie both set, and sign-out both use.
/// </summary>
internal sealed class SupportSignIn(
    SupportAuthenticator authenticator,
    SupportAccessReader accessReader,
    SupportTokens tokens,
    SessionTracker sessions,
    TenantResolver tenants,
    IOptions<TenancyOptions> tenancy,
    IOptions<SupportOptions> options,
    IConfiguration configuration,
    TimeProvider time)
{
    private readonly CookieSecurePolicy _cookieSecure = options.Value.CookieSecure
        ?? (configuration.GetValue<bool>("Gateway:Production") ? CookieSecurePolicy.Always : CookieSecurePolicy.SameAsRequest);

    /// <summary>The tenant served at the request's host, if any.</summary>
    public TenantId? HostTenant(HttpContext http) => tenants.TryResolve(http.Request.Host, out var tenant) ? tenant : null;

    public async Task<SignInOutcome> SignInAsync(HttpContext http, string username, string password, string? oneTimeCode)
    {
        var hostTenant = HostTenant(http)?.Value;
        var parsed = SupportLoginNames.Parse(username, hostTenant);
        if (parsed.Status != SupportLoginParseStatus.Valid || parsed.Name is null)
        {
            var code = parsed.Status == SupportLoginParseStatus.NotSupportLogin ? ProblemCode.SupportLoginMalformed
                : parsed.ErrorCode == ProblemCode.SupportLoginTenantMismatch.Value ? ProblemCode.SupportLoginTenantMismatch
                : ProblemCode.SupportLoginMalformed;
            return SignInOutcome.Refused(code, parsed.Error ?? "A support login looks like jill$john or tenant/jill$john.");
        }

        var tenantName = hostTenant ?? parsed.Name.TenantPrefix;
        if (tenantName is null || !tenants.IsKnownTenant(tenantName))
        {
            return SignInOutcome.Refused(ProblemCode.SupportLoginTenantRequired);
        }

        var tenant = new TenantId(tenantName);
        var identity = await authenticator.AuthenticateSignInAsync(parsed.Name, password, oneTimeCode, tenant, http);
        if (identity.User is not { } user)
        {
            return SignInOutcome.Refused(identity.Problem!, null, identity.RetryAfter, tenant) with { MfaNotEnrolled = identity.MfaNotEnrolled };
        }

        var result = await accessReader.GetAsync(tenant.Value, http.RequestAborted);
        if (result.Access is not { } access)
        {
            return SignInOutcome.Refused(ProblemCode.GrantStoreUnavailable, tenant: tenant);
        }

        // Admission to the tenant: the request path's decision without a route.
        var verdict = SupportAuthorizer.Decide(new SupportRequestFacts(
            tenant, user, identity.RequestedTarget, null, access, null, HttpMethods.Post, false, tenancy.Value.Tenants[tenant.Value].DesignatedAdmin));
        if (!verdict.Allowed)
        {
            authenticator.AuditLogin(http, $"{user.Name}${identity.RequestedTarget}", user.Name, tenant, "failure", verdict.Problem!.Value);
            return SignInOutcome.Refused(verdict.Problem!, verdict.Detail, tenant: tenant);
        }

        var target = verdict.TargetUser!;
        var token = tokens.MintSession(tenant.Value, user, target, (verdict.Access ?? access).Until);
        if (!await StartSessionAsync(http, token, tenant, user, target, access))
        {
            return SignInOutcome.Refused(ProblemCode.GrantStoreUnavailable, tenant: tenant);
        }

        authenticator.AuditLogin(http, $"{user.Name}${target}", user.Name, tenant, "success", null, token.SessionId);
        var lifetime = (long)Math.Max(0, (token.ExpiresAt - time.GetUtcNow()).TotalSeconds);
        return new SignInOutcome { Session = token, Lifetime = lifetime, Tenant = tenant, SupportUser = user.Name, TargetUser = target };
    }

    /// <summary>
    /// The session cookie: HttpOnly, SameSite=Strict (a link from another site opens the tenant
    /// without the session, so no cross-site request can act as the support session; the redirect
    /// after signing in is same-site, so it carries the cookie), Secure per <see cref="SupportOptions.CookieSecure"/>.
    /// </summary>
    public void AppendSessionCookie(HttpContext http, SignInOutcome outcome)
    {
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Cookies.Append(options.Value.CookieName, outcome.Session!.Token, CookieOptions(http, TimeSpan.FromSeconds(outcome.Lifetime)));
    }

    public void ClearSessionCookie(HttpContext http) =>
        http.Response.Cookies.Append(options.Value.CookieName, "", CookieOptions(http, TimeSpan.Zero));

    /// <summary>Whether the session cookie set on this request is marked Secure.</summary>
    public bool CookieIsSecure(HttpContext http) => _cookieSecure == CookieSecurePolicy.Always || http.Request.IsHttps;

    /// <summary>
    /// Ends the request's session (reason <c>logout</c>) on every instance and closes its record
    /// (<see cref="SessionTracker.EndAsync"/>): its id is refused until the token would have
    /// expired. Always succeeds for the caller; the cookie is the caller's to clear.
    /// </summary>
    public async Task<SignOutResult> SignOutAsync(HttpContext http)
    {
        var authentication = await http.AuthenticateAsync(SupportSessionAuthentication.Scheme);
        var principal = authentication.Principal;
        var sessionId = principal?.FindFirst("sid")?.Value;
        var tenant = principal?.FindFirst("tenant")?.Value;
        if (!authentication.Succeeded || principal is null || sessionId is null || tenant is null)
        {
            return SignOutResult.NoSession;
        }

        var supportUser = SupportSessions.SessionTokenClaims.ActorSubject(principal.FindFirst("act")?.Value);
        // Not tied to the request: a client that hangs up mid-logout still logs out.
        var recorded = await sessions.EndAsync(tenant, sessionId, SessionEndReasons.Logout, by: supportUser, CancellationToken.None);
        authenticator.AuditLogout(http, principal, new TenantId(tenant), sessionId);
        return recorded ? SignOutResult.Ended : SignOutResult.Pending;
    }

    /// <summary>
    /// Records a token session as it starts, so the tenant sees it from the login on. Fails
    /// closed: a login whose session cannot be recorded gets no token.
    /// </summary>
    private async Task<bool> StartSessionAsync(HttpContext http, SessionToken token, TenantId tenant, SupportUser user, string target, SupportAccess access)
    {
        var record = SessionRecords.New(token.SessionId, tenant.Value, user.Name, target, "sessiontoken", access, time.GetUtcNow(), token.ExpiresAt, http);
        try
        {
            await sessions.StartTokenSessionAsync(record, http.RequestAborted);
            return true;
        }
        catch (GrantStoreUnavailableException)
        {
            return false;
        }
    }

    private CookieOptions CookieOptions(HttpContext http, TimeSpan maxAge) => new()
    {
        Secure = CookieIsSecure(http),
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Path = "/",
        MaxAge = maxAge,
    };
}
