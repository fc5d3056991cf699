using System.Net.Http.Headers;
using System.Text;
using Gateway.Auditing;
using Gateway.Policy;
using Gateway.Problems;
using Gateway.Routing;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.IdentityModel.JsonWebTokens;
using Yarp.ReverseProxy.Model;

namespace Gateway.Authentication;

/// <summary>
/// In the proxy pipeline, before forwarding: recognises support requests (HTTP Basic with a
/// support login name, the gateway's own session token as bearer or cookie), decides them,
/// and either answers with a problem (the backend is never reached) or marks the request with
/// a <see cref="SupportSessionFeature"/> for the identity transform. Ordinary requests pass
/// untouched. Every support request is audited when its response completes or aborts.
/// </summary>
internal sealed partial class SupportRequestMiddleware(
    RequestDelegate next,
    SupportLoginService logins,
    LiveSupportSessions live,
    RouteClassResolver classes,
    SessionTokenCache sessionTokens,
    IAuditSink audit,
    IOptions<SupportOptions> options,
    ILogger<SupportRequestMiddleware> logger)
{
    private readonly SupportOptions _options = options.Value;

    public async Task InvokeAsync(HttpContext context)
    {
        var tenant = context.Features.Get<TenantFeature>()?.Tenant.Value;
        if (tenant is null)
        {
            // Tenant resolution runs first and refuses unknown hosts; reaching here without one is a bug: fail closed.
            await GatewayProblem.Create(ProblemCode.InternalError).WriteAsync(context);
            return;
        }

        var credentials = Detect(context.Request, out var verifiedToken);
        if (credentials.Kind == CredentialKind.None)
        {
            await next(context);
            return;
        }

        if (credentials.Kind == CredentialKind.Unreadable)
        {
            await GatewayProblem.Create(ProblemCode.CredentialsUnreadable).WriteAsync(context);
            return;
        }

        SupportLoginParse parsed = default;
        if (credentials.Kind == CredentialKind.Basic)
        {
            parsed = SupportLoginNames.Parse(credentials.UserName, tenant);
            if (parsed.Status == SupportLoginParseStatus.NotSupportLogin)
            {
                await next(context);
                return;
            }
        }

        // From here on this is a support request: it is decided here, and the backend sees it only if allowed.
        var record = context.Features.GetRequiredFeature<ProxyAuditFeature>();
        var routeClass = classes.Resolve(context.GetReverseProxyFeature().Route.Config);
        record.Action = "support-request";
        record.RouteClass = routeClass;
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (RequestAmbiguity.Check(rawTarget, context.Request.Method, context.Request.Headers) is { } ambiguity)
        {
            record.Refusal = ProblemCode.SupportRequestAmbiguous.Value;
            await GatewayProblem.Create(ProblemCode.SupportRequestAmbiguous, ambiguity.Reason).WriteAsync(context);
            return;
        }

        SupportDecision decision;
        switch (credentials)
        {
            case (CredentialKind.Basic, _, var password):
                if (parsed.Status == SupportLoginParseStatus.Invalid || parsed.Name is null)
                {
                    logins.AuditLogin(context, "(malformed)", "(malformed)", tenant, "failure", parsed.ErrorCode);
                    var code = parsed.ErrorCode == ProblemCode.SupportLoginTenantMismatch.Value ? ProblemCode.SupportLoginTenantMismatch : ProblemCode.SupportLoginMalformed;
                    record.Refusal = code.Value;
                    await GatewayProblem.Create(code, parsed.Error).WriteAsync(context);
                    return;
                }

                decision = await logins.LoginAsync(parsed.Name, password!, tenant, context);
                break;

            case (CredentialKind.SessionToken, _, _):
                var claims = verifiedToken ?? await sessionTokens.AuthenticateAsync(context, SessionToken(context.Request));
                decision = claims is not null
                    ? await logins.AuthorizeSessionAsync(claims, tenant, context)
                    : SupportDecision.Refuse(ProblemCode.SupportSessionInvalid);
                break;

            default:
                await GatewayProblem.Create(ProblemCode.InternalError).WriteAsync(context);
                return;
        }

        if (decision.Session is not { } session)
        {
            record.Refusal = decision.Problem!.Value;
            await RefuseAsync(context, decision);
            return;
        }

        record.Session = session;
        var policy = SupportPolicy.Decide(routeClass, context.Request.Method, session.Access);
        if (!policy.Allowed)
        {
            record.Refusal = policy.Problem!.Value;
            await GatewayProblem.Create(policy.Problem!, policy.Reason).WriteAsync(context);
            return;
        }

        // No support call proceeds unaudited: room for its event is held before it is forwarded,
        // and the audit middleware completes it when the response ends.
        record.Reservation = audit.TryReserve();
        if (record.Reservation is null)
        {
            record.Refusal = ProblemCode.AuditUnavailable.Value;
            await GatewayProblem.Create(ProblemCode.AuditUnavailable).WriteAsync(context);
            LogAuditUnavailable(logger, tenant);
            return;
        }

        context.Features.Set(session);
        using (live.Register(context, session, routeClass))
        {
            await next(context);
        }
    }

    private Task RefuseAsync(HttpContext context, SupportDecision decision)
    {
        var problem = GatewayProblem.Create(decision.Problem!, decision.Detail);
        return problem.WriteAsync(context, headers =>
        {
            if (decision.Problem == ProblemCode.SupportLoginInvalid)
            {
                headers.WWWAuthenticate = "Basic realm=\"support-gateway\", charset=\"UTF-8\"";
            }
            else if (decision.Problem == ProblemCode.SupportSessionInvalid)
            {
                headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
                headers.Append("Set-Cookie", $"{_options.CookieName}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
            }

            if (decision.RetryAfter is { } retryAfter)
            {
                headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        });
    }

    private enum CredentialKind
    {
        None,
        Unreadable,
        Basic,
        SessionToken,
    }

    /// <summary>
    /// Which credentials the request carries. A bearer token counts as a support session when it
    /// verified before (<paramref name="verified"/>: its cached claims, no parsing), else only
    /// when its (unverified) issuer is the gateway's; other bearer tokens are the tenant app's.
    /// </summary>
    private (CredentialKind Kind, string? UserName, string? Password) Detect(HttpRequest request, out SessionTokenClaims? verified)
    {
        verified = null;
        // Credentials the gateway cannot read are not passed on for the app to read some other
        // way (a lenient Base64 decoder, the second of two headers): they could hide a support login.
        var values = request.Headers.Authorization;
        if (values.Count > 1)
        {
            return (CredentialKind.Unreadable, null, null);
        }

        var authorization = values.ToString();

        // A session token seen (and verified) before is looked up from the header as it is,
        // without parsing or copying it: the common case of a support session's requests.
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && sessionTokens.TryGetVerified(authorization.AsSpan("Bearer ".Length).Trim(), out var known))
        {
            verified = known;
            return (CredentialKind.SessionToken, null, null);
        }

        var isBasic = authorization.StartsWith("Basic", StringComparison.OrdinalIgnoreCase);
        if (authorization.Length > 0 && AuthenticationHeaderValue.TryParse(authorization, out var header) && header.Parameter is { } parameter)
        {
            if (header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
            {
                return TryDecodeBasic(parameter, out var user, out var password)
                    ? (CredentialKind.Basic, user, password)
                    : (CredentialKind.Unreadable, null, null);
            }

            if (header.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) && IsGatewayToken(parameter))
            {
                return (CredentialKind.SessionToken, null, null);
            }
        }
        else if (isBasic)
        {
            return (CredentialKind.Unreadable, null, null);
        }

        return request.Cookies.ContainsKey(_options.CookieName)
            ? (CredentialKind.SessionToken, null, null)
            : (CredentialKind.None, null, null);
    }

    /// <summary>The session token as JwtBearer will read it: the bearer token, else the cookie.</summary>
    private string? SessionToken(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? authorization["Bearer ".Length..].Trim()
            : request.Cookies.TryGetValue(_options.CookieName, out var cookie) ? cookie : null;
    }

    private bool IsGatewayToken(string token)
    {
        try
        {
            return new JsonWebToken(token).Issuer == _options.Issuer;
        }
        catch (ArgumentException)
        {
            return false; // not a JWT: the tenant app's business
        }
    }

    /// <summary>
    /// Decodes <c>user:password</c>. Bytes that are not valid UTF-8 but contain a '$' are decoded
    /// with replacement characters, so the login-name parser refuses them rather than the
    /// request slipping through as ordinary traffic.
    /// </summary>
    private static bool TryDecodeBasic(string parameter, out string user, out string password)
    {
        user = password = "";
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(parameter);
        }
        catch (FormatException)
        {
            return false;
        }

        var text = Encoding.UTF8.GetString(bytes);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return false;
        }

        (user, password) = (text[..colon], text[(colon + 1)..]);
        return true;
    }

    [LoggerMessage(EventId = 1621, Level = LogLevel.Error, Message = "A support request in tenant {Tenant} was refused: the audit trail cannot take its event")]
    private static partial void LogAuditUnavailable(ILogger logger, string tenant);
}
