using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Grants;

/// <summary>
/// The grant store shared by every gateway instance (PRODUCT.md §4). Same semantics as
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
/// events, and a heartbeat on that connection catches what raises no event (a stalled server).</item>
/// </list>
/// Key layout under <see cref="RedisOptions.KeyPrefix"/> (<c>{p}</c>):
/// <c>platform</c> (JSON, no TTL), <c>override:{tenant}</c> (JSON, TTL = Until),
/// <c>grant:{tenant}:{id}</c> (JSON record, TTL = ExpiresAt + retention),
/// <c>active:{tenant}:{id}</c> (marker, TTL = ExpiresAt),
/// <c>grants:{tenant}</c> (ZSET of ids scored by the record's expiry ms: the listing index),
/// <c>actives:{tenant}</c> (ZSET of ids scored by ExpiresAt ms: candidates for the read path, so it
/// never walks the history). Index entries are pruned by score against the server clock, so an
/// index never outlives what it points at by more than a write. Requires Redis 7.0 or later
/// (<c>PEXPIRETIME</c>, <c>SET ... PXAT</c>, <c>KEEPTTL</c>). Standalone Redis: the scripts
/// touch keys derived from their arguments, which Redis Cluster does not allow.
/// Do not set a <c>ChannelPrefix</c> on the multiplexer: the scripts publish on the bare channel.
/// </summary>
internal sealed partial class RedisGrantStore : IGrantStore, IDisposable
{
    private const string PlatformKey = "platform";
    private const string OverrideKeyPrefix = "override:";
    private const string GrantKeyPrefix = "grant:";
    private const string ActiveKeyPrefix = "active:";
    private const string GrantIndexKeyPrefix = "grants:";
    private const string ActiveIndexKeyPrefix = "actives:";
    private const string InvalidationChannel = "invalidate";
    private const string EndedSessionsKeyPrefix = "sessions-ended:";

    /// <summary>Consecutive subscribe failures (about 0.75 s of retrying) before a warning is logged.</summary>
    private const int WarnAfterFailures = 5;

    /// <summary>How often the subscription connection is probed (finds half-open connections a library event would not report).</summary>
    private static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(1);

    /// <summary>Allowance for the gateway's and Redis's clocks disagreeing, in write deadlines (see <see cref="NotAfter"/>).</summary>
    private static readonly TimeSpan MaxClockSkew = TimeSpan.FromSeconds(1);

    /// <summary>First retry of a failed subscribe; doubles up to <see cref="HeartbeatInterval"/>.</summary>
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(50);

    /// <summary>Floor of the budget for background subscription work, which is not on the request path.</summary>
    private static readonly TimeSpan MinBackgroundBudget = TimeSpan.FromSeconds(1);

    // Helpers shared by the scripts. Server time for pruning, so index entries go exactly when
    // Redis expires the keys they point at.
    private const string LuaPrelude = """
        local function server_now()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function extend(key, at)
          local current = redis.call('PEXPIRETIME', key)
          if current == -1 or current < tonumber(at) then redis.call('PEXPIREAT', key, at) end
        end
        local function revoke(json, by, at)
          local g = cjson.decode(json)
          g['status'] = 'revoked'
          g['revokedBy'] = by
          g['revokedAt'] = at
          return cjson.encode(g)
        end

        """;

    // KEYS: record, marker, grant index, active index.
    // ARGV: record JSON, ExpiresAt ms, retain-until ms, id, channel, tenant, not-after ms.
    // Returns 1; 0 when the id exists; -1 when it arrived after its deadline (not applied).
    // A grant already past its expiry (or retention) is not given a marker (record), exactly as
    // the in-memory store would never report it active.
    private const string CreateScript = LuaPrelude + """
        local now = server_now()
        if now > tonumber(ARGV[7]) then return -1 end
        redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
        redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        if tonumber(ARGV[3]) > now then
          redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[3])
          redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
          extend(KEYS[3], ARGV[3])
        end
        if tonumber(ARGV[2]) > now then
          redis.call('SET', KEYS[2], '1', 'PXAT', ARGV[2])
          redis.call('ZADD', KEYS[4], ARGV[2], ARGV[4])
          extend(KEYS[4], ARGV[2])
        end
        redis.call('PUBLISH', ARGV[5], ARGV[6])
        return 1
        """;

