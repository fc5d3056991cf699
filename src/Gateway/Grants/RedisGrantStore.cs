using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Grants;

/// <summary>
/// The grant store shared by every gateway instance. Same semantics as
/// <see cref="InMemoryGrantStore"/>; the differences are where state lives and how it lapses:
/// <list type="bullet">
/// <item>Expiry is enforced by Redis: a grant is active while its marker key
/// <c>{p}active:{tenant}:{id}</c> exists (PEXPIREAT = ExpiresAt); its record
/// <c>{p}grant:{tenant}:{id}</c> outlives it by the history retention. A tenant override
/// with <c>Until</c> carries that as its TTL. Every value is written with its expiry in the
/// same Lua script.</item>
/// <item>Every mutation is one Lua script that changes the data and PUBLISHes the tenant
/// (<c>*</c> for platform settings) on <c>{p}invalidate</c>, so no change goes unannounced.
/// The writing instance also raises <see cref="Invalidated"/> itself as soon as the script
/// returns (read-your-writes without waiting for its own message).</item>
/// <item>"Active" needs both clocks to agree: the marker exists (Redis) and ExpiresAt is after
/// the injected clock's now; reads and revocations check both.</item>
/// <item>Every call is bounded by <see cref="GrantsOptions.StoreTimeout"/>; anything that goes
/// wrong becomes <see cref="GrantStoreUnavailableException"/> (callers fail closed). Writes that
/// grant access carry a deadline, so one that timed out cannot land much later (<see cref="NotAfter"/>).</item>
/// <item><see cref="InvalidationsConnected"/> follows the multiplexer's subscription connection
/// events, and a heartbeat on that connection catches what raises no event (a stalled server):
/// the store's <see cref="RedisInvalidationChannel"/>.</item>
/// </list>
/// The scripts, and the keys and arguments each one takes, are in <see cref="RedisGrantScripts"/>;
/// this class runs them within the budget and reads their replies.
/// Key layout under <see cref="RedisOptions.KeyPrefix"/> (<c>{p}</c>):
/// <c>platform</c> (JSON, no TTL), <c>override:{tenant}</c> (JSON, TTL = Until),
/// <c>grant:{tenant}:{id}</c> (JSON record, TTL = ExpiresAt + retention),
/// <c>active:{tenant}:{id}</c> (marker, TTL = ExpiresAt),
/// <c>grants:{tenant}</c> (ZSET of ids scored by the record's expiry ms: the listing index),
/// <c>actives:{tenant}</c> (ZSET of ids scored by ExpiresAt ms: candidates for the read path, so it
/// never walks the history), <c>otp-used:{user}:{step}</c> (a used TOTP code, TTL = until the step
/// can no longer be accepted). Index entries are pruned by score against the server clock, so an
/// index never outlives what it points at by more than a write. Requires Redis 7.0 or later
/// (<c>PEXPIRETIME</c>, <c>SET ... PXAT</c>, <c>KEEPTTL</c>). Standalone Redis: the scripts
/// touch keys derived from their arguments, which Redis Cluster does not allow.
/// Do not set a <c>ChannelPrefix</c> on the multiplexer: the scripts publish on the bare channel.
/// </summary>
internal sealed class RedisGrantStore : IGrantStore, IDisposable
{
    /// <summary>Allowance for the gateway's and Redis's clocks disagreeing, in write deadlines (see <see cref="NotAfter"/>).</summary>
    private static readonly TimeSpan MaxClockSkew = TimeSpan.FromSeconds(1);

    private readonly IDatabase _db;
    private readonly RedisGrantScripts _scripts;
    private readonly RedisInvalidationChannel _invalidations;
    private readonly GrantsOptions _options;
    private readonly TimeProvider _time;
    private readonly RedisBudget _budget;

