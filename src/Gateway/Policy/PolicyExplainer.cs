using System.Collections.Frozen;
using Gateway.Authentication;
using Gateway.Grants;
using Gateway.Problems;
using Gateway.Routing;
using Gateway.Tenancy;
using Microsoft.Extensions.Options;

namespace Gateway.Policy;

/// <summary>What the gateway would do with one support request, for ops (explain endpoint, CLI, pages).</summary>
internal sealed record PolicyExplanation(
    string Tenant,
    string Method,
    string Path,
    bool DenyData,
    bool DenyConfig,
    string? Route,
    string? Class,
    bool Allowed,
    string? Code,
    string Reason);

/// <summary>
/// "For tenant T, grant mode M, <c>METHOD target</c>: which route, which class, allowed or not,
/// why." The route is found by the gateway's own routing (<see cref="GatewayRouteResolver"/>:
/// same endpoints, hosts, methods, header and query conditions) on the path as the request path
/// decodes it, and the answer is <see cref="SupportAuthorizer.Decide"/>'s for a permitted support
/// user under one grant with the given isolation. Nothing here decides on its own.
/// </summary>
internal sealed class PolicyExplainer(GatewayRouteResolver routes, IOptions<TenancyOptions> tenancy)
{
    /// <summary>A support user permitted everywhere: explain asks about the route, not about a person.</summary>
    private static readonly SupportUser AnyPermittedUser = new("(support user)", "", Global: true, FrozenSet<string>.Empty);

    public async Task<PolicyExplanation> ExplainAsync(
        string tenant, string method, string rawTarget, bool denyData, bool denyConfig,
        IHeaderDictionary? headers = null, CancellationToken cancellationToken = default)
    {
        PolicyExplanation Answer(string? route, RouteClass? routeClass, bool allowed, string? code, string reason) =>
            new(tenant, method, rawTarget, denyData, denyConfig, route, routeClass?.ToConfigName(), allowed, code, reason);

        if (!tenancy.Value.Tenants.TryGetValue(tenant, out var tenantOptions))
        {
            return Answer(null, null, false, ProblemCode.TenantNotFound.Value, "no such tenant");
        }

        headers ??= new HeaderDictionary();
        if (RequestAmbiguity.Check(rawTarget, method, headers) is { } finding)
        {
            return Answer(null, null, false, ProblemCode.SupportRequestAmbiguous.Value, finding.Reason);
        }

        var query = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var resolved = await routes.ResolveAsync(
            tenantOptions.Hosts[0], method, RequestAmbiguity.DecodedPath(rawTarget),
            query < 0 ? QueryString.Empty : new QueryString(rawTarget[query..]), headers, cancellationToken);
        if (resolved is not { Policy: { } policy, RouteId: { } routeId })
        {
            return Answer(null, null, false, ProblemCode.NoRoute.Value, "no route of this tenant matches: the gateway answers 404");
        }

        var access = new SupportAccess(tenant, [new SupportAccessEntry(SupportAccessSource.Grant, null, denyData, denyConfig, null, null)], null);
        var verdict = SupportAuthorizer.Decide(new SupportRequestFacts(
            new TenantId(tenant), AnyPermittedUser, "(tenant user)", null, access, policy, method, IsUpgrade: false, tenantOptions.DesignatedAdmin));
        return Answer(routeId, policy.Class, verdict.Allowed, verdict.Problem?.Value, verdict.Reason);
    }
}
