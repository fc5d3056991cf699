using Gateway.Grants;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Gateway.Tests.Grants;

/// <summary>
/// The grant store contract against a real redis-server, on the real clock: expiry is Redis's
/// own TTLs running out, so the tests about expiry wait for it (about a second each). Each test
/// has its own key prefix; the extra facts here look at the keys on the server.
/// </summary>
public sealed class RedisGrantStoreContractTests(RedisFixture redis, ITestOutputHelper output) : GrantStoreContract, IClassFixture<RedisFixture>
{
    /// <summary>
    /// These tests are about semantics, not the budget (RedisFailClosedTests holds the store to
    /// the default 200 ms); on a busy two-core test machine the default would make them flaky.
    /// </summary>
    private static readonly TimeSpan SemanticsBudget = TimeSpan.FromSeconds(2);

    private readonly string _prefix = RedisFixture.NewKeyPrefix();
    private readonly List<RedisGrantStore> _stores = [];
    private readonly List<ConnectionMultiplexer> _connections = [];
    private IDatabase? _inspect;

    private protected override ITestClock Clock { get; } = new RealClock();

    private IDatabase Inspect => _inspect ?? throw new InvalidOperationException("Not initialised.");

    public override async Task InitializeAsync()
    {
        var connection = await redis.ConnectAsync();
        _connections.Add(connection);
        _inspect = connection.GetDatabase();
        await base.InitializeAsync();
    }

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
    public async Task Keys_FollowTheDocumentedLayout_AndAllButPlatformSettingsExpire()
    {
        var grant = NewGrant(Acme, TimeSpan.FromHours(1));
        await Store.CreateGrantAsync(grant, Ct);
        await Store.SetPlatformSettingsAsync(new PlatformSupportSettings(), Ct);
        await Store.SetTenantOverrideAsync(Acme, new TenantSupportOverride { Mode = TenantOverrideMode.Enabled, Until = Clock.Now.AddDays(1), SetBy = "root", SetAt = Clock.Now }, Ct);

        var found = (string[])(await Inspect.ScriptEvaluateAsync("return redis.call('KEYS', ARGV[1])", values: [_prefix + "*"]))!;
        var keys = found.Select(k => k[_prefix.Length..]).Order(StringComparer.Ordinal).ToArray();

        Assert.Equal(
            new[] { $"active:acme:{grant.Id}", "actives:acme", $"grant:acme:{grant.Id}", "grants:acme", "override:acme", "platform" },
            keys);
        Assert.Null(await Inspect.KeyTimeToLiveAsync(_prefix + "platform"));
        foreach (var key in keys.Where(k => k != "platform"))
        {
            Assert.NotNull(await Inspect.KeyTimeToLiveAsync(_prefix + key));
        }

        await AssertExpiresAtAsync($"{_prefix}grant:acme:{grant.Id}", grant.ExpiresAt + new GrantsOptions().HistoryRetention);
    }

    [Fact]
    public async Task GetState_IsOneRoundTrip()
    {
        var store = (RedisGrantStore)Store;
        await Store.CreateGrantAsync(NewGrant(Acme, TimeSpan.FromHours(1)), Ct);
        await Store.GetStateAsync(Acme, Ct); // the script is known to the server from here on
        var connection = _connections[1];
        var before = connection.GetCounters().Interactive.OperationCount;

        var state = await store.GetStateAsync(Acme, Ct);

        Assert.Single(state.ActiveGrants);
        Assert.Equal(1, connection.GetCounters().Interactive.OperationCount - before);
    }

    private protected override async Task<IGrantStore> CreateStoreAsync(GrantsOptions options)
    {
        var connection = await redis.ConnectAsync();
        _connections.Add(connection);
        var store = new RedisGrantStore(
            connection,
            Options.Create(new RedisOptions { Configuration = redis.Server.ConnectionString, KeyPrefix = _prefix }),
            Options.Create(new GrantsOptions { HistoryRetention = options.HistoryRetention, StoreTimeout = SemanticsBudget }),
            TimeProvider.System,
            new TestOutputLogger<RedisGrantStore>(output));
        _stores.Add(store);
        await store.StartAsync(CancellationToken.None);
        await store.UntilInvalidationsAsync(connected: true, TimeSpan.FromSeconds(5));
        return store;
    }

    /// <summary>Another gateway instance: its own multiplexer, the same Redis and key prefix.</summary>
    private protected override Task<IGrantStore> CreatePeerAsync() => CreateStoreAsync(new GrantsOptions());

    private protected override Task AssertGrantExpiryEnforcedAsync(string tenant, GrantId id, DateTimeOffset expiresAt) =>
        AssertExpiresAtAsync($"{_prefix}active:{tenant}:{id}", expiresAt);

    private protected override async Task AssertGrantMarkerGoneAsync(string tenant, GrantId id)
    {
        Assert.False(await Inspect.KeyExistsAsync($"{_prefix}active:{tenant}:{id}"));
        Assert.True(await Inspect.KeyExistsAsync($"{_prefix}grant:{tenant}:{id}"));
    }

    private protected override Task AssertOverrideExpiryEnforcedAsync(string tenant, DateTimeOffset until) =>
        AssertExpiresAtAsync($"{_prefix}override:{tenant}", until);

    private protected override async Task AssertOverrideGoneAsync(string tenant) =>
        Assert.False(await Inspect.KeyExistsAsync($"{_prefix}override:{tenant}"));

    /// <summary>The key's real TTL on the server (PTTL) ends at <paramref name="at"/>, to within the time the query takes.</summary>
    private async Task AssertExpiresAtAsync(string key, DateTimeOffset at)
    {
        var before = Clock.Now;
        var ttl = await Inspect.KeyTimeToLiveAsync(key);
        var after = Clock.Now;
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, at - after - TimeSpan.FromMilliseconds(5), at - before + TimeSpan.FromMilliseconds(5));
    }

    private sealed class RealClock : ITestClock
    {
        public DateTimeOffset Now => TimeProvider.System.GetUtcNow();

        /// <summary>Waits for real time to pass: what is awaited is Redis expiring keys on its own clock.</summary>
        public Task PassAsync(TimeSpan duration) => Task.Delay(duration);
    }
}
