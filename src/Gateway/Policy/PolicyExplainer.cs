using Gateway.Routing;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Policy;

/// <summary>What the policy would do with one request, for ops (explain endpoint and CLI).</summary>
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
/// "For tenant T, grant mode M, <c>METHOD path</c>: which route, which class, allowed or not,
/// why." Routes are matched like the proxy does for host, method and path (order, then the
/// most specific template); header and query-parameter match conditions are not evaluated,
/// and the explanation says so when a candidate route has them.
/// </summary>
internal sealed class PolicyExplainer(RouteConfigFileProvider routes, RouteClassResolver classes, IOptions<TenancyOptions> tenancy)
{
    public PolicyExplanation Explain(string tenant, string method, string rawTarget, bool denyData, bool denyConfig)
    {
        if (!tenancy.Value.Tenants.TryGetValue(tenant, out var tenantOptions))
        {
            return new(tenant, method, rawTarget, denyData, denyConfig, null, null, false, "tenant.not_found", "no such tenant");
        }

        var headers = new HeaderDictionary();
        if (RequestAmbiguity.Check(rawTarget, method, headers) is { } finding)
        {
            return new(tenant, method, rawTarget, denyData, denyConfig, null, null, false, Problems.ProblemCode.SupportRequestAmbiguous.Value, finding.Reason);
        }

        var path = RequestAmbiguity.DecodedPath(rawTarget);
        var match = Match(tenantOptions.Hosts, method, path);
        if (match is null)
        {
            return new(tenant, method, rawTarget, denyData, denyConfig, null, null, false, Problems.ProblemCode.NoRoute.Value, "no route of this tenant matches: the gateway answers 404");
        }

        var routeClass = classes.Resolve(match);
        var decision = SupportPolicy.Decide(routeClass, method, denyData, denyConfig);
        var reason = decision.Reason;
        if (match.Match.Headers is { Count: > 0 } || match.Match.QueryParameters is { Count: > 0 })
        {
            reason += " (the route also has header or query conditions, which explain does not evaluate)";
        }

        return new(tenant, method, rawTarget, denyData, denyConfig, match.RouteId, routeClass.ToConfigName(), decision.Allowed, decision.Problem?.Value, reason);
    }

    private RouteConfig? Match(IReadOnlyList<string> tenantHosts, string method, string path)
    {
        RouteConfig? best = null;
        (int Order, decimal Precedence) bestRank = default;
        foreach (var route in routes.Current.Routes)
        {
            var m = route.Match;
            if (m.Hosts is null || !m.Hosts.Any(h => tenantHosts.Contains(h, StringComparer.OrdinalIgnoreCase)))
            {
                continue;
            }

            if (m.Methods is { Count: > 0 } && !m.Methods.Contains(method, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            var template = TemplateParser.Parse(m.Path ?? "/{**catchall}");
            if (!new TemplateMatcher(template, new RouteValueDictionary()).TryMatch(path, new RouteValueDictionary()))
            {
                continue;
            }

            var rank = (route.Order ?? 0, RoutePrecedence.ComputeInbound(template));
            if (best is null || rank.Item1 < bestRank.Order || (rank.Item1 == bestRank.Order && rank.Item2 > bestRank.Precedence))
            {
                best = route;
                bestRank = rank;
            }
        }

        return best;
    }
}
