using Gateway.Problems;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.Extensions.Options;

namespace Gateway.Management;

/// <summary>
/// Who may call what, as ASP.NET Core authorization policies on the endpoint groups (no
/// hand-written role checks in handlers). The tenant is the route's <c>{tenant}</c>, else the
/// request host's tenant. A refusal carries its stable problem code.
/// </summary>
internal static class ManagementPolicies
{
    /// <summary>Platform admins only.</summary>
    public const string PlatformAdmin = "management:platform-admin";

    /// <summary>Users (and admins) of the tenant, and platform admins.</summary>
    public const string TenantMember = "management:tenant-member";

    /// <summary>Users (and admins) of the tenant; not platform admins (enabling support is the tenant's act).</summary>
    public const string TenantMemberOnly = "management:tenant-member-only";

    /// <summary>Admins of the tenant, and platform admins.</summary>
    public const string TenantAdmin = "management:tenant-admin";

    /// <summary>Admins of the tenant only (revoking everything is the tenant's act).</summary>
    public const string TenantAdminOnly = "management:tenant-admin-only";

    public static IServiceCollection AddManagementAuthorization(this IServiceCollection services)
    {
        services.AddSingleton<IAuthorizationHandler, ManagementAccessHandler>();
        services.AddSingleton<AuthorizationMiddlewareResultHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, ManagementAuthorizationResultHandler>();
        services.AddAuthorizationBuilder()
            .AddPolicy(PlatformAdmin, p => Management(p).AddRequirements(ManagementAccessRequirement.PlatformAdmin))
            .AddPolicy(TenantMember, p => Management(p).AddRequirements(ManagementAccessRequirement.TenantMember))
            .AddPolicy(TenantMemberOnly, p => Management(p).AddRequirements(ManagementAccessRequirement.TenantMemberOnly))
            .AddPolicy(TenantAdmin, p => Management(p).AddRequirements(ManagementAccessRequirement.TenantAdmin))
            .AddPolicy(TenantAdminOnly, p => Management(p).AddRequirements(ManagementAccessRequirement.TenantAdminOnly));
        return services;
    }

    private static AuthorizationPolicyBuilder Management(AuthorizationPolicyBuilder policy) =>
        policy.AddAuthenticationSchemes(ManagementAuthentication.Scheme).RequireAuthenticatedUser();
}

/// <summary>
/// One policy's rule. The five rules are here once: the management API's policies and the
/// self-service pages (which check them with the same handler) both use these instances.
/// </summary>
internal sealed record ManagementAccessRequirement(bool PlatformOnly, bool AllowPlatformAdmin, bool RequireTenantAdmin) : IAuthorizationRequirement
{
    /// <summary>Platform admins (<see cref="ManagementPolicies.PlatformAdmin"/>).</summary>
    public static readonly ManagementAccessRequirement PlatformAdmin = new(PlatformOnly: true, AllowPlatformAdmin: true, RequireTenantAdmin: false);

    /// <summary>Users and admins of the tenant, and platform admins (<see cref="ManagementPolicies.TenantMember"/>).</summary>
    public static readonly ManagementAccessRequirement TenantMember = new(PlatformOnly: false, AllowPlatformAdmin: true, RequireTenantAdmin: false);

    /// <summary>Users and admins of the tenant only: enabling support is the tenant's act (<see cref="ManagementPolicies.TenantMemberOnly"/>).</summary>
    public static readonly ManagementAccessRequirement TenantMemberOnly = new(PlatformOnly: false, AllowPlatformAdmin: false, RequireTenantAdmin: false);

    /// <summary>Admins of the tenant, and platform admins (<see cref="ManagementPolicies.TenantAdmin"/>).</summary>
    public static readonly ManagementAccessRequirement TenantAdmin = new(PlatformOnly: false, AllowPlatformAdmin: true, RequireTenantAdmin: true);

    /// <summary>Admins of the tenant only (<see cref="ManagementPolicies.TenantAdminOnly"/>).</summary>
    public static readonly ManagementAccessRequirement TenantAdminOnly = new(PlatformOnly: false, AllowPlatformAdmin: false, RequireTenantAdmin: true);
}

