using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Grants;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Sessions;

/// <summary>
/// Session records in Redis beside the grants, shared by every instance. Layout under the key
/// prefix <c>{p}</c>: <c>session:{tenant}:{id}</c> (a hash: <c>r</c> the fixed fields as JSON,
/// <c>last</c>/<c>exp</c>/<c>fw</c> times in ms, counters <c>calls</c>, <c>writes</c>, <c>reqb</c>,
/// <c>respb</c>, <c>d:{code}</c> denials, <c>rt:{route}</c> routes, <c>ip:{address}</c>,
/// <c>g:{grant}</c> admitted-under, <c>end</c> and <c>report</c> as JSON), <c>session-writes:{tenant}:{id}</c>
/// (a list of the recorded writes), <c>sessions</c> (a sorted set of <c>tenant/id</c> by start, the
/// listing index), <c>sessions-due</c> (active sessions by the time they fall idle or expire) and
/// <c>basic-session:{tenant}:{user}:{target}</c> (the open Basic session of that key, expiring
/// after the idle timeout). Counters are HINCRBY, so flushes from several instances add up; every
/// change is one Lua script. Ended sessions keep their hash and list for the retention.
/// </summary>
internal sealed class RedisSessionStore : ISessionStore
{
    private const string StartBody = """
        local function start(k, a)
          if redis.call('EXISTS', k[1]) == 1 then return 0 end
          redis.call('HSET', k[1], 'r', a[1], 'last', a[3], 'calls', 0, 'writes', 0, 'reqb', 0, 'respb', 0)
          if a[5] ~= '' then redis.call('HSET', k[1], 'exp', a[5]) end
          for _, g in ipairs(cjson.decode(a[7])) do redis.call('HSET', k[1], 'g:' .. g, 1) end
          for _, ip in ipairs(cjson.decode(a[8])) do redis.call('HSET', k[1], 'ip:' .. ip, 1) end
          redis.call('HSET', k[1], 'ipn', #cjson.decode(a[8]))
          redis.call('ZADD', k[2], a[2], a[6])
          if a[4] ~= '' then redis.call('ZADD', k[3], a[4], a[6]) end
          return 1
        end

        """;

    // KEYS: hash, listing index, due index. ARGV: fixed JSON, start ms, last ms, due ms, exp ms ('' none), member, admitted JSON, addresses JSON.
    private const string StartScript = StartBody + "return start(KEYS, ARGV)";

    // KEYS: basic key, hash of the candidate, listing index, due index.
    // ARGV: candidate id, idle ms, session key prefix (…session:{tenant}:), then START's ARGV.
    // Returns the id of the Basic session of the key: the open (or recently ended) one, or the candidate, started.
    private const string OpenBasicScript = StartBody + """
        local id = redis.call('GET', KEYS[1])
        if id and redis.call('EXISTS', ARGV[3] .. id) == 1 then
          if redis.call('HEXISTS', ARGV[3] .. id, 'end') == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
          return id
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        start({ KEYS[2], KEYS[3], KEYS[4] }, { ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11] })
        return ARGV[1]
        """;