    public RedisGrantStore(
        IConnectionMultiplexer redis,
        IOptions<RedisOptions> redisOptions,
        IOptions<GrantsOptions> grantsOptions,
        TimeProvider time,
        ILogger<RedisGrantStore> logger,
        Telemetry.GatewayMetrics? metrics = null)
    {
        _db = redis.GetDatabase();
        _scripts = new RedisGrantScripts(redisOptions.Value.KeyPrefix);
        _options = grantsOptions.Value;
        _time = time;
        _budget = new RedisBudget(_options.StoreTimeout, logger, metrics);
        _invalidations = new RedisInvalidationChannel(redis, _scripts.ChannelName, _options.StoreTimeout, time, logger);
        if (metrics is not null)
        {
            _invalidations.HeardBack += metrics.InvalidationLag;
        }
    }

    public bool InvalidationsConnected => _invalidations.Connected;

    /// <summary>The prefix of this store's keys and channel.</summary>
    public string KeyPrefix => _scripts.Prefix;

    public event Action<string>? Invalidated
    {
        add => _invalidations.Invalidated += value;
        remove => _invalidations.Invalidated -= value;
    }

    /// <summary>
    /// Subscribes to the invalidation channel and starts watching the subscription. Never fails
    /// because Redis is down: <see cref="InvalidationsConnected"/> stays false until a later
    /// attempt (on reconnect, or the heartbeat) succeeds.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken) => _invalidations.StartAsync(cancellationToken);

    public Task<TenantSupportState> GetStateAsync(string tenant, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        return RunAsync(
            "GetState",
            () => EvaluateAsync(_scripts.GetState(tenant, now.ToUnixTimeMilliseconds())),
            reply =>
            {
                var items = Items(reply, minimum: 3);
                var platform = items[0].IsNull ? PlatformSupportSettings.Default : Parse((RedisValue)items[0], Json.PlatformSupportSettings);
                var tenantOverride = items[1].IsNull ? null : Parse((RedisValue)items[1], Json.TenantSupportOverride);
                var ended = Items(items[2]).Select(i => (string?)(RedisValue)i ?? throw new InvalidDataException("A null session id in the ended-sessions set.")).ToHashSet(StringComparer.Ordinal);
                var active = new List<SupportGrant>(items.Length - 3);
                for (var i = 3; i < items.Length; i++)
                {
                    // Redis says the marker is there; the clock must agree too.
                    var grant = Parse((RedisValue)items[i], Json.SupportGrant);
                    if (grant.IsActiveAt(now))
                    {
                        active.Add(grant);
                    }
                }

                return new TenantSupportState(tenant, platform, tenantOverride?.IsInForceAt(now) == true ? tenantOverride : null, active)
                {
                    RevokedSessions = ended,
                };
            },
            cancellationToken);
    }

    public Task<PlatformSupportSettings> GetPlatformSettingsAsync(CancellationToken cancellationToken) =>
        RunAsync(
            "GetPlatformSettings",
            () => _db.StringGetAsync(_scripts.Platform),
            value => value.IsNull ? PlatformSupportSettings.Default : Parse(value, Json.PlatformSupportSettings),
            cancellationToken);

    public async Task SetPlatformSettingsAsync(PlatformSupportSettings settings, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(settings, Json.PlatformSupportSettings);
        _invalidations.Expect(IGrantStore.AllTenants);
        await RunAsync(
            "SetPlatformSettings",
            () => EvaluateAsync(_scripts.SetPlatform(json, NotAfter())),
            WriteOutcome,
            cancellationToken);
        _invalidations.Raise(IGrantStore.AllTenants);
    }

    public Task<TenantSupportOverride?> GetTenantOverrideAsync(string tenant, CancellationToken cancellationToken) =>
        RunAsync(
            "GetTenantOverride",
            () => _db.StringGetAsync(_scripts.Override(tenant)),
            value =>
            {
                var tenantOverride = value.IsNull ? null : Parse(value, Json.TenantSupportOverride);
                return tenantOverride?.IsInForceAt(_time.GetUtcNow()) == true ? tenantOverride : null;
            },
            cancellationToken);

