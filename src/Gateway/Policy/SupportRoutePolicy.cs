using System.Globalization;
using Gateway.Routing;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Policy;

/// <summary>
/// A proxy route's support policy, compiled once from its <c>Metadata</c> when a route
/// configuration is loaded and attached to the route's endpoint as typed metadata (see
/// <see cref="RoutePolicyConventions"/>). The request path reads it from the matched endpoint;
/// nothing about a route's policy is parsed per request.
/// </summary>
internal sealed record SupportRoutePolicy(string RouteId, RouteClass Class, bool Banner)
{
    /// <summary>Route metadata key of the support class (<c>data</c>, <c>config</c>, <c>open</c>, <c>forbidden</c>).</summary>
    public const string ClassKey = "SupportClass";

    /// <summary>
    /// Route metadata key that turns the support-session banner off (<c>false</c>) or on
    /// (<c>true</c>, the default) for HTML documents of support sessions on this route.
    /// </summary>
    public const string BannerKey = "SupportBanner";

    /// <summary>Every metadata key the gateway understands; any other key is a configuration error (a typo must not pass silently).</summary>
    public static readonly IReadOnlyList<string> KnownKeys = [ClassKey, BannerKey];

    /// <summary>
    /// Compiles a route's policy, adding one error per problem (named by its key) to
    /// <paramref name="errors"/>. The same function validates a configuration at load and
    /// builds the endpoint metadata, so the two cannot disagree.
    /// </summary>
    public static SupportRoutePolicy Compile(RouteConfig route, RouteClass defaultClass, List<string>? errors = null)
    {
        var key = $"ReverseProxy:Routes:{route.RouteId}:Metadata";
        var routeClass = defaultClass;
        var banner = true;
        foreach (var (name, value) in route.Metadata ?? new Dictionary<string, string>())
        {
            // Configuration keys are case-insensitive; so are these.
            if (string.Equals(name, ClassKey, StringComparison.OrdinalIgnoreCase))
            {
                if (!RouteClasses.TryParse(value, out routeClass))
                {
                    errors?.Add($"{key}:{ClassKey}: '{value}' is not a route class ({RouteClasses.AllowedValues}).");
                    // Never reached at run time (the configuration is refused); fail closed all the same.
                    routeClass = RouteClass.Forbidden;
                }
            }
            else if (string.Equals(name, BannerKey, StringComparison.OrdinalIgnoreCase))
            {
                if (!bool.TryParse(value, out banner))
                {
                    errors?.Add($"{key}:{BannerKey}: '{value}' is not true or false.");
                    banner = true;
                }
            }
            else
            {
                errors?.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{key}:{name}: unknown route metadata key (known: {string.Join(", ", KnownKeys)})."));
            }
        }

        return new SupportRoutePolicy(route.RouteId, routeClass, banner);
    }
}
