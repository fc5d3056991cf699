using Gateway.Auditing;
using Gateway.Authentication;
using Gateway.Grants;
using Gateway.Policy;
using Gateway.Problems;
using Gateway.Sessions;
using Gateway.Telemetry;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Gateway.SupportSessions;

/// <summary>
/// The support pipeline inside YARP's proxy pipeline, after the route is matched and before
/// forwarding. Ordinary requests pass untouched. A support request (Basic with a support login,
/// the gateway's session token as bearer or cookie) is, in this order:
/// <list type="number">
/// <item>read once (<see cref="SupportCredentialReader"/>), refused when unreadable;</item>
/// <item>checked for an ambiguous target (400), on exactly what the backend will receive;</item>
/// <item>authenticated (<see cref="SupportAuthenticator"/>: throttle, password or token, directory);</item>
/// <item>decided once (<see cref="SupportAuthorizer.Decide"/>) from the tenant's access and the
/// route's compiled policy (endpoint metadata);</item>
/// <item>admitted only with room held in the audit trail, registered as live (so a revocation
/// closes it), and forwarded with the gateway's identity (the identity transform).</item>
/// </list>
/// Every refusal is a problem document; the backend is never reached.
/// </summary>
internal sealed partial class SupportSessionsMiddleware(
    RequestDelegate next,
    SupportCredentialReader credentialReader,
    SupportAuthenticator authenticator,
    LoginThrottle throttle,
    SupportAccessReader accessReader,
    LiveSupportSessions liveConnections,
    SessionTracker sessions,
    IAuditSink audit,
    TimeProvider time,
    IOptions<TenancyOptions> tenancy,
    IOptions<SupportOptions> options,
    GatewayMetrics metrics,
    ILogger<SupportSessionsMiddleware> logger)
{
    private readonly string _cookieName = options.Value.CookieName;

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<TenantFeature>()?.Tenant is not { } tenant)
        {
            // Tenant resolution runs first and refuses unknown hosts; reaching here without one is a bug: fail closed.
            await GatewayProblem.Create(ProblemCode.InternalError).WriteAsync(context);
            return;
        }

        GatewayTracing.Proxied(context, tenant);
        var credentials = credentialReader.Read(context.Request, tenant);
        if (credentials.Kind == SupportCredentialKind.None)
        {
            await next(context);
            return;
        }

        if (credentials.Kind == SupportCredentialKind.Unreadable)
        {
            await GatewayProblem.Create(ProblemCode.CredentialsUnreadable).WriteAsync(context);
            return;
        }

        // From here on this is a support request: decided here, forwarded only if allowed.
        context.Features.Set(credentials);
        var route = context.GetEndpoint()?.Metadata.GetMetadata<SupportRoutePolicy>();
        var record = context.Features.GetRequiredFeature<ProxyCallRecord>();
        record.SupportRequest(route, credentials.Login.Name?.Who);
        if (route is null)
        {
            // Every proxy endpoint carries its policy (RoutePolicyConventions); without one: fail closed.
            await RefuseAsync(context, record, ProblemCode.SupportForbiddenRoute, "the route has no support policy");
            return;
        }

        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (RequestAmbiguity.Check(rawTarget, context.Request.Method, context.Request.Headers) is { } ambiguity)
        {
            // A probe: it never reaches a password check, but it counts against its client.
            throttle.RecordClientFailure(LoginThrottle.ClientKey(context.Connection.RemoteIpAddress));
            await RefuseAsync(context, record, ProblemCode.SupportRequestAmbiguous, ambiguity.Reason);
            return;
        }

        var identity = await AuthenticateAsync(context, credentials, tenant);
        if (identity.User is not { } user)
        {
            await RefuseAsync(context, record, identity.Problem!, retryAfter: identity.RetryAfter);
            return;
        }

        var result = await accessReader.GetAsync(tenant.Value, context.RequestAborted);
        if (result.Access is not { } access)
        {
            await RefuseAsync(context, record, ProblemCode.GrantStoreUnavailable);
            return;
        }

        // The request's support session: from memory, or (its first request on this instance) the store.
        LiveSession? live = null;
        if (user.IsPermittedFor(tenant.Value) && access.IsActive)
        {
            try
            {
                live = await SessionOfAsync(context, credentials.Kind, identity, user, tenant, access);
                record.InSession(live.Id);
            }
            catch (GrantStoreUnavailableException)
            {
                await RefuseAsync(context, record, ProblemCode.GrantStoreUnavailable);
                return;
            }
        }

        var verdict = SupportAuthorizer.Decide(new SupportRequestFacts(
            tenant, user, identity.RequestedTarget, identity.SessionId ?? live?.Id, access, route,
            context.Request.Method, IsUpgrade(context), tenancy.Value.Tenants[tenant.Value].DesignatedAdmin, identity.CredentialFingerprint, live?.Facts));
        if (!verdict.Allowed)
        {
            if (verdict.Problem == ProblemCode.SupportNotPermitted || verdict.Problem == ProblemCode.SupportNoGrant)
            {
                authenticator.AuditLogin(context, $"{user.Name}${identity.RequestedTarget}", user.Name, tenant, "failure", verdict.Problem.Value);
            }

            if (live is not null)
            {
                sessions.Denied(live, verdict.Problem!.Value);
                if (verdict.Problem == ProblemCode.SupportSessionEnded && !live.Ended)
                {
                    var reason = verdict.Reason == SupportAuthorizer.SessionGrantsEnded ? SessionEndReasons.GrantsEnded : SessionEndReasons.CredentialsChanged;
                    await sessions.EndAsync(tenant.Value, live.Id, reason, by: null, CancellationToken.None);
                }
            }

            if (verdict.Access is { } decidedUnder)
            {
                record.DecidedUnder(decidedUnder.Isolation);
            }

            await RefuseAsync(context, record, verdict.Problem!, verdict.Detail ?? verdict.Reason);
            return;
        }

        // No support call proceeds unaudited: room for its event is held before it is forwarded,
        // and the audit record completes it when the response ends.
        if (audit.TryReserve() is not { } reservation)
        {
            await RefuseAsync(context, record, ProblemCode.AuditUnavailable);
            LogAuditUnavailable(logger, tenant.Value);
            return;
        }

        var now = time.GetUtcNow();
        // What admitted the call: the entries that let support act as its target user.
        var admitting = verdict.Access ?? access;
        live!.Admitted(admitting.EntryKeys, context.Connection.RemoteIpAddress?.ToString(), now);
        var session = new SupportSessionFeature(tenant, user.Name, verdict.TargetUser!, admitting, credentials.Kind, live.Id, route, admitting.Admitting(verdict.Need), identity.CredentialFingerprint, live);
        record.Admitted(session, reservation);
        context.Features.Set(session);
        using (liveConnections.Register(context, session, IsUpgrade(context)))
        {
            // Write-ahead (docs/audit.md): a support write or tunnel is on disk before it is forwarded.
            if (!await audit.WriteAheadAsync(context, IsUpgrade(context)))
            {
                await RefuseAsync(context, record, ProblemCode.AuditUnavailable);
                LogAuditUnavailable(logger, tenant.Value);
                return;
            }

            // Counted once decided for good: a refused write-ahead above counts as its refusal.
            metrics.SupportRequest(route.Class, refusal: null);
            GatewayTracing.SupportAdmitted(context, session);
            await next(context);
        }

        live.Completed(
            context.Request.Method, record.PathForRecords(context), context.Response.StatusCode, route.RouteId,
            record.RequestBody?.BytesTransferred ?? 0, record.ResponseBody?.BytesTransferred ?? 0, time.GetUtcNow());
    }

    private ValueTask<LiveSession> SessionOfAsync(HttpContext context, SupportCredentialKind kind, SupportIdentity identity, Authentication.SupportUser user, TenantId tenant, Grants.SupportAccess tenantAccess)
    {
        var now = time.GetUtcNow();
        var target = identity.RequestedTarget ?? tenantAccess.LongestGrantor ?? tenantAccess.LongestScopedTarget ?? tenancy.Value.Tenants[tenant.Value].DesignatedAdmin ?? "";
        SupportSessionRecord NewRecord(string id, string credential) =>
            SessionRecords.New(id, tenant.Value, user.Name, target, credential, tenantAccess, now, identity.SessionExpires, context);

        return kind == SupportCredentialKind.SessionToken
            ? sessions.ForTokenAsync(tenant, identity.SessionId!, () => NewRecord(identity.SessionId!, "sessiontoken"), context.RequestAborted)
            : sessions.ForBasicAsync(tenant, user.Name, identity.RequestedTarget, tenantAccess, id => NewRecord(id, "basic"), context.RequestAborted);
    }

    /// <summary>A protocol upgrade (WebSocket over HTTP/1.1), an extended CONNECT (WebSocket over HTTP/2) or a tunnel.</summary>
    internal static bool IsUpgrade(HttpContext context) =>
        context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true
        || context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true
        || HttpMethods.IsConnect(context.Request.Method);

    private async Task<SupportIdentity> AuthenticateAsync(HttpContext context, SupportCredentials credentials, TenantId tenant)
    {
        if (credentials.Kind == SupportCredentialKind.SessionToken)
        {
            return await authenticator.AuthenticateSessionAsync(credentials, tenant, context);
        }

        var login = credentials.Login;
        if (login.Status != SupportLoginParseStatus.Valid || login.Name is null)
        {
            throttle.RecordClientFailure(LoginThrottle.ClientKey(context.Connection.RemoteIpAddress));
            authenticator.AuditLogin(context, "(malformed)", "(malformed)", tenant, "failure", login.ErrorCode);
            return SupportIdentity.Refuse(login.ErrorCode == ProblemCode.SupportLoginTenantMismatch.Value
                ? ProblemCode.SupportLoginTenantMismatch
                : ProblemCode.SupportLoginMalformed);
        }

        return await authenticator.AuthenticatePasswordAsync(login.Name, credentials.Password!, tenant, context);
    }

    private Task RefuseAsync(HttpContext context, ProxyCallRecord record, ProblemCode problem, string? detail = null, TimeSpan? retryAfter = null)
    {
        record.Refused(problem);
        metrics.SupportRequest(record.Route?.Class, problem);
        GatewayTracing.SupportRefused(context, record, problem);
        return GatewayProblem.Create(problem, detail).WriteAsync(context, headers =>
        {
            if (problem == ProblemCode.SupportLoginInvalid)
            {
                headers.WWWAuthenticate = "Basic realm=\"support-gateway\", charset=\"UTF-8\"";
            }
            else if (problem == ProblemCode.SupportSessionInvalid || problem == ProblemCode.SupportSessionEnded)
            {
                headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
                headers.Append("Set-Cookie", $"{_cookieName}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
            }

            if (retryAfter is { } wait)
            {
                headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        });
    }

    [LoggerMessage(EventId = 1621, Level = LogLevel.Error, Message = "A support request in tenant {Tenant} was refused: the audit trail cannot take its event")]
    private static partial void LogAuditUnavailable(ILogger logger, string tenant);
}
