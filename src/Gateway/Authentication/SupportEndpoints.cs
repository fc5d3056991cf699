using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Grants;
using Gateway.Management;
using Gateway.Policy;
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

    /// <summary>The one-time code of a support user who signs in with a second factor (docs/mfa.md).</summary>
    public string? Otp { get; init; }
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

    private static async Task LoginAsync(HttpContext http, JsonBody<SupportLoginRequest> body, SupportSignIn signIn)
    {
        var request = body.Value;
        if (request is null || string.IsNullOrEmpty(request.Username) || string.IsNullOrEmpty(request.Password))
        {
            await GatewayProblem.Create(ProblemCode.InvalidRequest, "username and password are required.").WriteAsync(http);
            return;
        }

        var outcome = await signIn.SignInAsync(http, request.Username, request.Password, request.Otp);
        if (outcome.Session is not { } token)
        {
            await RefuseAsync(http, outcome.Problem!, outcome.Detail, outcome.RetryAfter);
            return;
        }

        signIn.AppendSessionCookie(http, outcome);
        http.Response.ContentType = "application/json; charset=utf-8";
        await JsonSerializer.SerializeAsync(http.Response.Body, new SupportLoginResponse(token.Token, "Bearer", outcome.Lifetime), SupportJsonContext.Default.SupportLoginResponse, http.RequestAborted);
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
    /// and closes its record. Always 204 for a session: when the store cannot record the end now,
    /// this instance refuses the session at once and retries (see <see cref="SignOutResult.Pending"/>).
    /// </summary>
    private static async Task LogoutAsync(HttpContext http, SupportSignIn signIn)
    {
        if (await signIn.SignOutAsync(http) == SignOutResult.NoSession)
        {
            await GatewayProblem.Create(ProblemCode.SupportSessionInvalid).WriteAsync(http, h => h.WWWAuthenticate = "Bearer");
            return;
        }

        signIn.ClearSessionCookie(http);
        http.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}