/// <summary>Why management access was refused: the problem to answer with.</summary>
internal sealed class ManagementAccessFailure(IAuthorizationHandler handler, ProblemCode problem, string? detail)
    : AuthorizationFailureReason(handler, problem.Value)
{
    public ProblemCode Problem { get; } = problem;

    public string? Detail { get; } = detail;
}

/// <summary>
/// The caller against the tenant of the request. The tenant check comes first, so a token of
/// another tenant learns nothing about this one (not even whether it exists).
/// </summary>
internal sealed class ManagementAccessHandler(IOptions<TenancyOptions> tenancy) : AuthorizationHandler<ManagementAccessRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ManagementAccessRequirement requirement)
    {
        if (ManagementCaller.From(context.User) is not { } caller)
        {
            return Fail(context, ProblemCode.ManagementForbidden, "The token names no caller.");
        }

        if (requirement.PlatformOnly)
        {
            return caller.IsPlatformAdmin ? Succeed(context, requirement) : Fail(context, ProblemCode.ManagementForbidden, "A platform-admin token is required.");
        }

        var http = context.Resource as HttpContext;
        var tenant = http?.GetRouteValue("tenant") as string ?? http?.Features.Get<TenantFeature>()?.Tenant.Value;
        if (tenant is null)
        {
            return Fail(context, ProblemCode.TenantNotFound, null);
        }

        if (requirement.AllowPlatformAdmin && caller.IsPlatformAdmin)
        {
            return Known(tenant) ? Succeed(context, requirement) : Fail(context, ProblemCode.TenantNotFound, null);
        }

        if (!caller.IsTenantUserOf(tenant))
        {
            return caller.Tenant is not null && caller.Tenant != tenant
                ? Fail(context, ProblemCode.WrongTenant, null)
                : Fail(context, ProblemCode.ManagementForbidden, "A tenant-user or tenant-admin token of this tenant is required.");
        }

        if (requirement.RequireTenantAdmin && !caller.IsTenantAdminOf(tenant))
        {
            return Fail(context, ProblemCode.ManagementForbidden, "A tenant-admin token is required.");
        }

        return Known(tenant) ? Succeed(context, requirement) : Fail(context, ProblemCode.TenantNotFound, null);
    }

    private bool Known(string tenant) => tenancy.Value.Tenants.ContainsKey(tenant);

    private static Task Succeed(AuthorizationHandlerContext context, ManagementAccessRequirement requirement)
    {
        context.Succeed(requirement);
        return Task.CompletedTask;
    }

    private Task Fail(AuthorizationHandlerContext context, ProblemCode problem, string? detail)
    {
        context.Fail(new ManagementAccessFailure(this, problem, detail));
        return Task.CompletedTask;
    }
}

/// <summary>
/// Management refusals as problem documents with their codes (401 <c>management.unauthenticated</c>,
/// 403/404 from <see cref="ManagementAccessFailure"/>); every other policy keeps the framework's handling.
/// </summary>
internal sealed class ManagementAuthorizationResultHandler(AuthorizationMiddlewareResultHandler fallback) : IAuthorizationMiddlewareResultHandler
{
    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Succeeded || !policy.AuthenticationSchemes.Contains(ManagementAuthentication.Scheme))
        {
            return fallback.HandleAsync(next, context, policy, authorizeResult);
        }

        if (authorizeResult.Challenged || context.User.Identity?.IsAuthenticated != true)
        {
            return GatewayProblem.Create(ProblemCode.ManagementUnauthenticated).WriteAsync(context, headers => headers.WWWAuthenticate = "Bearer");
        }

        var failure = authorizeResult.AuthorizationFailure?.FailureReasons.OfType<ManagementAccessFailure>().FirstOrDefault();
        return GatewayProblem.Create(failure?.Problem ?? ProblemCode.ManagementForbidden, failure?.Detail).WriteAsync(context);
    }
}