    // KEYS: record, marker, active index. ARGV: id, revokedBy, revokedAt, caller's now ms, channel, tenant.
    // Active means: the marker exists (Redis clock) and ExpiresAt is after the caller's clock.
    private const string RevokeScript = LuaPrelude + """
        if redis.call('EXISTS', KEYS[2]) == 0 then return false end
        local score = redis.call('ZSCORE', KEYS[3], ARGV[1])
        if not score or tonumber(score) <= tonumber(ARGV[4]) then return false end
        local json = redis.call('GET', KEYS[1])
        if not json then return false end
        local revoked = revoke(json, ARGV[2], ARGV[3])
        redis.call('SET', KEYS[1], revoked, 'KEEPTTL')
        redis.call('DEL', KEYS[2])
        redis.call('ZREM', KEYS[3], ARGV[1])
        redis.call('PUBLISH', ARGV[5], ARGV[6])
        return revoked
        """;

    // KEYS: active index. ARGV: record key prefix, marker key prefix, revokedBy, revokedAt,
    // caller's now ms, channel, tenant. Returns the revoked records.
    private const string RevokeAllScript = LuaPrelude + """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', server_now())
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[5], '+inf')
        local result = {}
        for _, id in ipairs(ids) do
          if redis.call('EXISTS', ARGV[2] .. id) == 1 then
            local json = redis.call('GET', ARGV[1] .. id)
            if json then
              local revoked = revoke(json, ARGV[3], ARGV[4])
              redis.call('SET', ARGV[1] .. id, revoked, 'KEEPTTL')
              result[#result + 1] = revoked
            end
            redis.call('DEL', ARGV[2] .. id)
            redis.call('ZREM', KEYS[1], id)
          end
        end
        redis.call('PUBLISH', ARGV[6], ARGV[7])
        return result
        """;

    // KEYS: platform, override, active index, ended sessions. ARGV: record key prefix, marker key prefix, caller's now ms.
    // Returns { platform JSON or nil, override JSON or nil, { ended session ids }, active grant records... }.
    private const string GetStateScript = """
        local result = { redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[3], '+inf') }
        local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[3], '+inf')
        for _, id in ipairs(ids) do
          if redis.call('EXISTS', ARGV[2] .. id) == 1 then
            local json = redis.call('GET', ARGV[1] .. id)
            if json then result[#result + 1] = json end
          end
        end
        return result
        """;

    // KEYS: the index to walk (grant index for history, active index otherwise).
    // ARGV: record key prefix, marker key prefix, caller's now ms, '1' for active only.
    private const string ListScript = """
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[3], '+inf')
        local result = {}
        for _, id in ipairs(ids) do
          if ARGV[4] ~= '1' or redis.call('EXISTS', ARGV[2] .. id) == 1 then
            local json = redis.call('GET', ARGV[1] .. id)
            if json then result[#result + 1] = json end
          end
        end
        return result
        """;

    // KEYS: override. ARGV: JSON ('' removes), Until ms ('' for none), channel, tenant, not-after ms.
    private const string SetOverrideScript = LuaPrelude + """
        if server_now() > tonumber(ARGV[5]) then return -1 end
        if ARGV[1] == '' or (ARGV[2] ~= '' and tonumber(ARGV[2]) <= server_now()) then
          redis.call('DEL', KEYS[1])
        elseif ARGV[2] == '' then
          redis.call('SET', KEYS[1], ARGV[1])
        else
          redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
        end
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """;

    // KEYS: ended sessions. ARGV: session id, token expiry ms, channel, tenant.
    // A logout is a revocation: no deadline, a late one errs on the safe side.
    private const string EndSessionScript = LuaPrelude + """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', server_now())
        if tonumber(ARGV[2]) > server_now() then
          redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
          extend(KEYS[1], ARGV[2])
        end
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """;

