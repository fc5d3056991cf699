using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Grants;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Webhooks;

/// <summary>
/// Webhook endpoints and the outbox in Redis beside the grants, shared by every instance and
/// surviving restarts. Layout under the key prefix <c>{p}</c>, with <c>{s}</c> a scope key
/// (<c>t:{tenant}</c> or <c>p</c>):
/// <list type="bullet">
/// <item><c>webhook:{s}:{id}</c> — an endpoint as JSON (its secret protected); <c>webhooks:{s}</c> — the set of the scope's ids.</item>
/// <item><c>webhook-delivery:{id}</c> — a hash: <c>d</c> the delivery's state as JSON, <c>b</c> the body,
/// <c>w</c> the endpoint id, <c>s</c> its scope, <c>l</c> the lease of the instance attempting it.
/// Pending deliveries never expire; delivered and dead ones expire after the retention.</item>
/// <item><c>webhook-deliveries:{s}:{id}</c> — the endpoint's deliveries by creation time (the listing), capped.</item>
/// <item><c>webhook-check:{tenant}:{grant}</c> — a grant whose expiry is still to be announced.</item>
/// <item><c>webhook-due</c> — the schedule: <c>d:{delivery}</c> and <c>c:{tenant}:{grant}</c> by due time (ms);
/// a claim moves an entry to the end of its lease, so a dead instance's claims fall due again.</item>
/// </list>
/// Every change is one Lua script; those that make entries due sooner PUBLISH on the channel
/// <c>{p}webhook-due</c>, which every instance hears (<see cref="RedisInvalidationChannel"/>).
/// Times are the instances' clocks (in ms), not Redis's: instances are expected to agree within
/// seconds, as they already must for token lifetimes.
/// </summary>
internal sealed partial class RedisWebhookStore : IWebhookStore, IDisposable
{
    private const string AddRegistrationScript = """
        if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
        redis.call('SET', KEYS[1], ARGV[2])
        redis.call('SADD', KEYS[2], ARGV[1])
        return 1
        """;

    // KEYS: the scope's set. ARGV: key prefix of the scope's endpoints (…webhook:{s}:).
    private const string ListRegistrationsScript = """
        local out = {}
        for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          local r = redis.call('GET', ARGV[1] .. id)
          if r then table.insert(out, r) else redis.call('SREM', KEYS[1], id) end
        end
        return out
        """;

    // KEYS: endpoint, the scope's set, the endpoint's delivery list, schedule. ARGV: id, delivery key prefix.
    private const string RemoveRegistrationScript = """
        local r = redis.call('GET', KEYS[1])
        if not r then return false end
        redis.call('DEL', KEYS[1])
        redis.call('SREM', KEYS[2], ARGV[1])
        for _, d in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
          redis.call('ZREM', KEYS[4], 'd:' .. d)
          redis.call('DEL', ARGV[2] .. d)
        end
        redis.call('DEL', KEYS[3])
        return r
        """;

    // KEYS: schedule, channel name as a key-shaped string (for PUBLISH).
    // ARGV: prefix, now ms, events JSON, listed per endpoint, check to remove ('' none).
    // Each event: { id, type, tenant, body, state (the delivery's JSON, ids left blank), check = { key, json, due } or absent }.
    private const string EnqueueScript = """
        local p = ARGV[1]
        local now = ARGV[2]
        local max = tonumber(ARGV[4])
        local created = 0
        local scheduled = 0
        for _, e in ipairs(cjson.decode(ARGV[3])) do
          if e.check then
            if redis.call('SET', p .. 'webhook-check:' .. e.check.key, e.check.json, 'NX') then
              redis.call('ZADD', KEYS[1], e.check.due, 'c:' .. e.check.key)
              scheduled = scheduled + 1
            end
          end
          for _, s in ipairs({ 't:' .. e.tenant, 'p' }) do
            for _, w in ipairs(redis.call('SMEMBERS', p .. 'webhooks:' .. s)) do
              local raw = redis.call('GET', p .. 'webhook:' .. s .. ':' .. w)
              local wants = false
              if raw then
                for _, t in ipairs(cjson.decode(raw).events) do
                  if t == e.type then wants = true end
                end
              end
              if wants then
                local id = 'msg_' .. string.sub(redis.sha1hex(e.id .. '|' .. w), 1, 32)
                local key = p .. 'webhook-delivery:' .. id
                if redis.call('EXISTS', key) == 0 then
                  redis.call('HSET', key, 'd', e.state, 'b', e.body, 'w', w, 's', s, 'l', '')
                  redis.call('ZADD', KEYS[1], now, 'd:' .. id)
                  local list = p .. 'webhook-deliveries:' .. s .. ':' .. w
                  redis.call('ZADD', list, now, id)
                  local n = redis.call('ZCARD', list)
                  if n > max then redis.call('ZREMRANGEBYRANK', list, 0, n - max - 1) end
                  created = created + 1
                end
              end
            end
          end
        end
        if ARGV[5] ~= '' then
          redis.call('ZREM', KEYS[1], 'c:' .. ARGV[5])
          redis.call('DEL', p .. 'webhook-check:' .. ARGV[5])
        end
        if created + scheduled > 0 then redis.call('PUBLISH', KEYS[2], 'due') end
        return created
        """;

