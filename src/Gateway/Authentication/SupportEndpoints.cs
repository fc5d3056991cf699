using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Grants;
using Gateway.Management;
using Gateway.Policy;
using Gateway.Problems;
using Gateway.Sessions;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record SupportLoginRequest
{
    public string? Username { get; init; }

    public string? Password { get; init; }
}

internal sealed record SupportLoginResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_in")] long ExpiresIn);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = false)]
[JsonSerializable(typeof(SupportLoginRequest))]
[JsonSerializable(typeof(SupportLoginResponse))]
internal sealed partial class SupportJsonContext : JsonSerializerContext;

/// <summary><c>POST /_gateway/support/login</c>, <c>POST /_gateway/support/logout</c> and the JWKS.</summary>
internal static class SupportEndpoints
{
    public static RouteGroupBuilder MapSupportEndpoints(this RouteGroupBuilder gateway)
    {
        gateway.MapGet("/.well-known/jwks.json", (HttpContext http, GatewaySigningKey key) =>
        {
            http.Response.ContentType = "application/json";
            http.Response.Headers.CacheControl = "public, max-age=300";
            return http.Response.Body.WriteAsync(key.Jwks, http.RequestAborted).AsTask();
        });
        gateway.MapPost("/support/login", LoginAsync).AddEndpointFilter<JsonBodyFilter>();
        gateway.MapPost("/support/logout", LogoutAsync);
        return gateway;
    }

    private static async Task LoginAsync(
        HttpContext http,
        JsonBody<SupportLoginRequest> body,
        SupportAuthenticator authenticator,
        SupportAccessReader accessReader,
        SupportTokens tokens,
        TenantResolver tenants,
        IOptions<TenancyOptions> tenancy,
        IOptions<SupportOptions> options,
        TimeProvider time)
    {
        var request = body.Value;
        if (request is null || string.IsNullOrEmpty(request.Username) || string.IsNullOrEmpty(request.Password))
        {
            await GatewayProblem.Create(ProblemCode.InvalidRequest, "username and password are required.").WriteAsync(http);
            return;
        }

        var hostTenant = tenants.TryResolve(http.Request.Host, out var resolved) ? resolved.Value : null;
        var parsed = SupportLoginNames.Parse(request.Username, hostTenant);
        if (parsed.Status != SupportLoginParseStatus.Valid || parsed.Name is null)
        {
            var code = parsed.Status == SupportLoginParseStatus.NotSupportLogin ? ProblemCode.SupportLoginMalformed
                : parsed.ErrorCode == ProblemCode.SupportLoginTenantMismatch.Value ? ProblemCode.SupportLoginTenantMismatch
                : ProblemCode.SupportLoginMalformed;
            await GatewayProblem.Create(code, parsed.Error ?? "A support login looks like jill$john or tenant/jill$john.").WriteAsync(http);
            return;
        }

        var tenantName = hostTenant ?? parsed.Name.TenantPrefix;
        if (tenantName is null || !tenants.IsKnownTenant(tenantName))
        {
            await GatewayProblem.Create(ProblemCode.SupportLoginTenantRequired).WriteAsync(http);
            return;
        }

        var tenant = new TenantId(tenantName);
        var identity = authenticator.AuthenticatePassword(parsed.Name, request.Password, tenant, http);
        if (identity.User is not { } user)
        {
            await RefuseAsync(http, identity.Problem!, null, identity.RetryAfter);
            return;
        }

        var result = await accessReader.GetAsync(tenant.Value, http.RequestAborted);
        if (result.Access is not { } access)
        {
            await GatewayProblem.Create(ProblemCode.GrantStoreUnavailable).WriteAsync(http);
            return;
        }

        // Admission to the tenant: the request path's decision without a route.
        var verdict = SupportAuthorizer.Decide(new SupportRequestFacts(
            tenant, user, identity.RequestedTarget, null, access, null, HttpMethods.Post, false, tenancy.Value.Tenants[tenant.Value].DesignatedAdmin));
        if (!verdict.Allowed)
        {
            authenticator.AuditLogin(http, $"{user.Name}${identity.RequestedTarget}", user.Name, tenant, "failure", verdict.Problem!.Value);
            await RefuseAsync(http, verdict.Problem!, verdict.Detail, null);
            return;
        }

        var target = verdict.TargetUser!;
        var token = tokens.MintSession(tenant.Value, user, target, access.Until);
        authenticator.AuditLogin(http, $"{user.Name}${target}", user.Name, tenant, "success", null, token.SessionId);
        var lifetime = (long)Math.Max(0, (token.ExpiresAt - time.GetUtcNow()).TotalSeconds);
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Cookies.Append(options.Value.CookieName, token.Token, new CookieOptions
        {
            Secure = true,
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Path = "/",
            MaxAge = TimeSpan.FromSeconds(lifetime),
        });
        http.Response.ContentType = "application/json; charset=utf-8";
        await JsonSerializer.SerializeAsync(http.Response.Body, new SupportLoginResponse(token.Token, "Bearer", lifetime), SupportJsonContext.Default.SupportLoginResponse, http.RequestAborted);
    }

    private static Task RefuseAsync(HttpContext http, ProblemCode problem, string? detail, TimeSpan? retryAfter) =>
        GatewayProblem.Create(problem, detail).WriteAsync(http, headers =>
        {
            if (retryAfter is { } wait)
            {
                headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        });

    /// <summary>
    /// Ends the session on every instance (its id is refused until the token would have expired)
    /// and closes its record. Logging out always succeeds: when the store cannot record it now,
    /// this instance refuses the session at once and retries (every instance refuses support
    /// calls while the store is unreachable anyway).
    /// </summary>
    private static async Task LogoutAsync(HttpContext http, SessionTracker sessions, IOptions<SupportOptions> options, SupportAuthenticator authenticator)
    {
        var authentication = await http.AuthenticateAsync(SupportSessionAuthentication.Scheme);
        var principal = authentication.Principal;
        var sessionId = principal?.FindFirst("sid")?.Value;
        var tenant = principal?.FindFirst("tenant")?.Value;
        if (!authentication.Succeeded || sessionId is null || tenant is null)
        {
            await GatewayProblem.Create(ProblemCode.SupportSessionInvalid).WriteAsync(http, h => h.WWWAuthenticate = "Bearer");
            return;
        }

        await sessions.EndAsync(tenant, sessionId, SessionEndReasons.Logout, by: principal!.FindFirst("act")?.Value, CancellationToken.None);
        authenticator.AuditLogout(http, principal!, new TenantId(tenant), sessionId);
        http.Response.Cookies.Append(options.Value.CookieName, "", new CookieOptions
        {
            Secure = true,
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Path = "/",
            MaxAge = TimeSpan.Zero,
        });
        http.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}
