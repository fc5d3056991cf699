using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Problems;

/// <summary>
/// An RFC 9457 problem document with a stable machine-readable <see cref="Code"/>. Clients
/// and tests key on the code, never on the human-readable title or detail.
/// </summary>
internal sealed record GatewayProblem(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("code")] string Code,
    [property: JsonPropertyName("detail")] string? Detail) : IResult
{
    /// <summary>As an endpoint result (<c>TypedResults</c> unions): the same document as <see cref="WriteAsync"/>.</summary>
    Task IResult.ExecuteAsync(HttpContext httpContext) => WriteAsync(httpContext);

    [JsonPropertyName("traceId")]
    public string? TraceId { get; init; }

    public static GatewayProblem Create(ProblemCode code, string? detail = null) =>
        new($"https://gateway.invalid/problems/{code.Value}", code.Title, code.Status, code.Value, detail);

    /// <summary>
    /// Writes the problem unless the response has already started (then nothing can be said): as
    /// problem+json, or as a small HTML page when a browser asks on a tenant host (<see cref="ProblemPage"/>).
    /// Anything set on the response before is cleared; <paramref name="headers"/> adds headers
    /// that go with the problem (e.g. <c>WWW-Authenticate</c>, <c>Retry-After</c>).
    /// </summary>
    public Task WriteAsync(HttpContext context, Action<IHeaderDictionary>? headers = null)
    {
        if (context.Response.HasStarted)
        {
            return Task.CompletedTask;
        }

        context.Response.Clear();
        context.Response.StatusCode = Status;
        context.Response.ContentType = "application/problem+json";
        context.Response.Headers.CacheControl = "no-store";
        headers?.Invoke(context.Response.Headers);
        var withTrace = this with { TraceId = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? context.TraceIdentifier };
        if (ProblemPage.ShouldRender(context))
        {
            // A browser: the same status and headers, as a page (content negotiation on Accept).
            context.Response.ContentType = "text/html; charset=utf-8";
            ProblemPage.ApplySecurityHeaders(context.Response.Headers);
            var page = ProblemPage.Render(context, withTrace);
            return context.Response.Body.WriteAsync(page, context.RequestAborted).AsTask();
        }

        return JsonSerializer.SerializeAsync(
            context.Response.Body, withTrace, ProblemJsonContext.Default.GatewayProblem, context.RequestAborted);
    }
}