    // KEYS: hash, writes list, due index, basic key (or the hash again).
    // ARGV: delta JSON, member, idle ms, max writes, max routes, max addresses, '1' when the basic key is real.
    // Returns 1 when this flush recorded the session's first write, 0 otherwise, -1 when the session is unknown.
    private const string FlushScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        local d = cjson.decode(ARGV[1])
        redis.call('HINCRBY', KEYS[1], 'calls', d.calls)
        redis.call('HINCRBY', KEYS[1], 'writes', d.writes)
        redis.call('HINCRBY', KEYS[1], 'reqb', d.reqb)
        redis.call('HINCRBY', KEYS[1], 'respb', d.respb)
        for code, n in pairs(d.denials) do redis.call('HINCRBY', KEYS[1], 'd:' .. code, n) end
        local function capped(prefix, countField, max, map)
          local n = tonumber(redis.call('HGET', KEYS[1], countField) or '0')
          for name, value in pairs(map) do
            if redis.call('HEXISTS', KEYS[1], prefix .. name) == 1 then
              redis.call('HINCRBY', KEYS[1], prefix .. name, value)
            elseif n < max then
              redis.call('HSET', KEYS[1], prefix .. name, value)
              n = n + 1
            end
          end
          redis.call('HSET', KEYS[1], countField, n)
        end
        capped('rt:', 'rtn', tonumber(ARGV[5]), d.routes)
        capped('ip:', 'ipn', tonumber(ARGV[6]), d.addresses)
        capped('g:', 'gn', 64, d.admitted)
        local first = 0
        for _, w in ipairs(d.newWrites) do
          if redis.call('LLEN', KEYS[2]) < tonumber(ARGV[4]) then redis.call('RPUSH', KEYS[2], w) else redis.call('HSET', KEYS[1], 'wtrunc', 1) end
        end
        if d.firstWrite ~= cjson.null and redis.call('HEXISTS', KEYS[1], 'fw') == 0 then
          redis.call('HSET', KEYS[1], 'fw', d.firstWrite)
          first = 1
        end
        local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
        if d.last > last then last = d.last; redis.call('HSET', KEYS[1], 'last', last) end
        if redis.call('HEXISTS', KEYS[1], 'end') == 0 then
          local due = last + tonumber(ARGV[3])
          local exp = redis.call('HGET', KEYS[1], 'exp')
          if exp and tonumber(exp) < due then due = tonumber(exp) end
          redis.call('ZADD', KEYS[3], due, ARGV[2])
          if ARGV[7] == '1' then redis.call('PEXPIRE', KEYS[4], ARGV[3]) end
        end
        return first
        """;

    // KEYS: hash, due index, writes list. ARGV: end JSON, member, retain-until ms. Returns 1 when it ended the session now.
    private const string EndScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'end') == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'end', ARGV[1])
        redis.call('ZREM', KEYS[2], ARGV[2])
        redis.call('PEXPIREAT', KEYS[1], ARGV[3])
        if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIREAT', KEYS[3], ARGV[3]) end
        return 1
        """;

    // KEYS: basic key. ARGV: session id. Deletes the key only while it still names that session.
    private const string ReleaseBasicScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    // KEYS: hash, writes list. Returns { the hash as a flat list, the recorded writes }.
    private const string GetScript = """
        return { redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1) }
        """;

    private readonly IDatabase _db;
    private readonly string _prefix;
    private readonly RedisBudget _budget;
    private readonly TimeProvider _time;

    public RedisSessionStore(IConnectionMultiplexer redis, IOptions<RedisOptions> redisOptions, IOptions<GrantsOptions> grants, TimeProvider time, ILogger<RedisSessionStore> logger)
    {
        _db = redis.GetDatabase();
        _prefix = redisOptions.Value.KeyPrefix;
        _budget = new RedisBudget(grants.Value.StoreTimeout, logger);
        _time = time;
    }

    public Task<bool> StartAsync(SupportSessionRecord session, CancellationToken cancellationToken) =>
        _budget.RunAsync(
            "StartSession",
            () => _db.ScriptEvaluateAsync(StartScript, [Hash(session.Tenant, session.Id), Index, DueIndex], StartArgs(session, idle: null)),
            static reply => (long)reply == 1,
            cancellationToken);

    public async Task<(SupportSessionRecord Session, bool Started)> OpenBasicAsync(SupportSessionRecord candidate, string basicKey, TimeSpan idleTimeout, CancellationToken cancellationToken)
    {
        var id = await _budget.RunAsync(
            "OpenBasicSession",
            () => _db.ScriptEvaluateAsync(
                OpenBasicScript,
                [Key("basic-session:" + basicKey), Hash(candidate.Tenant, candidate.Id), Index, DueIndex],
                [candidate.Id, (long)idleTimeout.TotalMilliseconds, _prefix + "session:" + candidate.Tenant + ":", .. StartArgs(candidate, idleTimeout)]),
            static reply => (string?)reply ?? throw new InvalidDataException("No session id."),
            cancellationToken);
        if (id == candidate.Id)
        {
            return (candidate, true);
        }

        return (await GetAsync(candidate.Tenant, id, cancellationToken) ?? throw new GrantStoreUnavailableException("The open Basic session vanished while it was read."), false);
    }

