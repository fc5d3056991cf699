using System.Collections.Frozen;
using Gateway.Policy;
using Gateway.Tenancy;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Routing;

/// <summary>
/// Reads the <c>ReverseProxy</c> section (routes file plus environment and command-line
/// overrides), binds it strictly (an unknown key is an error, not silently ignored), and runs
/// YARP's own validation and the gateway's rules. Either every rule passes and a
/// <see cref="RouteTable"/> comes out, or a <see cref="RouteConfigException"/> lists every
/// problem with the key it is about.
/// </summary>
internal sealed class RouteConfigLoader(
    IConfigValidator yarpValidator,
    TenantResolver tenants,
    IOptions<RoutingOptions> options,
    TimeProvider time)
{
    public const string SectionName = "ReverseProxy";

    private static readonly string[] PathOrQueryTransformPrefixes = ["Path", "Query"];

    public async Task<RouteTable> LoadAsync(IConfiguration configuration, long revision)
    {
        var errors = new List<string>();
        if (!RouteClasses.TryParse(options.Value.DefaultClass, out var defaultClass))
        {
            errors.Add($"Gateway:Routing:DefaultClass: '{options.Value.DefaultClass}' is not a route class ({RouteClasses.AllowedValues}).");
        }

        var section = configuration.GetSection(SectionName);
        var clusters = BindChildren<ClusterConfig>(section.GetSection("Clusters"), errors, (c, id) => c with { ClusterId = id });
        var routes = BindChildren<RouteConfig>(section.GetSection("Routes"), errors, (r, id) => r with { RouteId = id });

        if (routes.Count == 0 && errors.Count == 0)
        {
            errors.Add($"{SectionName}:Routes: no routes are configured; refusing a configuration that would stop all traffic.");
        }

        var clusterIds = clusters.Select(c => c.ClusterId).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var cluster in clusters)
        {
            var key = $"{SectionName}:Clusters:{cluster.ClusterId}";
            if (cluster.Destinations is null || cluster.Destinations.Count == 0)
            {
                errors.Add($"{key}:Destinations: at least one destination is required.");
            }

            AddAll(errors, key, await yarpValidator.ValidateClusterAsync(cluster));
        }

        var policies = new Dictionary<string, SupportRoutePolicy>(StringComparer.OrdinalIgnoreCase);
        foreach (var route in routes)
        {
            var key = $"{SectionName}:Routes:{route.RouteId}";
            if (route.ClusterId is null || !clusterIds.Contains(route.ClusterId))
            {
                errors.Add($"{key}:ClusterId: '{route.ClusterId}' is not a configured cluster.");
            }

            var hosts = route.Match?.Hosts;
            if (hosts is null || hosts.Count == 0)
            {
                errors.Add($"{key}:Match:Hosts: every route must name the tenant hosts it serves.");
            }
            else
            {
                for (var i = 0; i < hosts.Count; i++)
                {
                    if (!tenants.IsKnownHost(hosts[i]))
                    {
                        errors.Add($"{key}:Match:Hosts:{i}: '{hosts[i]}' is not a host of any tenant under Gateway:Tenants.");
                    }
                }
            }

            policies[route.RouteId] = SupportRoutePolicy.Compile(route, defaultClass, errors);
            AddAll(errors, key, await yarpValidator.ValidateRouteAsync(route));
        }

        if (errors.Count > 0)
        {
            throw new RouteConfigException(errors);
        }

        return new RouteTable(
            revision,
            time.GetUtcNow(),
            routes,
            clusters,
            policies.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>True when the route rewrites the path or query, so the raw target cannot be forwarded as is.</summary>
    public static bool RewritesPathOrQuery(RouteConfig route) =>
        route.Transforms is not null && route.Transforms.Any(t => t.Keys.Any(k =>
            PathOrQueryTransformPrefixes.Any(p => k.StartsWith(p, StringComparison.OrdinalIgnoreCase))));

    private static List<T> BindChildren<T>(IConfigurationSection section, List<string> errors, Func<T, string, T> withId)
        where T : class, new()
    {
        var result = new List<T>();
        foreach (var child in section.GetChildren())
        {
            try
            {
                var bound = child.Get<T>(o => o.ErrorOnUnknownConfiguration = true) ?? new T();
                result.Add(withId(bound, child.Key));
            }
            catch (InvalidOperationException ex)
            {
                errors.Add($"{child.Path}: {Flatten(ex)}");
            }
        }

        return result;
    }

    private static void AddAll(List<string> errors, string key, IList<Exception> found)
    {
        foreach (var ex in found)
        {
            errors.Add($"{key}: {Flatten(ex)}");
        }
    }

    private static string Flatten(Exception ex) =>
        ex.InnerException is null ? ex.Message : $"{ex.Message} ({Flatten(ex.InnerException)})";
}

/// <summary>The route configuration was rejected; <see cref="Errors"/> name the keys at fault.</summary>
internal sealed class RouteConfigException(IReadOnlyList<string> errors)
    : Exception("The route configuration is invalid: " + string.Join(" | ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
