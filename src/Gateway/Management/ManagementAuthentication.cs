using System.Security.Claims;
using Gateway.Pages.Ui;
using Gateway.Problems;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Management;

/// <summary>
/// JwtBearer for the management API: one scheme serving every issuer of <see cref="ManagementOptions"/>,
/// each token validated by <see cref="ManagementTokenHandler"/> against its own issuer only.
/// </summary>
internal static class ManagementAuthentication
{
    public const string Scheme = "Management";
    public const string Policy = "Management";

    public static IServiceCollection AddManagementAuthentication(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<ManagementOptions>()
            .Bind(configuration.GetSection(ManagementOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<ManagementOptions>, ManagementOptionsValidator>();
        services.AddSingleton<ManagementIssuers>();

        services.AddAuthentication()
            .AddJwtBearer(Scheme, _ => { });
        services.AddOptions<JwtBearerOptions>(Scheme)
            .Configure<ManagementIssuers>(Configure);
        services.AddPageOidc(configuration);
        services.AddAuthorizationBuilder()
            .AddPolicy(Policy, policy => policy.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser());
        return services;
    }

    private static void Configure(JwtBearerOptions bearer, ManagementIssuers issuers)
    {
        bearer.MapInboundClaims = false;
        bearer.IncludeErrorDetails = false;
        bearer.TokenHandlers.Clear();
        bearer.TokenHandlers.Add(new ManagementTokenHandler(issuers));
        // The rules every issuer shares; the handler adds the token's own issuer, audience, keys and algorithms.
        bearer.TokenValidationParameters = new TokenValidationParameters
        {
            ValidateIssuer = true,
            ValidateAudience = true,
            ValidateIssuerSigningKey = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateLifetime = true,
            ClockSkew = TimeSpan.FromSeconds(30),
            NameClaimType = ManagementCaller.SubjectClaim,
            RoleClaimType = ManagementCaller.RoleClaim,
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

/// <summary>The authenticated caller of a management endpoint, as its token's issuer maps it.</summary>
internal sealed record ManagementCaller(string Subject, string? Tenant, IReadOnlySet<string> Roles)
{
    public const string PlatformAdmin = "platform-admin";
    public const string TenantAdmin = "tenant-admin";
    public const string TenantUser = "tenant-user";

    internal const string SubjectClaim = "sub";
    internal const string TenantClaim = "tenant";
    internal const string RoleClaim = "roles";
    internal const string IssuerClaim = "iss";

    /// <summary>
    /// The authentication type of the identity <see cref="ManagementTokenHandler"/> builds after a
    /// token passed its issuer's checks and mapping; no other identity is read as a caller.
    /// </summary>
    internal const string IdentityType = "gateway-management";

    public bool IsPlatformAdmin => Roles.Contains(PlatformAdmin);

    public bool IsTenantAdminOf(string tenant) => Roles.Contains(TenantAdmin) && string.Equals(Tenant, tenant, StringComparison.Ordinal);

    /// <summary>Any tenant user of that tenant (tenant admins are tenant users too).</summary>
    public bool IsTenantUserOf(string tenant) =>
        (Roles.Contains(TenantUser) || Roles.Contains(TenantAdmin)) && string.Equals(Tenant, tenant, StringComparison.Ordinal);

    /// <summary>
    /// The caller of a request the <c>Management</c> scheme authenticated. Which claims meant
    /// subject, tenant and roles was decided by the mapping of the validated token's own issuer
    /// (<see cref="ManagementClaimMapper"/>, chosen by its <c>iss</c>) when the token was validated;
    /// this reads that result back, never the token's raw claims.
    /// </summary>
    public static ManagementCaller? From(ClaimsPrincipal principal)
    {
        var identity = principal.Identities.FirstOrDefault(i => i.IsAuthenticated && i.AuthenticationType == IdentityType);
        var subject = identity?.FindFirst(SubjectClaim)?.Value;
        if (identity is null || string.IsNullOrWhiteSpace(subject))
        {
            return null;
        }

        var roles = identity.FindAll(RoleClaim).Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        return new ManagementCaller(subject, identity.FindFirst(TenantClaim)?.Value, roles);
    }

    /// <summary>Binds the caller as an endpoint parameter (authorization has already required one).</summary>
    public static ValueTask<ManagementCaller?> BindAsync(HttpContext context) => ValueTask.FromResult(From(context.User));

    /// <summary>The identity that carries this caller from authentication to the endpoints.</summary>
    internal ClaimsIdentity ToIdentity(string issuer)
    {
        var claims = new List<Claim> { new(SubjectClaim, Subject, ClaimValueTypes.String, issuer), new(IssuerClaim, issuer, ClaimValueTypes.String, issuer) };
        if (Tenant is not null)
        {
            claims.Add(new Claim(TenantClaim, Tenant, ClaimValueTypes.String, issuer));
        }

        claims.AddRange(Roles.Order(StringComparer.Ordinal).Select(r => new Claim(RoleClaim, r, ClaimValueTypes.String, issuer)));
        return new ClaimsIdentity(claims, IdentityType, SubjectClaim, RoleClaim);
    }
}
