using System.Collections.Frozen;
using Gateway.Policy;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Routing;

/// <summary>
/// One validated generation of the route configuration: YARP's routes and clusters plus the
/// compiled support policy of every route.
/// </summary>
internal sealed class RouteTable : IProxyConfig
{
    private readonly CancellationTokenSource _changed = new();

    public RouteTable(
        long revision,
        DateTimeOffset loadedAt,
        IReadOnlyList<RouteConfig> routes,
        IReadOnlyList<ClusterConfig> clusters,
        FrozenDictionary<string, SupportRoutePolicy> policyByRoute)
    {
        Revision = revision;
        LoadedAt = loadedAt;
        Routes = routes;
        Clusters = clusters;
        PolicyByRoute = policyByRoute;
        ChangeToken = new CancellationChangeToken(_changed.Token);
    }

    public long Revision { get; }

    public DateTimeOffset LoadedAt { get; }

    public string RevisionId => Revision.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public IReadOnlyList<RouteConfig> Routes { get; }

    public IReadOnlyList<ClusterConfig> Clusters { get; }

    /// <summary>
    /// Route id → its compiled support policy (the class from metadata, else the configured
    /// default). The same compilation puts the policy on the route's endpoint, where the request
    /// path reads it; this copy serves health, audit of reloads and tests.
    /// </summary>
    public FrozenDictionary<string, SupportRoutePolicy> PolicyByRoute { get; }

    public IChangeToken ChangeToken { get; }

    /// <summary>Tells YARP this generation is superseded.</summary>
    internal void SignalSuperseded() => _changed.Cancel();
}
