using Microsoft.Extensions.Time.Testing;
using Gateway.Grants;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Grants;

/// <summary>The read path's cache over the real in-memory store, on a manual clock.</summary>
public sealed class SupportAccessReaderTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 10, 9, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _clock = new(Start);
    private readonly GrantsOptions _options = new() { CacheSafetyTtl = TimeSpan.FromSeconds(5) };
    private readonly InMemoryGrantStore _store;
    private readonly SupportAccessReader _reader;

    public SupportAccessReaderTests()
    {
        _store = new InMemoryGrantStore(_clock, Options.Create(_options));
        _reader = new SupportAccessReader(_store, _clock, Options.Create(_options));
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
        Assert.Equal(1, _reader.StoreReads);
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
        Assert.Equal(2, _reader.StoreReads);
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
        Assert.Equal(1, _reader.StoreReads);

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        await _reader.GetAsync("acme", CancellationToken.None);
        Assert.Equal(2, _reader.StoreReads);
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
