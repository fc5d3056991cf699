using Microsoft.Extensions.Time.Testing;
using Gateway.Grants;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Grants;

/// <summary>
/// The read path's cache over the real in-memory store, on a manual clock; how often the store
/// was asked is read from the gateway's meter (<c>gateway.grant_store.reads</c>, source=store).
/// </summary>
public sealed class SupportAccessReaderTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 3, 10, 9, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _clock = new(Start);
    private readonly GrantsOptions _options = new() { CacheSafetyTtl = TimeSpan.FromSeconds(5) };
    private readonly InMemoryGrantStore _store;
    private readonly SupportAccessReader _reader;
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly MetricCollector<long> _reads;

    public SupportAccessReaderTests()
    {
        var metrics = new Gateway.Telemetry.GatewayMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        _reads = new MetricCollector<long>(metrics.Meter, "gateway.grant_store.reads");
        _store = new InMemoryGrantStore(_clock, Options.Create(_options));
        _reader = new SupportAccessReader(_store, _clock, Options.Create(_options), metrics);
    }

    private long StoreReads => _reads.GetMeasurementSnapshot()
        .Where(m => (string?)m.Tags[Gateway.Telemetry.GatewayMetrics.GrantStoreSourceTag] == "store")
        .Sum(m => m.Value);

    public void Dispose()
    {
        _reads.Dispose();
        _reader.Dispose();
        _services.Dispose();
    }

    [Fact]
    public async Task RepeatedReads_AreServedFromTheCache()
    {
        await _store.CreateGrantAsync(Grant(TimeSpan.FromHours(1)), CancellationToken.None);

        var first = await _reader.GetAsync("acme", CancellationToken.None);
        for (var i = 0; i < 10; i++)
        {
            Assert.True((await _reader.GetAsync("acme", CancellationToken.None)).Access!.IsActive);
        }

        Assert.True(first.Access!.IsActive);
        Assert.Equal(1, StoreReads);
    }

    [Fact]
    public async Task Revocation_InvalidatesTheCachedAnswerAtOnce()
    {
        var grant = Grant(TimeSpan.FromHours(1));
        await _store.CreateGrantAsync(grant, CancellationToken.None);
        Assert.True((await _reader.GetAsync("acme", CancellationToken.None)).Access!.IsActive);

        await _store.RevokeGrantAsync("acme", grant.Id, "ann", Start, CancellationToken.None);

        var after = await _reader.GetAsync("acme", CancellationToken.None);
        Assert.False(after.Access!.IsActive);
        Assert.Equal(2, StoreReads);
    }

    [Fact]
    public async Task CachedAnswer_EndsExactlyAtTheGrantsExpiry_WithoutAnyMessage()
    {
        await _store.CreateGrantAsync(Grant(TimeSpan.FromSeconds(3)), CancellationToken.None);
        Assert.True((await _reader.GetAsync("acme", CancellationToken.None)).Access!.IsActive);

        _clock.Advance(TimeSpan.FromSeconds(2.999));
        Assert.True((await _reader.GetAsync("acme", CancellationToken.None)).Access!.IsActive);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False((await _reader.GetAsync("acme", CancellationToken.None)).Access!.IsActive);
    }

    [Fact]
    public async Task CachedAnswer_IsRefreshedAfterTheSafetyTtl()
    {
        await _reader.GetAsync("acme", CancellationToken.None);
        _clock.Advance(_options.CacheSafetyTtl - TimeSpan.FromMilliseconds(1));
        await _reader.GetAsync("acme", CancellationToken.None);
        Assert.Equal(1, StoreReads);

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        await _reader.GetAsync("acme", CancellationToken.None);
        Assert.Equal(2, StoreReads);
    }

    [Fact]
    public async Task PlatformChange_InvalidatesEveryTenant()
    {
        Assert.False((await _reader.GetAsync("acme", CancellationToken.None)).Access!.IsActive);
        Assert.False((await _reader.GetAsync("globex", CancellationToken.None)).Access!.IsActive);

        await _store.SetPlatformSettingsAsync(new PlatformSupportSettings { EnabledForAllTenants = true }, CancellationToken.None);

        Assert.True((await _reader.GetAsync("acme", CancellationToken.None)).Access!.IsActive);
        Assert.True((await _reader.GetAsync("globex", CancellationToken.None)).Access!.IsActive);
    }

    [Fact]
    public async Task Tenants_AreCachedSeparately()
    {
        await _store.CreateGrantAsync(Grant(TimeSpan.FromHours(1)), CancellationToken.None);

        Assert.True((await _reader.GetAsync("acme", CancellationToken.None)).Access!.IsActive);
        Assert.False((await _reader.GetAsync("globex", CancellationToken.None)).Access!.IsActive);
    }

    private SupportGrant Grant(TimeSpan lifetime) => new()
    {
        Id = GrantId.New(),
        Tenant = "acme",
        CreatedBy = "john",
        CreatedAt = _clock.GetUtcNow(),
        ExpiresAt = _clock.GetUtcNow() + lifetime,
        DenyData = true,
        DenyConfig = true,
    };
}
