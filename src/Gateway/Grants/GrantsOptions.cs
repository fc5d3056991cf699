namespace Gateway.Grants;

/// <summary>Grant store and read-path settings (section <c>Grants</c>).</summary>
internal sealed class GrantsOptions
{
    public const string SectionName = "Grants";

    /// <summary>How long expired and revoked grants stay queryable.</summary>
    public TimeSpan HistoryRetention { get; init; } = TimeSpan.FromDays(90);

    /// <summary>
    /// Budget for one store call. Slower is treated as unavailable: support requests get 503
    /// rather than waiting on a struggling store.
    /// </summary>
    public TimeSpan StoreTimeout { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Longest a cached tenant state is used even without an invalidation message. Revocations
    /// arrive by pub/sub well before this; it bounds the damage of a lost message.
    /// </summary>
    public TimeSpan CacheSafetyTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest grant a tenant may create.</summary>
    public int MaxDurationHours { get; init; } = 24 * 30;

    /// <summary>Longest free-text reason accepted.</summary>
    public int MaxReasonLength { get; init; } = 1000;

    /// <summary>Most active grants a tenant may hold at once (each new one prolongs access; more would only bloat every read).</summary>
    public int MaxActiveGrantsPerTenant { get; init; } = 50;

    /// <summary>Most active grants one user of a tenant may hold at once.</summary>
    public int MaxActiveGrantsPerUser { get; init; } = 5;

    /// <summary>Most grants one user may create per hour (per gateway instance).</summary>
    public int MaxGrantCreationsPerUserPerHour { get; init; } = 20;

    /// <summary>
    /// States that this gateway runs as a single instance, so the embedded in-memory grant store
    /// (used when <c>Redis:Configuration</c> is empty) is acceptable in production. Without it a
    /// production configuration must name Redis: grants kept in one process would not be seen,
    /// nor revoked, by any other instance.
    /// </summary>
    public bool SingleInstanceInMemoryStore { get; init; }
}

/// <summary>Redis connection (section <c>Redis</c>). Empty <see cref="Configuration"/>: the in-memory store.</summary>
internal sealed class RedisOptions
{
    public const string SectionName = "Redis";

    /// <summary>A StackExchange.Redis configuration string, e.g. <c>127.0.0.1:6379</c>.</summary>
    public string? Configuration { get; init; }

    /// <summary>Prefix of every key and channel, so several deployments can share a Redis.</summary>
    public string KeyPrefix { get; init; } = "sgw:";
}
