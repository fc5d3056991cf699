using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Grants;

internal static class GrantsServiceCollectionExtensions
{
    /// <summary>
    /// The grant store (Redis when <c>Redis:Configuration</c> is set, else in-memory), the cached
    /// read path and the rules service.
    /// </summary>
    public static IServiceCollection AddGatewayGrants(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<GrantsOptions>()
            .Bind(configuration.GetSection(GrantsOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<GrantsOptions>>(new GrantsOptionsValidator(
            Production: configuration.GetValue<bool>("Gateway:Production"),
            RedisConfigured: !string.IsNullOrWhiteSpace(configuration[$"{RedisOptions.SectionName}:Configuration"])));
        services.AddOptionsWithValidateOnStart<RedisOptions>()
            .Bind(configuration.GetSection(RedisOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<RedisOptions>, RedisOptionsValidator>();

        if (string.IsNullOrWhiteSpace(configuration[$"{RedisOptions.SectionName}:Configuration"]))
        {
            services.AddSingleton<IGrantStore, InMemoryGrantStore>();
        }
        else
        {
            services.AddSingleton<IConnectionMultiplexer>(sp => ConnectRedis(sp.GetRequiredService<IOptions<RedisOptions>>().Value, sp.GetRequiredService<IOptions<GrantsOptions>>().Value));
            services.AddSingleton<RedisGrantStore>();
            services.AddSingleton<IGrantStore>(sp => sp.GetRequiredService<RedisGrantStore>());
            services.AddHostedService<RedisGrantStoreStarter>();
        }

        services.AddSingleton<SupportAccessReader>();
        services.AddSingleton<GrantService>();
        return services;
    }

    /// <summary>
    /// Connects without failing start-up when Redis is down: the gateway then serves ordinary
    /// traffic and answers support requests with 503 until Redis is reachable.
    /// </summary>
    private static ConnectionMultiplexer ConnectRedis(RedisOptions redis, GrantsOptions grants) =>
        ConnectionMultiplexer.Connect(ConnectionOptions(redis.Configuration!, grants));

    /// <summary>The multiplexer's options: connect lazily, and fail every call fast while disconnected.</summary>
    internal static ConfigurationOptions ConnectionOptions(string configuration, GrantsOptions grants)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        options.ConnectRetry = 1;
        options.ConnectTimeout = (int)Math.Max(grants.StoreTimeout.TotalMilliseconds * 5, 1000);
        options.SyncTimeout = (int)Math.Max(grants.StoreTimeout.TotalMilliseconds * 5, 1000);
        options.KeepAlive = 5;
        // Fail closed fast: while disconnected, StackExchange.Redis 2.x/3.x would otherwise keep
        // commands in a backlog until the caller's timeout; support requests must get their 503
        // within the store budget, and the read path must see "unavailable" at once.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        return options;
    }

    private sealed class RedisGrantStoreStarter(RedisGrantStore store) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => store.StartAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

internal sealed record GrantsOptionsValidator(bool Production, bool RedisConfigured) : IValidateOptions<GrantsOptions>
{
    public ValidateOptionsResult Validate(string? name, GrantsOptions o)
    {
        var failures = new List<string>();
        if (Production && !RedisConfigured && !o.SingleInstanceInMemoryStore)
        {
            failures.Add("Redis:Configuration: empty, so grants would live in this process only, unseen by other instances; set Redis:Configuration, or Grants:SingleInstanceInMemoryStore=true to state that this gateway runs as a single instance.");
        }

        if (o.StoreTimeout <= TimeSpan.Zero || o.StoreTimeout > TimeSpan.FromSeconds(10))
        {
            failures.Add("Grants:StoreTimeout: more than zero and at most 00:00:10.");
        }

        if (o.CacheSafetyTtl <= TimeSpan.Zero || o.CacheSafetyTtl > TimeSpan.FromMinutes(1))
        {
            failures.Add("Grants:CacheSafetyTtl: more than zero and at most 00:01:00.");
        }

        if (o.HistoryRetention <= TimeSpan.Zero)
        {
            failures.Add("Grants:HistoryRetention: more than zero.");
        }

        if (o.MaxDurationHours is < 1 or > 24 * 366)
        {
            failures.Add("Grants:MaxDurationHours: from 1 to 8784.");
        }

        if (o.MaxActiveGrantsPerTenant is < 1 or > 1000 || o.MaxActiveGrantsPerUser is < 1 or > 1000 || o.MaxActiveGrantsPerUser > o.MaxActiveGrantsPerTenant)
        {
            failures.Add("Grants:MaxActiveGrantsPerTenant, MaxActiveGrantsPerUser: from 1 to 1000, per user at most per tenant.");
        }

        if (o.MaxGrantCreationsPerUserPerHour is < 1 or > 10_000)
        {
            failures.Add("Grants:MaxGrantCreationsPerUserPerHour: from 1 to 10000.");
        }

        if (o.MaxReasonLength is < 0 or > 10_000)
        {
            failures.Add("Grants:MaxReasonLength: from 0 to 10000.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

internal sealed class RedisOptionsValidator : IValidateOptions<RedisOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisOptions o)
    {
        var failures = new List<string>();
        if (!string.IsNullOrWhiteSpace(o.Configuration))
        {
            try
            {
                ConfigurationOptions.Parse(o.Configuration);
            }
            catch (ArgumentException ex)
            {
                failures.Add($"Redis:Configuration: {ex.Message}");
            }
        }

        if (string.IsNullOrEmpty(o.KeyPrefix) || o.KeyPrefix.Any(char.IsWhiteSpace))
        {
            failures.Add("Redis:KeyPrefix: non-empty, without whitespace.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