    public Task ReleaseBasicAsync(string basicKey, string id, CancellationToken cancellationToken) =>
        _budget.RunAsync(
            "ReleaseBasicSession",
            () => _db.ScriptEvaluateAsync(ReleaseBasicScript, [Key("basic-session:" + basicKey)], [id]),
            static _ => true,
            cancellationToken);

    public Task<SupportSessionRecord?> GetAsync(string tenant, string id, CancellationToken cancellationToken) =>
        _budget.RunAsync(
            "GetSession",
            () => _db.ScriptEvaluateAsync(GetScript, [Hash(tenant, id), Writes(tenant, id)]),
            reply => Read(RedisGrantStore.Items(reply, minimum: 2)),
            cancellationToken);

    public Task<bool> FlushAsync(SessionDelta delta, TimeSpan idleTimeout, SessionsOptions limits, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.Serialize(new StoredDelta(
            delta.Calls, delta.Writes, delta.RequestBytes, delta.ResponseBytes, delta.LastActivityAt.ToUnixTimeMilliseconds(),
            delta.Denials, delta.Routes, delta.ClientAddresses.ToDictionary(a => a, _ => 1L), delta.AdmittedUnder.ToDictionary(g => g, _ => 1L),
            [.. delta.NewWrites.Select(w => JsonSerializer.Serialize(w, SessionStoreJson.Default.SessionWrite))],
            delta.NewWrites.Count > 0 ? delta.NewWrites[0].At.ToUnixTimeMilliseconds() : null), SessionStoreJson.Default.StoredDelta);
        var hash = Hash(delta.Tenant, delta.Id);
        return _budget.RunAsync(
            "FlushSession",
            () => _db.ScriptEvaluateAsync(
                FlushScript,
                [hash, Writes(delta.Tenant, delta.Id), DueIndex, delta.BasicKey is { } key ? Key("basic-session:" + key) : hash],
                [payload, Member(delta.Tenant, delta.Id), (long)idleTimeout.TotalMilliseconds, limits.MaxRecordedWrites, limits.MaxRoutes, limits.MaxClientAddresses, delta.BasicKey is null ? "0" : "1"]),
            static reply => (long)reply == 1,
            cancellationToken);
    }

    public async Task<SupportSessionRecord?> EndAsync(string tenant, string id, SessionEnd end, DateTimeOffset retainUntil, CancellationToken cancellationToken)
    {
        var ended = await _budget.RunAsync(
            "EndSession",
            () => _db.ScriptEvaluateAsync(
                EndScript,
                [Hash(tenant, id), DueIndex, Writes(tenant, id)],
                [JsonSerializer.Serialize(end, SessionStoreJson.Default.SessionEnd), Member(tenant, id), retainUntil.ToUnixTimeMilliseconds()]),
            static reply => (long)reply == 1,
            cancellationToken);
        return ended ? await GetAsync(tenant, id, cancellationToken) : null;
    }

    public Task SaveReportAsync(string tenant, string id, SessionReport report, CancellationToken cancellationToken) =>
        _budget.RunAsync(
            "SaveSessionReport",
            () => _db.ScriptEvaluateAsync(
                "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'report', ARGV[1]) end return 1",
                [Hash(tenant, id)],
                [JsonSerializer.Serialize(report, SessionStoreJson.Default.SessionReport)]),
            static _ => true,
            cancellationToken);

    public Task<IReadOnlyList<(string Tenant, string Id)>> DueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        _budget.RunAsync<RedisValue[], IReadOnlyList<(string, string)>>(
            "DueSessions",
            () => _db.SortedSetRangeByScoreAsync(DueIndex, double.NegativeInfinity, now.ToUnixTimeMilliseconds(), take: limit),
            static members => [.. members.Select(m => SplitMember(m!))],
            cancellationToken);

