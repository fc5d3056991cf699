using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Grants;
using Gateway.Hosting;
using Gateway.Problems;
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
    private const int MaxLoginBodyBytes = 4096;

    public static RouteGroupBuilder MapSupportEndpoints(this RouteGroupBuilder gateway)
    {
        gateway.MapGet("/.well-known/jwks.json", (HttpContext http, GatewaySigningKey key) =>
        {
            http.Response.ContentType = "application/json";
            http.Response.Headers.CacheControl = "public, max-age=300";
            return http.Response.Body.WriteAsync(key.Jwks, http.RequestAborted).AsTask();
        });
        gateway.MapPost("/support/login", LoginAsync);
        gateway.MapPost("/support/logout", LogoutAsync);
        return gateway;
    }

    private static async Task LoginAsync(
        HttpContext http,
        SupportLoginService logins,
        SupportTokens tokens,
        TenantResolver tenants,
        IOptions<SupportOptions> options)
    {
        var request = await ReadAsync(http);
        if (request is null)
        {
            return;
        }

        if (string.IsNullOrEmpty(request.Username) || string.IsNullOrEmpty(request.Password))
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

        var tenant = hostTenant ?? parsed.Name.TenantPrefix;
        if (tenant is null || !tenants.IsKnownTenant(tenant))
        {
            await GatewayProblem.Create(ProblemCode.SupportLoginTenantRequired).WriteAsync(http);
            return;
        }

        var decision = await logins.LoginAsync(parsed.Name, request.Password, tenant, http);
        if (decision.Session is not { } session)
        {
            await GatewayProblem.Create(decision.Problem!, decision.Detail).WriteAsync(http, headers =>
            {
                if (decision.RetryAfter is { } retryAfter)
                {
                    headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
            });
            return;
        }

        var token = tokens.MintSession(tenant, session.SupportUser, session.TargetUser, session.Access.Until);
        logins.AuditLogin(http, session.Who, session.SupportUser, tenant, "success", null, token.SessionId);
        var lifetime = (long)Math.Max(0, (token.ExpiresAt - http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow()).TotalSeconds);
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

    /// <summary>Ends the session on every instance (its id is refused until the token would have expired).</summary>
    private static async Task LogoutAsync(HttpContext http, IGrantStore store, IOptions<SupportOptions> options, SupportLoginService logins)
    {
        var authentication = await http.AuthenticateAsync(SupportSessionAuthentication.Scheme);
        var principal = authentication.Principal;
        var sessionId = principal?.FindFirst("sid")?.Value;
        var tenant = principal?.FindFirst("tenant")?.Value;
        var expires = principal?.FindFirst("exp")?.Value;
        if (!authentication.Succeeded || sessionId is null || tenant is null || !long.TryParse(expires, out var exp))
        {
            await GatewayProblem.Create(ProblemCode.SupportSessionInvalid).WriteAsync(http, h => h.WWWAuthenticate = "Bearer");
            return;
        }

        try
        {
            await store.RevokeSessionAsync(tenant, sessionId, DateTimeOffset.FromUnixTimeSeconds(exp), http.RequestAborted);
        }
        catch (GrantStoreUnavailableException ex)
        {
            await GatewayProblem.Create(ProblemCode.GrantStoreUnavailable, ex.Message).WriteAsync(http);
            return;
        }

        logins.AuditLogout(http, principal!, tenant, sessionId);
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

    private static async Task<SupportLoginRequest?> ReadAsync(HttpContext http)
    {
        if (!http.Request.HasJsonContentType())
        {
            await GatewayProblem.Create(ProblemCode.UnsupportedMediaType).WriteAsync(http);
            return null;
        }

        try
        {
            var body = await BoundedBody.ReadAsync(http.Request, MaxLoginBodyBytes, http.RequestAborted);
            if (body is null)
            {
                await GatewayProblem.Create(ProblemCode.RequestTooLarge).WriteAsync(http);
                return null;
            }

            var request = JsonSerializer.Deserialize(body, SupportJsonContext.Default.SupportLoginRequest);
            if (request is null)
            {
                await GatewayProblem.Create(ProblemCode.InvalidRequest, "A JSON object is required.").WriteAsync(http);
            }

            return request;
        }
        catch (JsonException)
        {
            // Never echo the body: it holds a password.
            await GatewayProblem.Create(ProblemCode.InvalidRequest, "The body is not the expected JSON object {\"username\", \"password\"}.").WriteAsync(http);
            return null;
        }
    }
}
