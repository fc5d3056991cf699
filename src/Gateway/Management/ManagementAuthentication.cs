using System.Security.Claims;
using Gateway.Problems;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Management;

/// <summary>JwtBearer for the management API, against the issuers of <see cref="ManagementOptions"/>.</summary>
internal static class ManagementAuthentication
{
    public const string Scheme = "Management";
    public const string Policy = "Management";

    public static IServiceCollection AddManagementAuthentication(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<ManagementOptions>()
            .Bind(configuration.GetSection(ManagementOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<ManagementOptions>, ManagementOptionsValidator>();

        services.AddAuthentication()
            .AddJwtBearer(Scheme, _ => { });
        services.AddOptions<JwtBearerOptions>(Scheme)
            .Configure<IOptions<ManagementOptions>>((bearer, management) => Configure(bearer, management.Value));
        services.AddAuthorizationBuilder()
            .AddPolicy(Policy, policy => policy.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser());
        return services;
    }

    private static void Configure(JwtBearerOptions bearer, ManagementOptions management)
    {
        var issuers = management.Issuers.Values.ToDictionary(i => i.Issuer, StringComparer.Ordinal);
        var keys = issuers.ToDictionary(
            i => i.Key,
            i => i.Value.SigningKey is not null
                ? ManagementKeys.SymmetricKey(i.Value)
                : ManagementKeys.TryImportPublicKey(i.Value.PublicKeyPem!, i.Value.KeyId)!,
            StringComparer.Ordinal);

        bearer.MapInboundClaims = false;
        bearer.RequireHttpsMetadata = false;
        bearer.IncludeErrorDetails = false;
        bearer.TokenValidationParameters = new TokenValidationParameters
        {
            ValidIssuers = issuers.Keys,
            ValidateIssuer = true,
            ValidateAudience = true,
            // Each issuer's tokens must carry that issuer's audience (not just any configured one).
            AudienceValidator = (audiences, token, _) =>
                token is JsonWebToken jwt && issuers.TryGetValue(jwt.Issuer, out var issuer) && audiences.Contains(issuer.Audience, StringComparer.Ordinal),
            // And be signed with that issuer's key (no cross-issuer key confusion).
            IssuerSigningKeyResolver = (_, token, _, _) =>
                token is JsonWebToken jwt && keys.TryGetValue(jwt.Issuer, out var key) ? [key] : [],
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256, SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.RsaSha256],
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateLifetime = true,
            ClockSkew = TimeSpan.FromSeconds(30),
            NameClaimType = "sub",
            RoleClaimType = "roles",
        };
        bearer.Events = new JwtBearerEvents
        {
            OnChallenge = context =>
            {
                context.HandleResponse();
                return GatewayProblem.Create(ProblemCode.ManagementUnauthenticated)
                    .WriteAsync(context.HttpContext, headers => headers.WWWAuthenticate = "Bearer");
            },
            OnForbidden = context => GatewayProblem.Create(ProblemCode.ManagementForbidden).WriteAsync(context.HttpContext),
        };
    }
}

/// <summary>The authenticated caller of a management endpoint, from its token's claims.</summary>
internal sealed record ManagementCaller(string Subject, string? Tenant, IReadOnlySet<string> Roles)
{
    public const string PlatformAdmin = "platform-admin";
    public const string TenantAdmin = "tenant-admin";
    public const string TenantUser = "tenant-user";

    public bool IsPlatformAdmin => Roles.Contains(PlatformAdmin);

    public bool IsTenantAdminOf(string tenant) => Roles.Contains(TenantAdmin) && string.Equals(Tenant, tenant, StringComparison.Ordinal);

    /// <summary>Any tenant user of that tenant (tenant admins are tenant users too).</summary>
    public bool IsTenantUserOf(string tenant) =>
        (Roles.Contains(TenantUser) || Roles.Contains(TenantAdmin)) && string.Equals(Tenant, tenant, StringComparison.Ordinal);

    public static ManagementCaller? From(ClaimsPrincipal principal)
    {
        var subject = principal.FindFirst("sub")?.Value;
        if (string.IsNullOrWhiteSpace(subject))
        {
            return null;
        }

        var roles = principal.FindAll("roles")
            .SelectMany(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToHashSet(StringComparer.Ordinal);
        return new ManagementCaller(subject, principal.FindFirst("tenant")?.Value, roles);
    }
}
