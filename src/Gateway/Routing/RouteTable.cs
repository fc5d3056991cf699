using System.Collections.Frozen;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Routing;

/// <summary>
/// One validated generation of the route configuration: YARP's routes and clusters plus the
/// support class of every route, resolved once here rather than per request.
/// </summary>
internal sealed class RouteTable : IProxyConfig
{
    private readonly CancellationTokenSource _changed = new();

    public RouteTable(
        long revision,
        DateTimeOffset loadedAt,
        IReadOnlyList<RouteConfig> routes,
        IReadOnlyList<ClusterConfig> clusters,
        FrozenDictionary<string, RouteClass> classByRoute)
    {
        Revision = revision;
        LoadedAt = loadedAt;
        Routes = routes;
        Clusters = clusters;
        ClassByRoute = classByRoute;
        ChangeToken = new CancellationChangeToken(_changed.Token);
    }

    public long Revision { get; }

    public DateTimeOffset LoadedAt { get; }

    public string RevisionId => Revision.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public IReadOnlyList<RouteConfig> Routes { get; }

    public IReadOnlyList<ClusterConfig> Clusters { get; }

    /// <summary>Route id → effective class (explicit metadata, else the configured default).</summary>
    public FrozenDictionary<string, RouteClass> ClassByRoute { get; }

    public IChangeToken ChangeToken { get; }

    /// <summary>Tells YARP this generation is superseded.</summary>
    internal void SignalSuperseded() => _changed.Cancel();
}
