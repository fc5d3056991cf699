using System.Text.Json;
using Gateway.Routing;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gateway.Health;

internal static class HealthEndpoints
{
    /// <summary>Tag of the checks that readiness waits for.</summary>
    public const string ReadyTag = "ready";

    public static IServiceCollection AddGatewayHealth(this IServiceCollection services)
    {
        services.AddSingleton<HealthTransitions>();
        services.AddHealthChecks()
            .AddCheck<RouteConfigurationHealthCheck>("configuration", tags: [ReadyTag])
            .AddCheck<BackendsConfiguredHealthCheck>("backends", tags: [ReadyTag])
            .AddCheck<GrantStoreHealthCheck>("grantStore", tags: [ReadyTag]);
        return services;
    }

    public static RouteGroupBuilder MapGatewayHealth(this RouteGroupBuilder gateway)
    {
        gateway.MapHealthChecks("/health/live", new HealthCheckOptions
        {
            Predicate = _ => false,
            ResponseWriter = WriteAsync,
        });
        gateway.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = WriteAsync,
        });
        return gateway;
    }

    /// <summary>
    /// Anyone gets the status word; the dependencies' details (addresses, paths, counters, errors)
    /// only on the management listener or with a platform-admin token.
    /// </summary>
    private static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.RequestServices.GetRequiredService<HealthTransitions>().Observe(report);
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        var details = await CanSeeDetailsAsync(context);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("status", Name(report.Status));
            if (!details)
            {
                json.WriteEndObject();
                json.Flush();
                await context.Response.Body.WriteAsync(buffer.ToArray(), context.RequestAborted);
                return;
            }

            json.WriteStartObject("checks");
            foreach (var (name, entry) in report.Entries)
            {
                json.WriteStartObject(name);
                json.WriteString("status", Name(entry.Status));
                if (entry.Description is not null)
                {
                    json.WriteString("description", entry.Description);
                }

                foreach (var (key, value) in entry.Data)
                {
                    json.WritePropertyName(key);
                    JsonSerializer.Serialize(json, value, value.GetType());
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        await context.Response.Body.WriteAsync(buffer.ToArray(), context.RequestAborted);
    }

    private static async Task<bool> CanSeeDetailsAsync(HttpContext context)
    {
        if (context.RequestServices.GetRequiredService<Hosting.ManagementListener>().IsManagementRequest(context))
        {
            return true;
        }

        if (context.Request.Headers.Authorization.Count == 0)
        {
            return false;
        }

        var result = await context.AuthenticateAsync(Management.ManagementAuthentication.Scheme);
        return result.Succeeded && Management.ManagementCaller.From(result.Principal) is { IsPlatformAdmin: true };
    }

    internal static string Name(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };
}

/// <summary>Ready once a route configuration is in force; reports a rejected edit while the last good one serves.</summary>
internal sealed class RouteConfigurationHealthCheck(RouteConfigFileProvider routes) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var table = routes.Current;
        var data = new Dictionary<string, object>
        {
            ["revision"] = table.Revision,
            ["loadedAt"] = table.LoadedAt,
            ["routes"] = table.Routes.Count,
            ["clusters"] = table.Clusters.Count,
        };
        if (routes.LastRejection is { } rejection)
        {
            data["lastRejectedEdit"] = rejection.Errors;
            return Task.FromResult(HealthCheckResult.Degraded(
                "The last edit of the routes file was rejected; the previous configuration is in force.", data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy("Route configuration loaded.", data));
    }
}

/// <summary>Every cluster has at least one destination (reachability is the backends' own health, not ours).</summary>
internal sealed class BackendsConfiguredHealthCheck(RouteConfigFileProvider routes) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var clusters = routes.Current.Clusters.ToDictionary(
            c => c.ClusterId,
            c => (object)(c.Destinations?.Values.Select(d => d.Address).ToArray() ?? []));
        var empty = clusters.Where(c => ((string[])c.Value).Length == 0).Select(c => c.Key).ToArray();
        return Task.FromResult(empty.Length == 0
            ? HealthCheckResult.Healthy($"{clusters.Count} cluster(s) with destinations.", clusters)
            : HealthCheckResult.Unhealthy($"Clusters without destinations: {string.Join(", ", empty)}", data: clusters));
    }
}

/// <summary>
/// The grant store answers within its budget and its invalidation channel is up. A failing
/// store makes readiness "degraded", not "unhealthy": ordinary traffic still flows, and
/// support requests are refused (503) by themselves; pulling every instance out of the load
/// balancer for a Redis outage would stop the tenants' own traffic too.
/// </summary>
internal sealed class GrantStoreHealthCheck(Gateway.Grants.IGrantStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var kind = store is Gateway.Grants.InMemoryGrantStore ? "in-memory" : "redis";
        var reachable = await store.PingAsync(cancellationToken);
        var data = new Dictionary<string, object>
        {
            ["store"] = kind,
            ["reachable"] = reachable,
            ["invalidationsConnected"] = store.InvalidationsConnected,
        };
        return reachable && store.InvalidationsConnected
            ? HealthCheckResult.Healthy($"Grant store ({kind}) answering.", data)
            : HealthCheckResult.Degraded($"Grant store ({kind}) unavailable: support requests are refused with 503.", data: data);
    }
}

/// <summary>
/// Logs a check's state when it changes (a degraded or unhealthy state when it begins, and when
/// it ends), not on every probe: a load balancer probing every few seconds must not flood the log.
/// </summary>
internal sealed partial class HealthTransitions(ILogger<HealthTransitions> logger)
{
    private readonly Dictionary<string, HealthStatus> _last = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public void Observe(HealthReport report)
    {
        foreach (var (name, entry) in report.Entries)
        {
            HealthStatus? before;
            lock (_lock)
            {
                before = _last.TryGetValue(name, out var known) ? known : null;
                _last[name] = entry.Status;
            }

            if (before == entry.Status || (before is null && entry.Status == HealthStatus.Healthy))
            {
                continue;
            }

            if (entry.Status == HealthStatus.Healthy)
            {
                LogRecovered(logger, name, HealthEndpoints.Name(before!.Value));
            }
            else
            {
                LogChanged(logger, name, HealthEndpoints.Name(entry.Status), entry.Description ?? "");
            }
        }
    }

    [LoggerMessage(EventId = 1060, Level = LogLevel.Warning, Message = "Readiness check {Check} is now {Status}: {Description}")]
    private static partial void LogChanged(ILogger logger, string check, string status, string description);

    [LoggerMessage(EventId = 1061, Level = LogLevel.Information, Message = "Readiness check {Check} is healthy again (was {Previous})")]
    private static partial void LogRecovered(ILogger logger, string check, string previous);
}
