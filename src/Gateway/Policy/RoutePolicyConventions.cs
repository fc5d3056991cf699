using Gateway.Routing;
using Microsoft.Extensions.Options;

namespace Gateway.Policy;

/// <summary>
/// Puts each proxy route's compiled <see cref="SupportRoutePolicy"/> on its endpoint when YARP
/// builds the endpoints of a route configuration (once per configuration generation).
/// </summary>
internal static class RoutePolicyConventions
{
    public static ReverseProxyConventionBuilder WithSupportRoutePolicies(this ReverseProxyConventionBuilder proxy, IServiceProvider services)
    {
        // Validated at start-up (RouteConfigLoader refuses a bad default), so the parse holds.
        var defaultClass = RouteClasses.TryParse(services.GetRequiredService<IOptions<RoutingOptions>>().Value.DefaultClass, out var parsed)
            ? parsed
            : RouteClass.Forbidden;
        proxy.ConfigureEndpoints((endpoint, route) => endpoint.WithMetadata(SupportRoutePolicy.Compile(route, defaultClass)));
        return proxy;
    }
}