    public async Task SetTenantOverrideAsync(string tenant, TenantSupportOverride value, CancellationToken cancellationToken)
    {
        RedisValue json = value.Mode == TenantOverrideMode.Inherit ? string.Empty : JsonSerializer.Serialize(value, Json.TenantSupportOverride);
        RedisValue until = value.Mode != TenantOverrideMode.Inherit && value.Until is { } at ? at.ToUnixTimeMilliseconds() : string.Empty;
        _invalidations.Expect(tenant);
        await RunAsync(
            "SetTenantOverride",
            () => EvaluateAsync(_scripts.SetOverride(tenant, json, until, NotAfter())),
            WriteOutcome,
            cancellationToken);
        _invalidations.Raise(tenant);
    }

    public async Task CreateGrantAsync(SupportGrant grant, CancellationToken cancellationToken)
    {
        var tenant = grant.Tenant;
        var json = JsonSerializer.Serialize(grant, Json.SupportGrant);
        var expires = grant.ExpiresAt.ToUnixTimeMilliseconds();
        var retainUntil = (grant.ExpiresAt + _options.HistoryRetention).ToUnixTimeMilliseconds();
        _invalidations.Expect(tenant);
        var created = await RunAsync(
            "CreateGrant",
            () => EvaluateAsync(_scripts.Create(tenant, grant.Id.Value, json, expires, retainUntil, NotAfter())),
            WriteOutcome,
            cancellationToken);
        if (!created)
        {
            // As the in-memory store: ids are random, so this is a caller bug, not an outage.
            throw new InvalidOperationException($"Grant {grant.Id} already exists.");
        }

        _invalidations.Raise(tenant);
    }

    public Task<SupportGrant?> GetGrantAsync(string tenant, GrantId id, CancellationToken cancellationToken) =>
        RunAsync(
            "GetGrant",
            () => _db.StringGetAsync(_scripts.Grant(tenant, id.Value)),
            value =>
            {
                var grant = value.IsNull ? null : Parse(value, Json.SupportGrant);
                return grant is not null && WithinRetention(grant, _time.GetUtcNow()) ? grant : null;
            },
            cancellationToken);

    public Task<IReadOnlyList<SupportGrant>> ListGrantsAsync(string tenant, bool includeHistory, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        return RunAsync<RedisResult, IReadOnlyList<SupportGrant>>(
            "ListGrants",
            () => EvaluateAsync(_scripts.List(tenant, includeHistory, now.ToUnixTimeMilliseconds())),
            reply => Grants(reply)
                .Where(g => includeHistory ? WithinRetention(g, now) : g.IsActiveAt(now))
                .OrderByDescending(g => g.CreatedAt)
                .ThenBy(g => g.Id.Value, StringComparer.Ordinal)
                .ToArray(),
            cancellationToken);
    }

    public async Task<SupportGrant?> RevokeGrantAsync(string tenant, GrantId id, string revokedBy, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        _invalidations.Expect(tenant);
        var revoked = await RunAsync(
            "RevokeGrant",
            () => EvaluateAsync(_scripts.Revoke(tenant, id.Value, revokedBy, Timestamp(at), now.ToUnixTimeMilliseconds())),
            reply => reply.IsNull ? null : Parse((RedisValue)reply, Json.SupportGrant),
            cancellationToken);
        if (revoked is not null)
        {
            _invalidations.Raise(tenant);
        }

        return revoked;
    }

    public async Task<IReadOnlyList<SupportGrant>> RevokeAllAsync(string tenant, string revokedBy, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        _invalidations.Expect(tenant);
        var revoked = await RunAsync<RedisResult, IReadOnlyList<SupportGrant>>(
            "RevokeAll",
            () => EvaluateAsync(_scripts.RevokeAll(tenant, revokedBy, Timestamp(at), now.ToUnixTimeMilliseconds())),
            Grants,
            cancellationToken);
        _invalidations.Raise(tenant);
        return revoked;
    }

    public async Task RevokeSessionAsync(string tenant, string sessionId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        _invalidations.Expect(tenant);
        await RunAsync(
            "RevokeSession",
            () => EvaluateAsync(_scripts.EndSession(tenant, sessionId, until.ToUnixTimeMilliseconds())),
            static _ => true,
            cancellationToken);
        _invalidations.Raise(tenant);
    }