    public Task<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken) =>
        _budget.RunAsync<SortedSetEntry[], DateTimeOffset?>(
            "NextDueSession",
            () => _db.SortedSetRangeByRankWithScoresAsync(DueIndex, 0, 0),
            static first => first.Length == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)first[0].Score),
            cancellationToken);

    public async Task<SessionPage> ListAsync(SessionQuery query, CancellationToken cancellationToken)
    {
        const int Batch = 200;
        var cursor = SessionCursor.Parse(query.Cursor);
        var found = new List<SupportSessionRecord>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var max = cursor is { } c ? (double)c.StartMs : double.PositiveInfinity;
        while (found.Count <= query.Limit)
        {
            // Newest first from the cursor's start time on (inclusive: ties are sorted out by IsAfter).
            var batch = await _budget.RunAsync(
                "ListSessions",
                () => _db.SortedSetRangeByScoreWithScoresAsync(Index, double.NegativeInfinity, max, Exclude.None, Order.Descending, 0, Batch),
                static entries => entries,
                cancellationToken);
            var fresh = batch.Select(e => (string)e.Element!).Where(seen.Add)
                .Where(m => query.Tenant is null || m.StartsWith(query.Tenant + "/", StringComparison.Ordinal)).ToList();
            var records = await Task.WhenAll(fresh.Select(SplitMember).Select(m => GetAsync(m.Tenant, m.Id, cancellationToken)));
            for (var i = 0; i < fresh.Count; i++)
            {
                if (records[i] is not { } record)
                {
                    // Past its retention: the hash expired; drop its index entry too.
                    _ = _db.SortedSetRemoveAsync(Index, fresh[i], CommandFlags.FireAndForget);
                }
                else if ((cursor is null || SessionCursor.IsAfter(record, cursor.Value))
                    && (!query.ActiveOnly || record.IsActive)
                    && (query.SupportUser is null || string.Equals(record.SupportUser, query.SupportUser, StringComparison.OrdinalIgnoreCase))
                    && (query.From is null || record.StartedAt >= query.From)
                    && (query.To is null || record.StartedAt < query.To))
                {
                    found.Add(record);
                }
            }

            if (batch.Length < Batch || batch[^1].Score == max)
            {
                break; // the index is exhausted (or one start time fills a whole batch: the page stops there)
            }

            max = batch[^1].Score;
        }

        var page = found.OrderByDescending(r => r.StartedAt).ThenByDescending(r => Member(r.Tenant, r.Id), StringComparer.Ordinal).Take(query.Limit + 1).ToList();
        var more = page.Count > query.Limit;
        if (more)
        {
            page.RemoveAt(page.Count - 1);
        }

        return new SessionPage(page, more ? SessionCursor.Of(page[^1]) : null);
    }

    private RedisValue[] StartArgs(SupportSessionRecord s, TimeSpan? idle)
    {
        var due = idle is { } i ? s.LastActivityAt + i : s.ExpiresAt;
        if (s.ExpiresAt is { } exp && due is { } d && exp < d)
        {
            due = exp;
        }

        return
        [
            JsonSerializer.Serialize(StoredSession.From(s), SessionStoreJson.Default.StoredSession),
            s.StartedAt.ToUnixTimeMilliseconds(),
            s.LastActivityAt.ToUnixTimeMilliseconds(),
            due is { } at ? at.ToUnixTimeMilliseconds() : "",
            s.ExpiresAt is { } e ? e.ToUnixTimeMilliseconds() : "",
            Member(s.Tenant, s.Id),
            JsonSerializer.Serialize(s.AdmittedUnder.ToArray(), SessionStoreJson.Default.StringArray),
            JsonSerializer.Serialize(s.ClientAddresses.ToArray(), SessionStoreJson.Default.StringArray),
        ];
    }

    private static SupportSessionRecord? Read(RedisResult[] reply)
    {
        var fields = (RedisResult[]?)reply[0] ?? [];
        if (fields.Length == 0)
        {
            return null;
        }

        var hash = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < fields.Length; i += 2)
        {
            hash[(string)fields[i]!] = (string)fields[i + 1]!;
        }

        var fixedPart = JsonSerializer.Deserialize(hash["r"], SessionStoreJson.Default.StoredSession) ?? throw new JsonException("A stored session is JSON null.");
        long Number(string name) => hash.TryGetValue(name, out var v) ? long.Parse(v, CultureInfo.InvariantCulture) : 0;
        Dictionary<string, long> Prefixed(string prefix) =>
            hash.Where(f => f.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(f => f.Key[prefix.Length..], f => long.Parse(f.Value, CultureInfo.InvariantCulture), StringComparer.Ordinal);
        DateTimeOffset? Time(string name) => hash.TryGetValue(name, out var v) ? DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(v, CultureInfo.InvariantCulture)) : null;

        var writes = ((RedisResult[]?)reply[1] ?? []).Select(w => JsonSerializer.Deserialize((string)w!, SessionStoreJson.Default.SessionWrite)!).ToList();
        return fixedPart.ToRecord() with
        {
            LastActivityAt = Time("last") ?? fixedPart.StartedAt,
            ExpiresAt = Time("exp"),
            Calls = Number("calls"),
            Writes = Number("writes"),
            RequestBytes = Number("reqb"),
            ResponseBytes = Number("respb"),
            Denials = Prefixed("d:"),
            Routes = Prefixed("rt:"),
            ClientAddresses = [.. Prefixed("ip:").Keys.Order(StringComparer.Ordinal)],
            AdmittedUnder = [.. Prefixed("g:").Keys.Order(StringComparer.Ordinal)],
            RecordedWrites = writes,
            WritesTruncated = hash.ContainsKey("wtrunc"),
            FirstWriteAt = Time("fw"),
            End = hash.TryGetValue("end", out var end) ? JsonSerializer.Deserialize(end, SessionStoreJson.Default.SessionEnd) : null,
            Report = hash.TryGetValue("report", out var report) ? JsonSerializer.Deserialize(report, SessionStoreJson.Default.SessionReport) : null,
        };
    }

    private RedisKey Key(string suffix) => _prefix + suffix;

    private RedisKey Hash(string tenant, string id) => Key($"session:{tenant}:{id}");

    private RedisKey Writes(string tenant, string id) => Key($"session-writes:{tenant}:{id}");

    private RedisKey Index => Key("sessions");

    private RedisKey DueIndex => Key("sessions-due");

    private static string Member(string tenant, string id) => tenant + "/" + id;

    private static (string Tenant, string Id) SplitMember(string member)
    {
        var slash = member.IndexOf('/', StringComparison.Ordinal);
        return (member[..slash], member[(slash + 1)..]);
    }
}

