using Gateway.Routing;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Policy;

/// <summary>The class of the route a request matched: its <c>SupportClass</c> metadata, else the configured default.</summary>
internal sealed class RouteClassResolver(IOptions<RoutingOptions> options)
{
    // Validated at start-up (RouteConfigLoader refuses a bad default), so this parse cannot fail.
    private readonly RouteClass _default = RouteClasses.TryParse(options.Value.DefaultClass, out var value) ? value : RouteClass.Forbidden;

    /// <summary>
    /// Reads the exact configuration the request matched (not the newest generation, which a
    /// reload may have changed meanwhile). A value that does not parse cannot pass config
    /// validation; if it ever did, the route is treated as forbidden.
    /// </summary>
    public RouteClass Resolve(RouteConfig route) =>
        route.Metadata is not null && route.Metadata.TryGetValue(RouteClasses.MetadataKey, out var name)
            ? RouteClasses.TryParse(name, out var routeClass) ? routeClass : RouteClass.Forbidden
            : _default;
}