    // KEYS: platform. ARGV: JSON, channel, the all-tenants marker, not-after ms.
    private const string SetPlatformScript = LuaPrelude + """
        if server_now() > tonumber(ARGV[4]) then return -1 end
        redis.call('SET', KEYS[1], ARGV[1])
        redis.call('PUBLISH', ARGV[2], ARGV[3])
        return 1
        """;

    private readonly IConnectionMultiplexer _redis;
    private readonly IDatabase _db;
    private readonly ISubscriber _subscriber;
    private readonly string _prefix;
    private readonly RedisChannel _channel;
    private readonly GrantsOptions _options;
    private readonly TimeSpan _backgroundBudget;
    private readonly TimeProvider _time;
    private readonly ILogger<RedisGrantStore> _logger;
    private readonly Action<RedisChannel, RedisValue> _onMessage;
    private readonly Lock _stateLock = new();
    private readonly SemaphoreSlim _subscribeGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private bool _connected;
    private long _generation;
    private int _subscribeFailures; // guarded by _subscribeGate
    private bool _handlerRegistered; // guarded by _subscribeGate
    private int _started;
    private int _disposed;

    public RedisGrantStore(
        IConnectionMultiplexer redis,
        IOptions<RedisOptions> redisOptions,
        IOptions<GrantsOptions> grantsOptions,
        TimeProvider time,
        ILogger<RedisGrantStore> logger)
    {
        _redis = redis;
        _db = redis.GetDatabase();
        _subscriber = redis.GetSubscriber();
        _prefix = redisOptions.Value.KeyPrefix;
        _channel = RedisChannel.Literal(_prefix + InvalidationChannel);
        _options = grantsOptions.Value;
        _backgroundBudget = _options.StoreTimeout > MinBackgroundBudget ? _options.StoreTimeout : MinBackgroundBudget;
        _time = time;
        _logger = logger;
        _onMessage = OnMessage;
    }

    public bool InvalidationsConnected => Volatile.Read(ref _connected);

    /// <summary>The prefix of this store's keys and channel.</summary>
    public string KeyPrefix => _prefix;

    public event Action<string>? Invalidated;

    /// <summary>
    /// Subscribes to the invalidation channel and starts watching the subscription. Never fails
    /// because Redis is down: <see cref="InvalidationsConnected"/> stays false until a later
    /// attempt (on reconnect, or the heartbeat) succeeds.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0 || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        _redis.ConnectionFailed += OnConnectionFailed;
        _redis.ConnectionRestored += OnConnectionRestored;