    // KEYS: schedule. ARGV: prefix, now ms, lease-until ms, lease token, limit.
    // Returns { entries, earliest due ms or '' }; an entry is { 'd', id, state, body, endpoint id, scope, endpoint JSON } or { 'c', key, check JSON }.
    private const string ClaimScript = """
        local p = ARGV[1]
        local out = {}
        for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[5]))) do
          local rest = string.sub(m, 3)
          if string.sub(m, 1, 1) == 'd' then
            local key = p .. 'webhook-delivery:' .. rest
            local h = redis.call('HMGET', key, 'd', 'b', 'w', 's')
            local r = h[1] and redis.call('GET', p .. 'webhook:' .. h[4] .. ':' .. h[3])
            if r then
              redis.call('ZADD', KEYS[1], ARGV[3], m)
              redis.call('HSET', key, 'l', ARGV[4])
              table.insert(out, { 'd', rest, h[1], h[2], h[3], h[4], r })
            else
              redis.call('ZREM', KEYS[1], m)
              redis.call('DEL', key)
            end
          else
            local c = redis.call('GET', p .. 'webhook-check:' .. rest)
            if c then
              redis.call('ZADD', KEYS[1], ARGV[3], m)
              table.insert(out, { 'c', rest, c })
            else
              redis.call('ZREM', KEYS[1], m)
            end
          end
        end
        local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        return { out, first[2] or '' }
        """;

    // KEYS: delivery, schedule. ARGV: id, lease, state JSON, next due ms ('' when final), retain-until ms.
    private const string RecordScript = """
        if redis.call('HGET', KEYS[1], 'l') ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[1], 'd', ARGV[3], 'l', '')
        if ARGV[4] ~= '' then
          redis.call('ZADD', KEYS[2], ARGV[4], 'd:' .. ARGV[1])
        else
          redis.call('ZREM', KEYS[2], 'd:' .. ARGV[1])
          redis.call('PEXPIREAT', KEYS[1], ARGV[5])
        end
        return 1
        """;

    // KEYS: schedule, channel. ARGV: prefix, now ms, then pairs of delivery id and lease.
    private const string ReleaseScript = """
        local n = 0
        for i = 3, #ARGV, 2 do
          local key = ARGV[1] .. 'webhook-delivery:' .. ARGV[i]
          if redis.call('HGET', key, 'l') == ARGV[i + 1] then
            redis.call('HSET', key, 'l', '')
            redis.call('ZADD', KEYS[1], ARGV[2], 'd:' .. ARGV[i])
            n = n + 1
          end
        end
        if n > 0 then redis.call('PUBLISH', KEYS[2], 'due') end
        return n
        """;

    // KEYS: the endpoint's delivery list. ARGV: delivery key prefix, limit. Returns { id, state, endpoint id, scope } per delivery, newest first.
    private const string ListDeliveriesScript = """
        local out = {}
        for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
          local h = redis.call('HMGET', ARGV[1] .. id, 'd', 'w', 's')
          if h[1] then table.insert(out, { id, h[1], h[2], h[3] }) else redis.call('ZREM', KEYS[1], id) end
        end
        return out
        """;