/// <summary>The fixed fields of a session as stored.</summary>
internal sealed record StoredSession(string Id, string Tenant, string SupportUser, string TargetUser, string Credential, DateTimeOffset StartedAt, string? Isolation, string? UserAgent, string[]? Scope = null)
{
    public static StoredSession From(SupportSessionRecord s) => new(s.Id, s.Tenant, s.SupportUser, s.TargetUser, s.Credential, s.StartedAt, s.Isolation, s.UserAgent, s.Scope?.ToArray());

    public SupportSessionRecord ToRecord() => new()
    {
        Id = Id,
        Tenant = Tenant,
        SupportUser = SupportUser,
        TargetUser = TargetUser,
        Credential = Credential,
        StartedAt = StartedAt,
        Isolation = Isolation,
        UserAgent = UserAgent,
        Scope = Scope,
    };
}

/// <summary>A flush as the Lua script reads it.</summary>
internal sealed record StoredDelta(
    long Calls,
    long Writes,
    [property: JsonPropertyName("reqb")] long RequestBytes,
    [property: JsonPropertyName("respb")] long ResponseBytes,
    long Last,
    Dictionary<string, long> Denials,
    Dictionary<string, long> Routes,
    Dictionary<string, long> Addresses,
    [property: JsonIgnore] Dictionary<string, long> AdmittedMap,
    string[] NewWrites,
    long? FirstWrite)
{
    /// <summary>Admitted-under ids as a map, like routes and addresses (the script treats all three alike).</summary>
    public Dictionary<string, long> Admitted => AdmittedMap;
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(StoredSession))]
[JsonSerializable(typeof(StoredDelta))]
[JsonSerializable(typeof(SessionWrite))]
[JsonSerializable(typeof(SessionEnd))]
[JsonSerializable(typeof(SessionReport))]
[JsonSerializable(typeof(string[]), TypeInfoPropertyName = "StringArray")]
internal sealed partial class SessionStoreJson : JsonSerializerContext;
