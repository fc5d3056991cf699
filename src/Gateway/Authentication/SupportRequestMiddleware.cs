using System.Net.Http.Headers;
using System.Text;
using Gateway.Auditing;
using Gateway.Problems;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

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
    IAuditSink audit,
    TimeProvider time,
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

        SupportDecision decision;
        var started = time.GetTimestamp();
        switch (Detect(context.Request))
        {
            case (CredentialKind.None, _, _):
                await next(context);
                return;

            case (CredentialKind.Basic, var userName, var password):
                var parsed = SupportLoginNames.Parse(userName, tenant);
                if (parsed.Status == SupportLoginParseStatus.NotSupportLogin)
                {
                    await next(context);
                    return;
                }

                if (parsed.Status == SupportLoginParseStatus.Invalid || parsed.Name is null)
                {
                    logins.AuditLogin(context, "(malformed)", "(malformed)", tenant, "failure", parsed.ErrorCode);
                    var code = parsed.ErrorCode == ProblemCode.SupportLoginTenantMismatch.Value ? ProblemCode.SupportLoginTenantMismatch : ProblemCode.SupportLoginMalformed;
                    await GatewayProblem.Create(code, parsed.Error).WriteAsync(context);
                    return;
                }

                decision = await logins.LoginAsync(parsed.Name, password!, tenant, context);
                break;

            case (CredentialKind.SessionToken, _, _):
                var authentication = await context.AuthenticateAsync(SupportSessionAuthentication.Scheme);
                decision = authentication.Succeeded && authentication.Principal is not null
                    ? await logins.AuthorizeSessionAsync(authentication.Principal, tenant, context)
                    : SupportDecision.Refuse(ProblemCode.SupportSessionInvalid);
                break;

            default:
                await GatewayProblem.Create(ProblemCode.InternalError).WriteAsync(context);
                return;
        }

        if (decision.Session is not { } session)
        {
            await RefuseAsync(context, decision);
            AuditRequest(context, null, tenant, decision.Problem!.Value, started);
            return;
        }

        context.Features.Set(session);
        using (live.Register(context, session))
        {
            try
            {
                await next(context);
            }
            finally
            {
                AuditRequest(context, session, tenant, null, started);
            }
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
        Basic,
        SessionToken,
    }

    /// <summary>
    /// Which credentials the request carries. A bearer token counts as a support session only
    /// when its (unverified) issuer is the gateway's; other bearer tokens are the tenant app's.
    /// </summary>
    private (CredentialKind Kind, string? UserName, string? Password) Detect(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.Length > 0 && AuthenticationHeaderValue.TryParse(authorization, out var header) && header.Parameter is { } parameter)
        {
            if (header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase) && TryDecodeBasic(parameter, out var user, out var password))
            {
                return (CredentialKind.Basic, user, password);
            }

            if (header.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) && IsGatewayToken(parameter))
            {
                return (CredentialKind.SessionToken, null, null);
            }
        }

        return request.Cookies.ContainsKey(_options.CookieName)
            ? (CredentialKind.SessionToken, null, null)
            : (CredentialKind.None, null, null);
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

    private void AuditRequest(HttpContext context, SupportSessionFeature? session, string tenant, string? refusal, long started)
    {
        var accepted = audit.TryWrite(new AuditEvent
        {
            Timestamp = time.GetUtcNow(),
            Category = "web",
            Action = "support-request",
            Outcome = refusal is null && context.Response.StatusCode < 400 ? "success" : "failure",
            Reason = refusal,
            UserName = session?.Who,
            UserId = session?.SupportUser,
            TargetUserName = session?.TargetUser,
            Tenant = tenant,
            GrantIds = session?.Access.GrantIds.Select(g => g.Value).ToArray(),
            SourceIp = context.Connection.RemoteIpAddress?.ToString(),
            TraceId = System.Diagnostics.Activity.Current?.TraceId.ToString(),
            Details = new Dictionary<string, string?>
            {
                ["http.request.method"] = context.Request.Method,
                ["url.path"] = context.Request.Path.Value,
                ["http.response.status_code"] = context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["event.duration_ms"] = time.GetElapsedTime(started).TotalMilliseconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture),
                ["isolation"] = session?.Isolation,
                ["credential"] = session?.Credential.ToString().ToLowerInvariant(),
                ["sessionId"] = session?.SessionId,
                ["aborted"] = context.RequestAborted.IsCancellationRequested ? "true" : null,
            },
        });
        if (!accepted)
        {
            LogAuditRefused(logger, tenant);
        }
    }

    [LoggerMessage(EventId = 1620, Level = LogLevel.Critical, Message = "The audit sink refused a support request event for tenant {Tenant}")]
    private static partial void LogAuditRefused(ILogger logger, string tenant);
}