    // KEYS: delivery, schedule, channel. ARGV: id, endpoint id, scope, state JSON, now ms. Returns 1 when it belonged to that endpoint.
    private const string RedeliverScript = """
        local h = redis.call('HMGET', KEYS[1], 'w', 's')
        if h[1] ~= ARGV[2] or h[2] ~= ARGV[3] then return 0 end
        redis.call('HSET', KEYS[1], 'd', ARGV[4], 'l', '')
        redis.call('PERSIST', KEYS[1])
        redis.call('ZADD', KEYS[2], ARGV[5], 'd:' .. ARGV[1])
        redis.call('PUBLISH', KEYS[3], 'due')
        return 1
        """;

    private readonly IDatabase _db;
    private readonly string _prefix;
    private readonly RedisBudget _budget;
    private readonly RedisInvalidationChannel _channel;

    public RedisWebhookStore(IConnectionMultiplexer redis, IOptions<RedisOptions> redisOptions, IOptions<GrantsOptions> grants, TimeProvider time, ILogger<RedisWebhookStore> logger)
    {
        _db = redis.GetDatabase();
        _prefix = redisOptions.Value.KeyPrefix;
        // Background work, not the request path alone: at least a second per call.
        var budget = grants.Value.StoreTimeout > TimeSpan.FromSeconds(1) ? grants.Value.StoreTimeout : TimeSpan.FromSeconds(1);
        _budget = new RedisBudget(budget, logger);
        _channel = new RedisInvalidationChannel(redis, _prefix + "webhook-due", grants.Value.StoreTimeout, time, logger);
        _channel.Invalidated += _ => DueChanged?.Invoke();
    }

    public event Action? DueChanged;

    /// <summary>True while other instances' news is heard; while not, the dispatcher polls.</summary>
    public bool HearsOtherInstances => _channel.Connected;

    private RedisKey Schedule => _prefix + "webhook-due";

    private RedisKey ChannelKey => _prefix + "webhook-due";

    /// <summary>Starts hearing other instances (never fails because Redis is down: it keeps trying).</summary>
    public Task StartAsync(CancellationToken cancellationToken) => _channel.StartAsync(cancellationToken);

    public Task<bool> AddRegistrationAsync(WebhookRegistration registration, int cap, CancellationToken cancellationToken) =>
        _budget.RunAsync(
            "AddWebhook",
            () => _db.ScriptEvaluateAsync(
                AddRegistrationScript,
                [Registration(registration.Scope, registration.Id), Set(registration.Scope)],
                [registration.Id, JsonSerializer.Serialize(registration, WebhookStoreJson.Default.WebhookRegistration), cap]),
            static reply => (long)reply == 1,
            cancellationToken);

    public Task<WebhookRegistration?> GetRegistrationAsync(WebhookScope scope, string id, CancellationToken cancellationToken) =>
        _budget.RunAsync(
            "GetWebhook",
            () => _db.StringGetAsync(Registration(scope, id)),
            static value => value.IsNull ? null : RedisGrantStore.Parse(value, WebhookStoreJson.Default.WebhookRegistration),
            cancellationToken);

    public Task<IReadOnlyList<WebhookRegistration>> ListRegistrationsAsync(WebhookScope scope, CancellationToken cancellationToken) =>
        _budget.RunAsync<RedisResult, IReadOnlyList<WebhookRegistration>>(
            "ListWebhooks",
            () => _db.ScriptEvaluateAsync(ListRegistrationsScript, [Set(scope)], [_prefix + "webhook:" + scope.Key + ":"]),
            static reply => [.. RedisGrantStore.Items(reply)
                .Select(r => RedisGrantStore.Parse((RedisValue)r, WebhookStoreJson.Default.WebhookRegistration))
                .OrderBy(r => r.CreatedAt).ThenBy(r => r.Id, StringComparer.Ordinal)],
            cancellationToken);

