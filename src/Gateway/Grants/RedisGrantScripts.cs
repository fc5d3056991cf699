using StackExchange.Redis;

namespace Gateway.Grants;

/// <summary>
/// The keys and Lua scripts of <see cref="RedisGrantStore"/> under one key prefix (the layout is
/// documented on the store). Each script sits beside the method that builds its KEYS and ARGV,
/// so the order a script reads its arguments in is written in one place. A new kind of record
/// is a key method, a script constant and its builder here, and a store method that runs it.
/// </summary>
internal sealed class RedisGrantScripts(string prefix)
{
    private const string PlatformKey = "platform";
    private const string OverrideKeyPrefix = "override:";
    private const string GrantKeyPrefix = "grant:";
    private const string ActiveKeyPrefix = "active:";
    private const string GrantIndexKeyPrefix = "grants:";
    private const string ActiveIndexKeyPrefix = "actives:";
    private const string InvalidationChannel = "invalidate";
    private const string EndedSessionsKeyPrefix = "sessions-ended:";
    private const string UsedCodeKeyPrefix = "otp-used:";

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

    /// <summary>The prefix of every key and of the channel.</summary>
    public string Prefix => prefix;

    /// <summary>The channel every mutating script PUBLISHes the changed tenant on.</summary>
    public string ChannelName => prefix + InvalidationChannel;

    public RedisKey Platform => Key(PlatformKey);

    public RedisKey Override(string tenant) => Key(OverrideKeyPrefix + tenant);

    public RedisKey Grant(string tenant, string id) => Key(GrantKeyPrefix + tenant + ":" + id);

    /// <summary>A used TOTP code: (support user, time step). Written with SET NX PX, no script needed.</summary>
    public RedisKey UsedCode(string supportUser, long timeStep) =>
        Key(UsedCodeKeyPrefix + supportUser + ":" + timeStep.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public RedisScriptCall GetState(string tenant, long nowMs) => new(
        GetStateScript,
        [Platform, Override(tenant), ActiveIndex(tenant), EndedSessions(tenant)],
        [GrantKeys(tenant), ActiveKeys(tenant), nowMs]);

    public RedisScriptCall SetPlatform(string json, long notAfterMs) => new(
        SetPlatformScript,
        [Platform],
        [json, ChannelName, IGrantStore.AllTenants, notAfterMs]);

    /// <param name="json">The override, or empty to remove it.</param>
    /// <param name="untilMs">Its end (ms), or empty for none.</param>
    public RedisScriptCall SetOverride(string tenant, RedisValue json, RedisValue untilMs, long notAfterMs) => new(
        SetOverrideScript,
        [Override(tenant)],
        [json, untilMs, ChannelName, tenant, notAfterMs]);

    public RedisScriptCall Create(string tenant, string id, string json, long expiresMs, long retainUntilMs, long notAfterMs) => new(
        CreateScript,
        [Grant(tenant, id), Active(tenant, id), GrantIndex(tenant), ActiveIndex(tenant)],
        [json, expiresMs, retainUntilMs, id, ChannelName, tenant, notAfterMs]);

    public RedisScriptCall List(string tenant, bool includeHistory, long nowMs) => new(
        ListScript,
        [includeHistory ? GrantIndex(tenant) : ActiveIndex(tenant)],
        [GrantKeys(tenant), ActiveKeys(tenant), nowMs, includeHistory ? "0" : "1"]);

    public RedisScriptCall Revoke(string tenant, string id, string revokedBy, string revokedAt, long nowMs) => new(
        RevokeScript,
        [Grant(tenant, id), Active(tenant, id), ActiveIndex(tenant)],
        [id, revokedBy, revokedAt, nowMs, ChannelName, tenant]);

    public RedisScriptCall RevokeAll(string tenant, string revokedBy, string revokedAt, long nowMs) => new(
        RevokeAllScript,
        [ActiveIndex(tenant)],
        [GrantKeys(tenant), ActiveKeys(tenant), revokedBy, revokedAt, nowMs, ChannelName, tenant]);

    public RedisScriptCall EndSession(string tenant, string sessionId, long untilMs) => new(
        EndSessionScript,
        [EndedSessions(tenant)],
        [sessionId, untilMs, ChannelName, tenant]);

    private RedisKey Key(string suffix) => prefix + suffix;

    private RedisKey Active(string tenant, string id) => Key(ActiveKeyPrefix + tenant + ":" + id);

    private RedisKey GrantIndex(string tenant) => Key(GrantIndexKeyPrefix + tenant);

    private RedisKey ActiveIndex(string tenant) => Key(ActiveIndexKeyPrefix + tenant);

    private RedisKey EndedSessions(string tenant) => Key(EndedSessionsKeyPrefix + tenant);

    /// <summary>What a script prepends to an id to reach its record (scripts walk indexes of ids).</summary>
    private RedisValue GrantKeys(string tenant) => prefix + GrantKeyPrefix + tenant + ":";

    /// <summary>What a script prepends to an id to reach its marker.</summary>
    private RedisValue ActiveKeys(string tenant) => prefix + ActiveKeyPrefix + tenant + ":";
}

/// <summary>One script with the KEYS and ARGV it is run with.</summary>
internal readonly record struct RedisScriptCall(string Script, RedisKey[] Keys, RedisValue[] Values);