        // Retries run in the background whatever happens to this first attempt.
        _ = HeartbeatAsync(_stopping.Token);
        await SubscribeAsync("start-up", cancellationToken);
    }

    public Task<TenantSupportState> GetStateAsync(string tenant, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        return RunAsync(
            "GetState",
            () => _db.ScriptEvaluateAsync(
                GetStateScript,
                [Key(PlatformKey), Key(OverrideKeyPrefix + tenant), Key(ActiveIndexKeyPrefix + tenant), Key(EndedSessionsKeyPrefix + tenant)],
                [GrantKeys(tenant), ActiveKeys(tenant), now.ToUnixTimeMilliseconds()]),
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
            () => _db.StringGetAsync(Key(PlatformKey)),
            value => value.IsNull ? PlatformSupportSettings.Default : Parse(value, Json.PlatformSupportSettings),
            cancellationToken);

    public async Task SetPlatformSettingsAsync(PlatformSupportSettings settings, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(settings, Json.PlatformSupportSettings);
        await RunAsync(
            "SetPlatformSettings",
            () => _db.ScriptEvaluateAsync(SetPlatformScript, [Key(PlatformKey)], [json, (RedisValue)ChannelName, IGrantStore.AllTenants, NotAfter()]),
            WriteOutcome,
            cancellationToken);
        Raise(IGrantStore.AllTenants);
    }

    public Task<TenantSupportOverride?> GetTenantOverrideAsync(string tenant, CancellationToken cancellationToken) =>
        RunAsync(
            "GetTenantOverride",
            () => _db.StringGetAsync(Key(OverrideKeyPrefix + tenant)),
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
        await RunAsync(
            "SetTenantOverride",
            () => _db.ScriptEvaluateAsync(SetOverrideScript, [Key(OverrideKeyPrefix + tenant)], [json, until, (RedisValue)ChannelName, tenant, NotAfter()]),
            WriteOutcome,
            cancellationToken);
        Raise(tenant);
    }

    public async Task CreateGrantAsync(SupportGrant grant, CancellationToken cancellationToken)
    {
        var tenant = grant.Tenant;
        var id = grant.Id.Value;
        var json = JsonSerializer.Serialize(grant, Json.SupportGrant);
        var expires = grant.ExpiresAt.ToUnixTimeMilliseconds();
        var retainUntil = (grant.ExpiresAt + _options.HistoryRetention).ToUnixTimeMilliseconds();
        var created = await RunAsync(
            "CreateGrant",
            () => _db.ScriptEvaluateAsync(
                CreateScript,
                [Key(GrantKeyPrefix + tenant + ":" + id), Key(ActiveKeyPrefix + tenant + ":" + id), Key(GrantIndexKeyPrefix + tenant), Key(ActiveIndexKeyPrefix + tenant)],
                [json, expires, retainUntil, id, (RedisValue)ChannelName, tenant, NotAfter()]),
            WriteOutcome,
            cancellationToken);
        if (!created)
        {
            // As the in-memory store: ids are random, so this is a caller bug, not an outage.
            throw new InvalidOperationException($"Grant {grant.Id} already exists.");
        }

        Raise(tenant);
    }

    public Task<SupportGrant?> GetGrantAsync(string tenant, GrantId id, CancellationToken cancellationToken) =>
        RunAsync(
            "GetGrant",
            () => _db.StringGetAsync(Key(GrantKeyPrefix + tenant + ":" + id.Value)),
            value =>
            {
                var grant = value.IsNull ? null : Parse(value, Json.SupportGrant);
                return grant is not null && WithinRetention(grant, _time.GetUtcNow()) ? grant : null;
            },
            cancellationToken);

    public Task<IReadOnlyList<SupportGrant>> ListGrantsAsync(string tenant, bool includeHistory, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var index = Key((includeHistory ? GrantIndexKeyPrefix : ActiveIndexKeyPrefix) + tenant);
        return RunAsync<RedisResult, IReadOnlyList<SupportGrant>>(
            "ListGrants",
            () => _db.ScriptEvaluateAsync(ListScript, [index], [GrantKeys(tenant), ActiveKeys(tenant), now.ToUnixTimeMilliseconds(), includeHistory ? "0" : "1"]),
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
        var revoked = await RunAsync(
            "RevokeGrant",
            () => _db.ScriptEvaluateAsync(
                RevokeScript,
                [Key(GrantKeyPrefix + tenant + ":" + id.Value), Key(ActiveKeyPrefix + tenant + ":" + id.Value), Key(ActiveIndexKeyPrefix + tenant)],
                [id.Value, revokedBy, Timestamp(at), now.ToUnixTimeMilliseconds(), (RedisValue)ChannelName, tenant]),
            reply => reply.IsNull ? null : Parse((RedisValue)reply, Json.SupportGrant),
            cancellationToken);
        if (revoked is not null)
        {
            Raise(tenant);
        }

        return revoked;
    }

    public async Task<IReadOnlyList<SupportGrant>> RevokeAllAsync(string tenant, string revokedBy, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var revoked = await RunAsync<RedisResult, IReadOnlyList<SupportGrant>>(
            "RevokeAll",
            () => _db.ScriptEvaluateAsync(
                RevokeAllScript,
                [Key(ActiveIndexKeyPrefix + tenant)],
                [GrantKeys(tenant), ActiveKeys(tenant), revokedBy, Timestamp(at), now.ToUnixTimeMilliseconds(), (RedisValue)ChannelName, tenant]),
            Grants,
            cancellationToken);
        Raise(tenant);
        return revoked;
    }

    public async Task RevokeSessionAsync(string tenant, string sessionId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        await RunAsync(
            "RevokeSession",
            () => _db.ScriptEvaluateAsync(
                EndSessionScript,
                [Key(EndedSessionsKeyPrefix + tenant)],
                [sessionId, until.ToUnixTimeMilliseconds(), (RedisValue)ChannelName, tenant]),
            static _ => true,
            cancellationToken);
        Raise(tenant);
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

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (_stateLock)
        {
            _generation++;
            _connected = false;
        }

        _stopping.Cancel();
        _redis.ConnectionFailed -= OnConnectionFailed;
        _redis.ConnectionRestored -= OnConnectionRestored;
        try
        {
            Observe(_subscriber.UnsubscribeAsync(_channel, _onMessage, CommandFlags.FireAndForget));
        }
        catch (Exception ex)
        {
            LogUnsubscribeFailed(_logger, ex);
        }
    }

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

    private string ChannelName => _prefix + InvalidationChannel;

    private RedisKey Key(string suffix) => _prefix + suffix;

    private RedisValue GrantKeys(string tenant) => _prefix + GrantKeyPrefix + tenant + ":";

    private RedisValue ActiveKeys(string tenant) => _prefix + ActiveKeyPrefix + tenant + ":";

    private bool WithinRetention(SupportGrant grant, DateTimeOffset now) => grant.ExpiresAt + _options.HistoryRetention > now;

    /// <summary>The revocation time as the record stores it ("o": exact, with its offset).</summary>
    private static string Timestamp(DateTimeOffset at) => at.ToString("o", CultureInfo.InvariantCulture);

    /// <summary>
    /// Runs one Redis call within the store budget and interprets its reply. Caller cancellation
    /// propagates; every other failure (timeout, connection, server error, a reply that cannot be
    /// read) becomes <see cref="GrantStoreUnavailableException"/>.
    /// </summary>
    private async Task<T> RunAsync<TReply, T>(string operation, Func<Task<TReply>> call, Func<TReply, T> interpret, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Task<TReply> task;
        try
        {
            task = call();
        }
        catch (Exception ex)
        {
            throw Unavailable(operation, ex);
        }

        TReply reply;
        try
        {
            reply = await task.WaitAsync(_options.StoreTimeout, cancellationToken);
        }
        catch (TimeoutException ex) when (!task.IsCompleted)
        {
            // The command stays queued in the multiplexer; nobody waits for its outcome.
            Observe(task);
            LogUnavailable(_logger, operation, "timeout", null);
            throw new GrantStoreUnavailableException(
                $"The grant store (Redis) did not answer {operation} within {_options.StoreTimeout.TotalMilliseconds:0} ms.", ex);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(task);
            throw;
        }
        catch (Exception ex)
        {
            throw Unavailable(operation, ex);
        }

        try
        {
            return interpret(reply);
        }
        catch (Exception ex)
        {
            // Unreadable data must not pass for "no grant": fail closed.
            throw Unavailable(operation, ex);
        }
    }

    private GrantStoreUnavailableException Unavailable(string operation, Exception ex)
    {
        var message = $"The grant store (Redis) failed on {operation} (budget {_options.StoreTimeout.TotalMilliseconds:0} ms): {ex.GetType().Name}: {ex.Message}";
        LogUnavailable(_logger, operation, ex.GetType().Name, ex);
        return new GrantStoreUnavailableException(message, ex);
    }

    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private static RedisResult[] Items(RedisResult reply, int minimum = 0)
    {
        var items = reply.IsNull ? null : (RedisResult[]?)reply;
        return items is not null && items.Length >= minimum
            ? items
            : throw new InvalidDataException("Unexpected reply shape from a grant store script.");
    }

    private static SupportGrant[] Grants(RedisResult reply) =>
        Array.ConvertAll(Items(reply), item => Parse((RedisValue)item, Json.SupportGrant));

    private static T Parse<T>(RedisValue value, JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize((byte[])value!, type) ?? throw new JsonException("A stored value is JSON null.");

    private void OnMessage(RedisChannel channel, RedisValue message)
    {
        try
        {
            var tenant = (string?)message;
            if (string.IsNullOrEmpty(tenant))
            {
                LogBadMessage(_logger);
                return;
            }

            Raise(tenant);
        }
        catch (Exception ex)
        {
            LogHandlerFailed(_logger, ex);
        }
    }

    /// <summary>Raises <see cref="Invalidated"/> to each handler; a throwing handler neither stops the others nor reaches Redis.</summary>
    private void Raise(string tenant)
    {
        var handlers = Invalidated;
        if (handlers is null)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                ((Action<string>)handler)(tenant);
            }
            catch (Exception ex)
            {
                LogHandlerFailed(_logger, ex);
            }
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        try
        {
            if (e.ConnectionType != ConnectionType.Interactive)
            {
                MarkDisconnected($"{e.ConnectionType} connection to {e.EndPoint} failed ({e.FailureType})", e.Exception, raiseAlways: true);
            }
        }
        catch (Exception ex)
        {
            LogHandlerFailed(_logger, ex);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType != ConnectionType.Interactive && Volatile.Read(ref _disposed) == 0)
        {
            // Off the multiplexer's thread: resubscribing waits for Redis.
            _ = Task.Run(() => SubscribeQuietlyAsync("connection restored"));
        }
    }

    private void MarkDisconnected(string reason, Exception? exception, bool raiseAlways)
    {
        bool wasConnected;
        lock (_stateLock)
        {
            _generation++;
            wasConnected = _connected;
            _connected = false;
        }

        if (wasConnected)
        {
            LogInvalidationsLost(_logger, reason, exception);
        }

        if (wasConnected || raiseAlways)
        {
            // Anything may have been missed from now on: caches must not answer.
            Raise(IGrantStore.AllTenants);
        }
    }

    private async Task SubscribeQuietlyAsync(string trigger)
    {
        try
        {
            await SubscribeAsync(trigger, _stopping.Token);
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    /// <summary>
    /// (Re)subscribes and confirms the subscription with a round trip on the subscription
    /// connection; only then reports connected and raises <see cref="IGrantStore.AllTenants"/>.
    /// A connection failure during the attempt (new generation) voids it.
    /// </summary>
    private async Task SubscribeAsync(string trigger, CancellationToken cancellationToken)
    {
        await _subscribeGate.WaitAsync(cancellationToken);
        try
        {
            long generation;
            lock (_stateLock)
            {
                generation = _generation;
            }

            // The handler is registered once: the client keeps the registration across
            // disconnects and sends SUBSCRIBE again by itself on every reconnect, so a later
            // attempt only has to confirm that the subscription is back (registering again would
            // add the handler twice).
            if (!_handlerRegistered)
            {
                _handlerRegistered = true;
                await Bounded(_subscriber.SubscribeAsync(_channel, _onMessage), cancellationToken);
            }

            if (_subscriber.SubscribedEndpoint(_channel) is null)
            {
                SubscribeFailed(trigger, "no Redis server is connected", null);
                return;
            }

            // Ordered after SUBSCRIBE on the same connection: when this answers, we are subscribed.
            await Bounded(_subscriber.PingAsync(), cancellationToken);
            lock (_stateLock)
            {
                if (generation != _generation || Volatile.Read(ref _disposed) != 0)
                {
                    return;
                }

                _connected = true;
            }

            _subscribeFailures = 0;
            LogInvalidationsConnected(_logger, _channel.ToString()!, trigger);
            Raise(IGrantStore.AllTenants);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            SubscribeFailed(trigger, ex.Message, ex);
        }
        finally
        {
            _subscribeGate.Release();
        }
    }

    /// <summary>
    /// Probes the subscription connection every <see cref="HeartbeatInterval"/>: a connection
    /// that stopped answering (half-open, server stalled) raises no event from the library. While
    /// not subscribed, retries sooner (from <see cref="FirstRetryDelay"/>, doubling): right after
    /// the multiplexer connects, its subscription connection is often not up yet.
    /// </summary>
    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        try
        {
            var retryDelay = FirstRetryDelay;
            while (true)
            {
                var connected = InvalidationsConnected;
                await Task.Delay(connected ? HeartbeatInterval : retryDelay, _time, cancellationToken);
                if (!InvalidationsConnected)
                {
                    retryDelay = connected ? FirstRetryDelay : Min(retryDelay * 2, HeartbeatInterval);
                    if (_subscribeGate.CurrentCount > 0)
                    {
                        await SubscribeAsync("retry", cancellationToken);
                    }

                    continue;
                }

                long generation;
                lock (_stateLock)
                {
                    generation = _generation;
                }

                try
                {
                    await Bounded(_subscriber.PingAsync(), cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    if (Interlocked.Read(ref _generation) == generation)
                    {
                        MarkDisconnected("the subscription connection did not answer a heartbeat", ex, raiseAlways: false);
                        retryDelay = FirstRetryDelay;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Disposed.
        }
        catch (Exception ex)
        {
            LogHeartbeatStopped(_logger, ex);
        }
    }

    /// <summary>
    /// One warning when failures persist (right after connecting, the first attempts often come
    /// before the subscription connection is up); the retries around it, every second during an
    /// outage, are debug.
    /// </summary>
    private void SubscribeFailed(string trigger, string reason, Exception? exception)
    {
        if (++_subscribeFailures == WarnAfterFailures)
        {
            LogSubscribeFailed(_logger, trigger, _subscribeFailures, reason, exception);
        }
        else
        {
            LogSubscribeRetryFailed(_logger, trigger, _subscribeFailures, reason, exception);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private async Task Bounded(Task task, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(_backgroundBudget, cancellationToken);
        }
        catch
        {
            Observe(task);
            throw;
        }
    }

    [LoggerMessage(EventId = 1300, Level = LogLevel.Warning,
        Message = "Grant invalidations lost: {Reason}. Cached grant state is not used until the subscription is back")]
    private static partial void LogInvalidationsLost(ILogger logger, string reason, Exception? exception);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Information, Message = "Grant invalidations connected on channel {Channel} ({Trigger})")]
    private static partial void LogInvalidationsConnected(ILogger logger, string channel, string trigger);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning,
        Message = "Subscribing to grant invalidations keeps failing ({Trigger}, attempt {Attempt}): {Reason}; retrying every second")]
    private static partial void LogSubscribeFailed(ILogger logger, string trigger, int attempt, string reason, Exception? exception);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Debug, Message = "Grant store call {Operation} failed: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string operation, string reason, Exception? exception);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Warning, Message = "Ignored an empty grant invalidation message")]
    private static partial void LogBadMessage(ILogger logger);

    [LoggerMessage(EventId = 1305, Level = LogLevel.Error, Message = "A grant invalidation handler failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1306, Level = LogLevel.Error, Message = "The grant invalidation heartbeat stopped unexpectedly")]
    private static partial void LogHeartbeatStopped(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1307, Level = LogLevel.Debug, Message = "Unsubscribing from grant invalidations failed")]
    private static partial void LogUnsubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1308, Level = LogLevel.Debug, Message = "Subscribing to grant invalidations failed ({Trigger}, attempt {Attempt}): {Reason}")]
    private static partial void LogSubscribeRetryFailed(ILogger logger, string trigger, int attempt, string reason, Exception? exception);

    private static GrantStoreJsonContext Json => GrantStoreJsonContext.Default;
}

/// <summary>How grant-store values are written in Redis (camelCase; the types' own converters for ids and enums).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SupportGrant))]
[JsonSerializable(typeof(PlatformSupportSettings))]
[JsonSerializable(typeof(TenantSupportOverride))]
internal sealed partial class GrantStoreJsonContext : JsonSerializerContext;
