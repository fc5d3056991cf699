using Gateway.Events;
using Gateway.Grants;
using Microsoft.Extensions.Options;

namespace Gateway.Sessions;

internal static class SessionsServiceCollectionExtensions
{
    /// <summary>
    /// Support-session records: the store beside the grants (Redis when <c>Redis:Configuration</c>
    /// is set, else in memory), this instance's tracker, its flush-and-sweep loop, and the event bus.
    /// </summary>
    public static IServiceCollection AddSupportSessionRecords(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<SessionsOptions>()
            .Bind(configuration.GetSection(SessionsOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<SessionsOptions>, SessionsOptionsValidator>();

        if (string.IsNullOrWhiteSpace(configuration[$"{RedisOptions.SectionName}:Configuration"]))
        {
            services.AddSingleton<ISessionStore, InMemorySessionStore>();
        }
        else
        {
            services.AddSingleton<ISessionStore, RedisSessionStore>();
        }

        // A session's calls are read back from the audit: Elasticsearch when configured, else the local spool.
        if (string.IsNullOrWhiteSpace(configuration["Audit:Elasticsearch:Url"]))
        {
            services.AddSingleton<ISessionCallSource, SpoolSessionCalls>();
        }
        else
        {
            services.AddSingleton<ISessionCallSource, ElasticsearchSessionCalls>();
        }

        services.AddSingleton<SupportEventBus>();
        services.AddSingleton<SessionTracker>();
        services.AddHostedService<SessionMaintenance>();
        return services;
    }
}
