using Gateway.Grants;
using Gateway.Problems;
using Gateway.Routing;

namespace Gateway.Policy;

/// <summary>The answer of the route policy for one support request.</summary>
internal readonly record struct PolicyDecision(bool Allowed, ProblemCode? Problem, string Reason);

/// <summary>
/// Isolation modes against route classes (PRODUCT.md §6). Pure: the same function decides
/// live requests and answers the explain endpoint and CLI.
/// </summary>
internal static class SupportPolicy
{
    /// <summary>GET, HEAD and OPTIONS read; every other method, known or not, counts as a write.</summary>
    public static bool IsRead(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method);

    /// <summary>Decides with the effective isolation of all entries (permissions add up: any entry that allows, allows).</summary>
    public static PolicyDecision Decide(RouteClass routeClass, string method, SupportAccess access) =>
        Decide(routeClass, method, access.DenyData, access.DenyConfig);

    public static PolicyDecision Decide(RouteClass routeClass, string method, bool denyData, bool denyConfig) => routeClass switch
    {
        RouteClass.Open => new(true, null, "open route: always allowed to support sessions"),
        RouteClass.Forbidden => new(false, ProblemCode.SupportForbiddenRoute, "forbidden route: never allowed to support sessions"),
        RouteClass.Data when denyData => new(false, ProblemCode.SupportIsolationData, "data route under denyData: every method is blocked"),
        RouteClass.Data => new(true, null, "data route and no denyData"),
        RouteClass.Config when IsRead(method) => new(true, null, "config route, read method"),
        RouteClass.Config when denyConfig => new(false, ProblemCode.SupportIsolationConfig, $"config route under denyConfig: {method} is a write"),
        RouteClass.Config => new(true, null, "config route and no denyConfig"),
        _ => new(false, ProblemCode.SupportForbiddenRoute, "unknown route class: refused"),
    };
}