/// <summary>A stable problem code with the status and title that always go with it.</summary>
internal sealed record ProblemCode(string Value, int Status, string Title)
{
    public static readonly ProblemCode UnknownHost =
        new("gateway.unknown_host", StatusCodes.Status404NotFound, "No tenant is served at this host");
    public static readonly ProblemCode NoRoute =
        new("gateway.no_route", StatusCodes.Status404NotFound, "No route matches this request");
    public static readonly ProblemCode NotFound =
        new("gateway.not_found", StatusCodes.Status404NotFound, "No such gateway endpoint");
    public static readonly ProblemCode BackendUnavailable =
        new("proxy.backend_unavailable", StatusCodes.Status502BadGateway, "The backend could not be reached");
    public static readonly ProblemCode BackendTimeout =
        new("proxy.backend_timeout", StatusCodes.Status504GatewayTimeout, "The backend did not answer in time");
    public static readonly ProblemCode BadGateway =
        new("proxy.bad_gateway", StatusCodes.Status502BadGateway, "The backend's response could not be relayed");
    public static readonly ProblemCode ManagementUnauthenticated =
        new("management.unauthenticated", StatusCodes.Status401Unauthorized, "A valid management bearer token is required");
    public static readonly ProblemCode ManagementForbidden =
        new("management.forbidden", StatusCodes.Status403Forbidden, "The caller's roles do not allow this");
    public static readonly ProblemCode WrongTenant =
        new("management.wrong_tenant", StatusCodes.Status403Forbidden, "The caller belongs to another tenant");
    public static readonly ProblemCode TenantNotFound =
        new("tenant.not_found", StatusCodes.Status404NotFound, "No such tenant");
    public static readonly ProblemCode InvalidRequest =
        new("request.invalid", StatusCodes.Status400BadRequest, "The request is invalid");
    public static readonly ProblemCode RequestTooLarge =
        new("request.too_large", StatusCodes.Status413PayloadTooLarge, "The request body is too large");
    public static readonly ProblemCode UnsupportedMediaType =
        new("request.unsupported_media_type", StatusCodes.Status415UnsupportedMediaType, "The request body must be application/json");
    public static readonly ProblemCode GrantNotFound =
        new("grant.not_found", StatusCodes.Status404NotFound, "No such support grant");
    public static readonly ProblemCode GrantNotActive =
        new("grant.not_active", StatusCodes.Status409Conflict, "The support grant is not active");
    public static readonly ProblemCode GrantNotOwner =
        new("grant.not_owner", StatusCodes.Status403Forbidden, "Only the grant's creator or a tenant admin may disable it");
    public static readonly ProblemCode GrantLimitReached =
        new("grant.limit_reached", StatusCodes.Status409Conflict, "Too many active support grants");
    public static readonly ProblemCode GrantRateLimited =
        new("grant.rate_limited", StatusCodes.Status429TooManyRequests, "Too many support grants created; try again later");
    public static readonly ProblemCode GrantorRequiresAdmin =
        new("grant.grantor_requires_admin", StatusCodes.Status403Forbidden, "Naming another user as grantor requires tenant admin");
    public static readonly ProblemCode SessionNotFound =
        new("session.not_found", StatusCodes.Status404NotFound, "No such support session");
    public static readonly ProblemCode SessionActive =
        new("session.active", StatusCodes.Status409Conflict, "The session is still active; its report is written when it ends");
    public static readonly ProblemCode WebhookNotFound =
        new("webhook.not_found", StatusCodes.Status404NotFound, "No such webhook endpoint");
    public static readonly ProblemCode WebhookDeliveryNotFound =
        new("webhook.delivery_not_found", StatusCodes.Status404NotFound, "No such delivery of this webhook endpoint");
    public static readonly ProblemCode WebhookLimitReached =
        new("webhook.limit_reached", StatusCodes.Status409Conflict, "Too many webhook endpoints");
    public static readonly ProblemCode WebhookUnknownEvent =
        new("webhook.unknown_event", StatusCodes.Status400BadRequest, "The request names an event type the gateway does not publish");
    public static readonly ProblemCode WebhookInvalidUrl =
        new("webhook.invalid_url", StatusCodes.Status400BadRequest, "The webhook URL is not an absolute http or https URL");
    public static readonly ProblemCode WebhookHttpsRequired =
        new("webhook.https_required", StatusCodes.Status400BadRequest, "Webhook URLs must use https");
    public static readonly ProblemCode WebhookTargetForbidden =
        new("webhook.target_forbidden", StatusCodes.Status400BadRequest, "The webhook target is a loopback, private or otherwise internal address");
    public static readonly ProblemCode GrantTargetsRequireAdmin =
        new("grant.targets_require_admin", StatusCodes.Status403Forbidden, "Naming users other than yourself as targets requires tenant admin");
    public static readonly ProblemCode SupportDisabledForTenant =
        new("support.disabled_for_tenant", StatusCodes.Status409Conflict, "The platform has disabled support access for this tenant");
    public static readonly ProblemCode GrantStoreUnavailable =
        new("grant_store.unavailable", StatusCodes.Status503ServiceUnavailable, "The support grant store is unavailable");
    public static readonly ProblemCode AuditUnavailable =
        new("audit.unavailable", StatusCodes.Status503ServiceUnavailable, "The audit trail cannot record this action");
    public static readonly ProblemCode SupportLoginInvalid =
        new("support.login.invalid", StatusCodes.Status401Unauthorized, "The support login or password is wrong");
    public static readonly ProblemCode SupportLoginMalformed =
        new("support.login.malformed", StatusCodes.Status400BadRequest, "The support login name is malformed");
    public static readonly ProblemCode SupportLoginTenantMismatch =
        new("support.login.tenant_mismatch", StatusCodes.Status400BadRequest, "The login's tenant prefix contradicts the host");
    public static readonly ProblemCode SupportLoginTenantRequired =
        new("support.login.tenant_required", StatusCodes.Status400BadRequest, "Name the tenant: log in on the tenant's host or as tenant/jill$john");
    public static readonly ProblemCode SupportLoginRateLimited =
        new("support.login.rate_limited", StatusCodes.Status429TooManyRequests, "Too many failed support logins; try again later");
    public static readonly ProblemCode SupportLoginMfaRequired =
        new("support.login.mfa_required", StatusCodes.Status401Unauthorized, "A one-time code from the support user's authenticator app is required; sign in at /_gateway/support/login");
    public static readonly ProblemCode SupportLoginMfaInvalid =
        new("support.login.mfa_invalid", StatusCodes.Status401Unauthorized, "The one-time code is wrong, expired or already used");
    public static readonly ProblemCode SupportLoginBusy =
        new("support.login.busy", StatusCodes.Status429TooManyRequests, "Too many support logins are being checked at once; try again in a moment");
    public static readonly ProblemCode CredentialsUnreadable =
        new("request.credentials_unreadable", StatusCodes.Status400BadRequest, "The Authorization header is repeated or malformed");
    public static readonly ProblemCode SupportSessionInvalid =
        new("support.session.invalid", StatusCodes.Status401Unauthorized, "The support session token is invalid, expired or ended");
    public static readonly ProblemCode SupportSessionEnded =
        new("support.session.ended", StatusCodes.Status401Unauthorized, "The support session has ended; sign in again");
    public static readonly ProblemCode SupportSessionWrongTenant =
        new("support.session.wrong_tenant", StatusCodes.Status403Forbidden, "The support session belongs to another tenant");
    public static readonly ProblemCode SupportNotPermitted =
        new("support.not_permitted", StatusCodes.Status403Forbidden, "This support user may not support this tenant");
    public static readonly ProblemCode SupportNoGrant =
        new("support.no_grant", StatusCodes.Status403Forbidden, "The tenant has not granted support access");
    public static readonly ProblemCode SupportNoTarget =
        new("support.no_target", StatusCodes.Status403Forbidden, "No user to act as: name one (jill$john) or configure the tenant's designated admin");
    public static readonly ProblemCode SupportTargetNotGranted =
        new("support.target_not_granted", StatusCodes.Status403Forbidden, "No active support grant lets support act as this user");
    public static readonly ProblemCode SupportIsolationData =
        new("support.isolation.data", StatusCodes.Status403Forbidden, "The support grant denies access to the tenant's data");
    public static readonly ProblemCode SupportIsolationConfig =
        new("support.isolation.config", StatusCodes.Status403Forbidden, "The support grant makes configuration read-only");
    public static readonly ProblemCode SupportForbiddenRoute =
        new("support.forbidden_route", StatusCodes.Status403Forbidden, "This route is never open to support sessions");
    public static readonly ProblemCode SupportRequestAmbiguous =
        new("support.request.ambiguous", StatusCodes.Status400BadRequest, "The request could mean different things to the gateway and the backend");
    public static readonly ProblemCode ConnectionHeaderRefused =
        new("request.connection_header", StatusCodes.Status400BadRequest, "The Connection header names a header that cannot be treated as hop-by-hop");
    public static readonly ProblemCode InternalError =
        new("gateway.internal_error", StatusCodes.Status500InternalServerError, "The gateway failed to handle the request");
}

[JsonSerializable(typeof(GatewayProblem))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class ProblemJsonContext : JsonSerializerContext;
