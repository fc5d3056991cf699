using System.Security.Claims;
using Gateway.Management;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace Gateway.Pages.Ui;

/// <summary>A signed-in user of the self-service pages: name, tenant (none for a platform admin) and role.</summary>
internal sealed record PageUser(string Name, string? Tenant, string Role)
{
    /// <summary>
    /// The same caller the management API builds from a token, so the pages go through the same
    /// services (<see cref="Grants.GrantService"/> and the others) and the same authorization handler.
    /// </summary>
    public ManagementCaller Caller => new(Name, Tenant, new HashSet<string>(StringComparer.Ordinal) { Role });

    public bool IsPlatformAdmin => Role == ManagementCaller.PlatformAdmin;

    public bool IsTenantAdmin => Role == ManagementCaller.TenantAdmin;
}

/// <summary>
/// The cookie of the self-service pages (<c>/_gateway/ui</c>). It holds the page user's name,
/// tenant and role, protected by the gateway's data-protection keys; it is sent only to
/// <c>/_gateway/ui</c> (never to the tenant's application or the management API), is HttpOnly,
/// SameSite=Lax and Secure whenever the request came over https.
/// </summary>
internal static class PageSignIn
{
    public const string Scheme = "GatewayPages";
    public const string CookieName = "sgw_pages";
    public const string BasePath = "/_gateway/ui";
    public const string SignInPath = "/_gateway/ui/signin";

    /// <summary>The authentication type of the cookie's identity: nothing else is read as a page user.</summary>
    private const string IdentityType = "gateway-pages";
    private const string NameClaim = "sub";
    private const string TenantClaim = "tenant";
    private const string RoleClaim = "role";

    public static IServiceCollection AddPageSignIn(this IServiceCollection services)
    {
        services.AddAuthentication().AddCookie(Scheme, options =>
        {
            options.Cookie.Name = CookieName;
            options.Cookie.Path = BasePath;
            options.Cookie.HttpOnly = true;
            options.Cookie.SameSite = SameSiteMode.Lax;
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.ExpireTimeSpan = TimeSpan.FromHours(8);
            options.SlidingExpiration = true;
            options.LoginPath = SignInPath;
            // The pages decide themselves (redirect to sign-in, or a readable 403 page); the
            // scheme is never challenged by an authorization policy.
            options.Events = new CookieAuthenticationEvents();
        });
        return services;
    }

    public static ClaimsPrincipal Principal(PageUser user)
    {
        var claims = new List<Claim> { new(NameClaim, user.Name), new(RoleClaim, user.Role) };
        if (user.Tenant is not null)
        {
            claims.Add(new Claim(TenantClaim, user.Tenant));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, IdentityType, NameClaim, RoleClaim));
    }

    public static PageUser? Read(ClaimsPrincipal? principal)
    {
        var identity = principal?.Identities.FirstOrDefault(i => i.IsAuthenticated && i.AuthenticationType == IdentityType);
        var name = identity?.FindFirst(NameClaim)?.Value;
        var role = identity?.FindFirst(RoleClaim)?.Value;
        return identity is null || string.IsNullOrEmpty(name) || string.IsNullOrEmpty(role)
            ? null
            : new PageUser(name, identity.FindFirst(TenantClaim)?.Value, role);
    }
}

/// <summary>
/// The users of the demo sign-in page: the demo fixture's tenant users (the names the <c>token</c>
/// verb's examples use) and the platform admin. Only outside <c>Gateway:Production</c>.
/// </summary>
internal static class DemoPageUsers
{
    private static readonly PageUser[] All =
    [
        new("john", "acme", ManagementCaller.TenantUser),
        new("ann", "acme", ManagementCaller.TenantAdmin),
        new("gina", "globex", ManagementCaller.TenantAdmin),
        new("olivia", null, ManagementCaller.PlatformAdmin),
    ];

    /// <summary>The users of <paramref name="tenant"/>, then the platform admin.</summary>
    public static IReadOnlyList<PageUser> For(string? tenant) =>
        [.. All.Where(u => u.Tenant is not null && u.Tenant == tenant), .. All.Where(u => u.IsPlatformAdmin)];
}
