using Gateway.Problems;

namespace Gateway.Tenancy;

/// <summary>
/// Resolves the tenant from the Host header for every request outside <c>/_gateway</c>.
/// A host that no tenant is served at is refused here, before any route can match it.
/// </summary>
internal sealed class TenantResolutionMiddleware(RequestDelegate next, TenantResolver resolver, Hosting.ManagementListener managementListener)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Path.StartsWithSegments(GatewayPaths.Reserved, StringComparison.OrdinalIgnoreCase)
            || managementListener.IsManagementRequest(context))
        {
            return next(context);
        }

        if (!resolver.TryResolve(context.Request.Host, out var tenant))
        {
            return GatewayProblem.Create(ProblemCode.UnknownHost).WriteAsync(context);
        }

        context.Features.Set(new TenantFeature(tenant));
        return next(context);
    }
}

internal static class GatewayPaths
{
    /// <summary>The reserved prefix of the gateway's own endpoints; never proxied.</summary>
    public static readonly PathString Reserved = new("/_gateway");
}
