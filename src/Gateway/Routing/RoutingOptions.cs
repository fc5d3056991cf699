namespace Gateway.Routing;

/// <summary>Route-policy settings (section <c>Gateway:Routing</c>).</summary>
internal sealed class RoutingOptions
{
    public const string SectionName = "Gateway:Routing";

    /// <summary>
    /// Class of routes whose metadata names none. Defaults to <c>data</c>, the most restrictive
    /// class that still lets a grant without <c>denyData</c> reach the route: an unclassified
    /// route is treated as holding the tenant's records until ops say otherwise.
    /// </summary>
    public string DefaultClass { get; init; } = "data";

    /// <summary>File name, inside the configuration directory, of the YARP routes and clusters.</summary>
    public string RoutesFile { get; init; } = "routes.json";

    /// <summary>How long a burst of file-change notifications is collapsed before reloading.</summary>
    public TimeSpan ReloadDebounce { get; init; } = TimeSpan.FromMilliseconds(250);
}
