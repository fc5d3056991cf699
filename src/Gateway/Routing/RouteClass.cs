namespace Gateway.Routing;

/// <summary>What a proxied route touches, as far as support sessions are concerned.</summary>
internal enum RouteClass
{
    /// <summary>The tenant's records: blocked for every method under <c>denyData</c>.</summary>
    Data,

    /// <summary>Configuration: reads allowed, writes blocked under <c>denyConfig</c>.</summary>
    Config,

    /// <summary>Always allowed to support sessions (UI shell, static assets).</summary>
    Open,

    /// <summary>Never allowed to support sessions (credentials, billing, grant management...).</summary>
    Forbidden,
}

internal static class RouteClasses
{
    public static readonly string AllowedValues = "data, config, open, forbidden";

    /// <summary>Parses the exact lower-case names used in configuration; anything else is invalid.</summary>
    public static bool TryParse(string? value, out RouteClass routeClass)
    {
        switch (value)
        {
            case "data": routeClass = RouteClass.Data; return true;
            case "config": routeClass = RouteClass.Config; return true;
            case "open": routeClass = RouteClass.Open; return true;
            case "forbidden": routeClass = RouteClass.Forbidden; return true;
            default: routeClass = default; return false;
        }
    }

    public static string ToConfigName(this RouteClass routeClass) => routeClass switch
    {
        RouteClass.Data => "data",
        RouteClass.Config => "config",
        RouteClass.Open => "open",
        RouteClass.Forbidden => "forbidden",
        _ => throw new ArgumentOutOfRangeException(nameof(routeClass)),
    };
}