    public Task<WebhookRegistration?> RemoveRegistrationAsync(WebhookScope scope, string id, CancellationToken cancellationToken) =>
        _budget.RunAsync(
            "RemoveWebhook",
            () => _db.ScriptEvaluateAsync(
                RemoveRegistrationScript,
                [Registration(scope, id), Set(scope), DeliveryList(scope, id), Schedule],
                [id, _prefix + "webhook-delivery:"]),
            static reply => reply.IsNull ? null : RedisGrantStore.Parse((RedisValue)reply, WebhookStoreJson.Default.WebhookRegistration),
            cancellationToken);

    public Task<int> EnqueueAsync(IReadOnlyList<OutboxEvent> events, DateTimeOffset now, ExpiryCheck? doneCheck, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.Serialize(
            events.Select(e => new StoredEvent(
                e.Id,
                e.Type,
                e.Tenant,
                e.Body,
                JsonSerializer.Serialize(
                    new WebhookDelivery
                    {
                        Id = "",
                        WebhookId = "",
                        EventId = e.Id,
                        EventType = e.Type,
                        EventTenant = e.Tenant,
                        CreatedAt = now,
                        RetryingSince = now,
                        NextAttemptAt = now,
                    },
                    WebhookStoreJson.Default.WebhookDelivery),
                e.Expiry is { } x ? new StoredCheck(x.Key, JsonSerializer.Serialize(x, WebhookStoreJson.Default.ExpiryCheck), x.ExpiresAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)) : null)).ToList(),
            WebhookStoreJson.Default.ListStoredEvent);
        return _budget.RunAsync(
            "EnqueueWebhookEvents",
            () => _db.ScriptEvaluateAsync(
                EnqueueScript,
                [Schedule, ChannelKey],
                [_prefix, now.ToUnixTimeMilliseconds(), payload, WebhookLimits.DeliveriesListedPerEndpoint, doneCheck?.Key ?? ""]),
            static reply => (int)(long)reply,
            cancellationToken);
    }

    public Task<ClaimBatch> ClaimAsync(DateTimeOffset now, TimeSpan lease, string owner, int limit, CancellationToken cancellationToken)
    {
        var token = owner + ":" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        return _budget.RunAsync(
            "ClaimWebhookDeliveries",
            () => _db.ScriptEvaluateAsync(
                ClaimScript,
                [Schedule],
                [_prefix, now.ToUnixTimeMilliseconds(), (now + lease).ToUnixTimeMilliseconds(), token, limit]),
            reply => ReadClaim(reply, token),
            cancellationToken);
    }

    public Task<bool> RecordAttemptAsync(WebhookDelivery updated, string lease, DateTimeOffset retainUntil, CancellationToken cancellationToken) =>
        _budget.RunAsync(
            "RecordWebhookAttempt",
            () => _db.ScriptEvaluateAsync(
                RecordScript,
                [Delivery(updated.Id), Schedule],
                [
                    updated.Id,
                    lease,
                    JsonSerializer.Serialize(updated, WebhookStoreJson.Default.WebhookDelivery),
                    updated.Status == DeliveryStatus.Pending ? (RedisValue)(updated.NextAttemptAt ?? retainUntil).ToUnixTimeMilliseconds() : RedisValue.EmptyString,
                    retainUntil.ToUnixTimeMilliseconds(),
                ]),
            static reply => (long)reply == 1,
            cancellationToken);

    public Task ReleaseAsync(IReadOnlyList<ClaimedDelivery> claims, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (claims.Count == 0)
        {
            return Task.CompletedTask;
        }

        return _budget.RunAsync(
            "ReleaseWebhookDeliveries",
            () => _db.ScriptEvaluateAsync(
                ReleaseScript,
                [Schedule, ChannelKey],
                [_prefix, now.ToUnixTimeMilliseconds(), .. claims.SelectMany(c => new RedisValue[] { c.Delivery.Id, c.Lease })]),
            static _ => true,
            cancellationToken);
    }

    public Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(WebhookScope scope, string webhookId, int limit, CancellationToken cancellationToken) =>
        _budget.RunAsync<RedisResult, IReadOnlyList<WebhookDelivery>>(
            "ListWebhookDeliveries",
            () => _db.ScriptEvaluateAsync(ListDeliveriesScript, [DeliveryList(scope, webhookId)], [_prefix + "webhook-delivery:", limit]),
            static reply => [.. RedisGrantStore.Items(reply).Select(item =>
            {
                var fields = RedisGrantStore.Items(item, minimum: 4);
                return ReadDelivery((string)fields[0]!, (RedisValue)fields[1], (string)fields[2]!, (string)fields[3]!);
            })],
            cancellationToken);

    public Task<WebhookDelivery?> GetDeliveryAsync(WebhookScope scope, string webhookId, string deliveryId, CancellationToken cancellationToken) =>
        _budget.RunAsync(
            "GetWebhookDelivery",
            () => _db.HashGetAsync(Delivery(deliveryId), ["d", "w", "s"]),
            fields => fields[0].IsNull || (string?)fields[1] != webhookId || (string?)fields[2] != scope.Key
                ? null
                : ReadDelivery(deliveryId, fields[0], webhookId, scope.Key),
            cancellationToken);

    public async Task<WebhookDelivery?> RedeliverAsync(WebhookScope scope, string webhookId, string deliveryId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (await GetDeliveryAsync(scope, webhookId, deliveryId, cancellationToken) is not { } current)
        {
            return null;
        }

        var again = InMemoryWebhookStore.Redelivery(current, now);
        var done = await _budget.RunAsync(
            "RedeliverWebhook",
            () => _db.ScriptEvaluateAsync(
                RedeliverScript,
                [Delivery(deliveryId), Schedule, ChannelKey],
                [deliveryId, webhookId, scope.Key, JsonSerializer.Serialize(again, WebhookStoreJson.Default.WebhookDelivery), now.ToUnixTimeMilliseconds()]),
            static reply => (long)reply == 1,
            cancellationToken);
        return done ? again : null;
    }

    public void Dispose() => _channel.Dispose();

    private static ClaimBatch ReadClaim(RedisResult reply, string token)
    {
        var parts = RedisGrantStore.Items(reply, minimum: 2);
        var deliveries = new List<ClaimedDelivery>();
        var checks = new List<ExpiryCheck>();
        foreach (var item in RedisGrantStore.Items(parts[0]))
        {
            var fields = RedisGrantStore.Items(item, minimum: 3);
            if ((string?)fields[0] == "c")
            {
                checks.Add(RedisGrantStore.Parse((RedisValue)fields[2], WebhookStoreJson.Default.ExpiryCheck));
                continue;
            }

            RedisGrantStore.Items(item, minimum: 7);
            var delivery = ReadDelivery((string)fields[1]!, (RedisValue)fields[2], (string)fields[4]!, (string)fields[5]!);
            var registration = RedisGrantStore.Parse((RedisValue)fields[6], WebhookStoreJson.Default.WebhookRegistration);
            deliveries.Add(new ClaimedDelivery(delivery, (string)fields[3]!, registration, token));
        }

        var next = (string?)parts[1];
        return new ClaimBatch(
            deliveries,
            checks,
            string.IsNullOrEmpty(next) ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)double.Parse(next, CultureInfo.InvariantCulture)));
    }

    private static WebhookDelivery ReadDelivery(string id, RedisValue state, string webhookId, string scope) =>
        RedisGrantStore.Parse(state, WebhookStoreJson.Default.WebhookDelivery) with { Id = id, WebhookId = webhookId, Scope = WebhookScope.FromKey(scope) };

    private RedisKey Registration(WebhookScope scope, string id) => _prefix + "webhook:" + scope.Key + ":" + id;

    private RedisKey Set(WebhookScope scope) => _prefix + "webhooks:" + scope.Key;

    private RedisKey DeliveryList(WebhookScope scope, string webhookId) => _prefix + "webhook-deliveries:" + scope.Key + ":" + webhookId;

    private RedisKey Delivery(string id) => _prefix + "webhook-delivery:" + id;

    private sealed record StoredEvent(string Id, string Type, string Tenant, string Body, string State, StoredCheck? Check);

    private sealed record StoredCheck(string Key, string Json, string Due);

    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonSerializable(typeof(WebhookRegistration))]
    [JsonSerializable(typeof(WebhookDelivery))]
    [JsonSerializable(typeof(ExpiryCheck))]
    [JsonSerializable(typeof(List<StoredEvent>))]
    private sealed partial class WebhookStoreJson : JsonSerializerContext;
}