    /// <summary>One <c>SET key 1 PX ttl NX</c>: the first instance to record the (user, step) wins, everywhere.</summary>
    public Task<bool> TryUseOneTimeCodeAsync(string supportUser, long timeStep, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var ttl = until - _time.GetUtcNow();
        if (ttl <= TimeSpan.Zero)
        {
            return Task.FromResult(true); // a step that can no longer be accepted needs no record
        }

        return RunAsync(
            "UseOneTimeCode",
            () => _db.StringSetAsync(_scripts.UsedCode(supportUser.ToLowerInvariant(), timeStep), "1", ttl, When.NotExists),
            static set => set,
            cancellationToken);
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await RunAsync("Ping", () => _db.PingAsync(), static _ => true, cancellationToken);
        }
        catch (GrantStoreUnavailableException)
        {
            return false;
        }
    }

    public void Dispose() => _invalidations.Dispose();

    /// <summary>Keeps a call nobody waits for any more from surfacing as an unobserved exception.</summary>
    internal static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private Task<RedisResult> EvaluateAsync(RedisScriptCall call) => _db.ScriptEvaluateAsync(call.Script, call.Keys, call.Values);

    /// <summary>
    /// Latest server time (ms) at which a write that grants access may still apply. A call that
    /// timed out stays queued in the multiplexer while Redis stalls, and would otherwise land
    /// whenever Redis wakes up: after the caller was told "unavailable" (503) and nobody audited
    /// it. This bounds that to <see cref="MaxClockSkew"/> past the budget. Revocations carry no
    /// deadline: a late revocation errs on the safe side.
    /// </summary>
    private long NotAfter() => (_time.GetUtcNow() + _options.StoreTimeout + MaxClockSkew).ToUnixTimeMilliseconds();

    /// <summary>A write script's answer: 1 applied, 0 refused (the id exists), -1 too late (not applied).</summary>
    private bool WriteOutcome(RedisResult reply) => (long)reply switch
    {
        1 => true,
        0 => false,
        -1 => throw new TimeoutException(
            $"The write reached Redis after its deadline (budget {_options.StoreTimeout.TotalMilliseconds:0} ms + {MaxClockSkew.TotalMilliseconds:0} ms clock allowance) and was not applied; if this persists, check that the gateway's and Redis's clocks agree."),
        var other => throw new InvalidDataException($"Unexpected answer {other} from a grant store script."),
    };

    private bool WithinRetention(SupportGrant grant, DateTimeOffset now) => grant.ExpiresAt + _options.HistoryRetention > now;

    /// <summary>The revocation time as the record stores it ("o": exact, with its offset).</summary>
    private static string Timestamp(DateTimeOffset at) => at.ToString("o", CultureInfo.InvariantCulture);

    private Task<T> RunAsync<TReply, T>(string operation, Func<Task<TReply>> call, Func<TReply, T> interpret, CancellationToken cancellationToken) =>
        _budget.RunAsync(operation, call, interpret, cancellationToken);

    internal static RedisResult[] Items(RedisResult reply, int minimum = 0)
    {
        var items = reply.IsNull ? null : (RedisResult[]?)reply;
        return items is not null && items.Length >= minimum
            ? items
            : throw new InvalidDataException("Unexpected reply shape from a grant store script.");
    }

    private static SupportGrant[] Grants(RedisResult reply) =>
        Array.ConvertAll(Items(reply), item => Parse((RedisValue)item, Json.SupportGrant));

    internal static T Parse<T>(RedisValue value, JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize((byte[])value!, type) ?? throw new JsonException("A stored value is JSON null.");

    private static GrantStoreJsonContext Json => GrantStoreJsonContext.Default;
}

/// <summary>How grant-store values are written in Redis (camelCase; the types' own converters for ids and enums).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SupportGrant))]
[JsonSerializable(typeof(PlatformSupportSettings))]
[JsonSerializable(typeof(TenantSupportOverride))]
internal sealed partial class GrantStoreJsonContext : JsonSerializerContext;
