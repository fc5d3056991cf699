using Gateway.Grants;
using Gateway.Tests.Grants;
using Gateway.Tests.Infrastructure;
using Gateway.Webhooks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Gateway.Tests.Webhooks;

/// <summary>
/// The webhook store contract against a real redis-server (real clock: retention is Redis's own
/// expiry), each test under its own key prefix; the peer is a second store on its own connection,
/// as another gateway instance would be.
/// </summary>
public sealed class RedisWebhookStoreContractTests(RedisFixture redis, ITestOutputHelper output) : WebhookStoreContract, IClassFixture<RedisFixture>
{
    private readonly string _prefix = RedisFixture.NewKeyPrefix();
    private readonly List<RedisWebhookStore> _stores = [];
    private readonly List<ConnectionMultiplexer> _connections = [];

    private protected override ITestClock Clock { get; } = new RealClock();

    public override async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }

        foreach (var connection in _connections)
        {
            await connection.CloseAsync();
            connection.Dispose();
        }

        await base.DisposeAsync();
    }

    [Fact]
    public async Task Keys_FollowTheDocumentedLayout_AndPendingDeliveriesNeverExpire()
    {
        var endpoint = await AddAsync(Acme, Gateway.Events.SupportEventTypes.SessionStarted);
        var now = Clock.Now;
        await Store.EnqueueAsync([Event(Gateway.Events.SupportEventTypes.SessionStarted, "acme") with { Expiry = new ExpiryCheck("acme", "g_abcdefghijklmnopqrstuvwxyz", now.AddHours(1)) }], now, null, Ct);
        var inspect = _connections[0].GetDatabase();

        var found = (string[])(await inspect.ScriptEvaluateAsync("return redis.call('KEYS', ARGV[1])", values: [_prefix + "*"]))!;
        var keys = found.Select(k => k[_prefix.Length..]).Order(StringComparer.Ordinal).ToList();
        var delivery = Assert.Single(keys, k => k.StartsWith("webhook-delivery:", StringComparison.Ordinal));
        Assert.Equal(
            new[] { "webhook-check:acme:g_abcdefghijklmnopqrstuvwxyz", delivery, $"webhook-deliveries:t:acme:{endpoint.Id}", "webhook-due", $"webhook:t:acme:{endpoint.Id}", "webhooks:t:acme" }.Order(StringComparer.Ordinal),
            keys);
        Assert.Null(await inspect.KeyTimeToLiveAsync(_prefix + delivery));
        Assert.Equal(2, await inspect.SortedSetLengthAsync(_prefix + "webhook-due"));
        // The stored endpoint holds the protected secret as given, never anything else about it.
        Assert.Contains("\"secret\":\"v1.c2VjcmV0LWFzLXN0b3JlZA==\"", (string?)await inspect.StringGetAsync(_prefix + $"webhook:t:acme:{endpoint.Id}"), StringComparison.Ordinal);
    }

    private protected override Task<IWebhookStore> CreateStoreAsync() => NewStoreAsync();

    private protected override Task<IWebhookStore> CreatePeerAsync() => NewStoreAsync();

    private async Task<IWebhookStore> NewStoreAsync()
    {
        var connection = await redis.ConnectAsync();
        _connections.Add(connection);
        var store = new RedisWebhookStore(
            connection,
            Options.Create(new RedisOptions { Configuration = redis.Server.ConnectionString, KeyPrefix = _prefix }),
            Options.Create(new GrantsOptions { StoreTimeout = TimeSpan.FromSeconds(2) }),
            TimeProvider.System,
            new TestOutputLogger<RedisWebhookStore>(output));
        _stores.Add(store);
        return store;
    }

    private sealed class RealClock : ITestClock
    {
        public DateTimeOffset Now => TimeProvider.System.GetUtcNow();

        public Task PassAsync(TimeSpan duration) => Task.Delay(duration);
    }
}
