using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Authentication;

/// <summary>
/// JwtBearer for the gateway's own session tokens (header <c>Authorization: Bearer</c> or the
/// session cookie). Never a default scheme: it runs only when the support pipeline asks.
/// </summary>
internal static class SupportSessionAuthentication
{
    public const string Scheme = "SupportSession";

    public static IServiceCollection AddSupportSessionAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication().AddJwtBearer(Scheme, _ => { });
        services.AddOptions<JwtBearerOptions>(Scheme)
            .Configure<GatewaySigningKey, IOptions<SupportOptions>, TimeProvider>((bearer, key, options, time) =>
            {
                var o = options.Value;
                bearer.MapInboundClaims = false;
                bearer.IncludeErrorDetails = false;
                bearer.RequireHttpsMetadata = false;
                bearer.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = o.Issuer,
                    ValidAudience = o.SessionAudience,
                    IssuerSigningKey = key.SecurityKey,
                    ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
                    RequireSignedTokens = true,
                    RequireExpirationTime = true,
                    ValidateLifetime = true,
                    ClockSkew = TimeSpan.FromSeconds(30),
                    // Lifetime against the gateway's clock, the same one grants expire on.
                    LifetimeValidator = (notBefore, expires, _, p) =>
                    {
                        var now = time.GetUtcNow().UtcDateTime;
                        return expires is { } exp && now <= exp + p.ClockSkew && (notBefore is not { } nbf || now >= nbf - p.ClockSkew);
                    },
                    NameClaimType = "sub",
                };
                bearer.Events = new JwtBearerEvents
                {
                    // The same reading as the support pipeline's (one rule for header and cookie).
                    OnMessageReceived = context =>
                    {
                        context.Token = SupportSessions.SupportCredentialReader.SessionTokenOf(context.Request, o.CookieName);
                        return Task.CompletedTask;
                    },
                };
            });
        return services;
    }
}
