using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Gateway.Grants;

/// <summary>The read path's answer: the tenant's access, or "the store cannot say" (fail closed).</summary>
internal readonly record struct SupportAccessResult(SupportAccess? Access)
{
    public bool IsUnavailable => Access is null;
}

/// <summary>
/// "Is support active for tenant T, and with which isolation?" for the request pipeline,
/// answered from a per-tenant cache. An entry is used only while the store hears other
/// instances' changes (pub/sub connected), until the earlier of its safety TTL and the next
/// expiry it contains, and never after an invalidation for its tenant. A store that cannot
/// answer gives <see cref="SupportAccessResult.IsUnavailable"/>, never a guess.
/// </summary>
internal sealed class SupportAccessReader : IDisposable
{
    private readonly IGrantStore _store;
    private readonly TimeProvider _time;
    private readonly GrantsOptions _options;
    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.Ordinal);
    private readonly Telemetry.GatewayMetrics _metrics;

    // Bumped by every invalidation: a fetch that raced with one is not cached.
    private long _epoch;

    public SupportAccessReader(IGrantStore store, TimeProvider time, IOptions<GrantsOptions> options, Telemetry.GatewayMetrics metrics)
    {
        _metrics = metrics;
        _store = store;
        _time = time;
        _options = options.Value;
        _store.Invalidated += OnInvalidated;
    }

    public async ValueTask<SupportAccessResult> GetAsync(string tenant, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (_store.InvalidationsConnected && _cache.TryGetValue(tenant, out var cached) && cached.ValidUntil > now)
        {
            _metrics.GrantStoreRead(fromCache: true);
            return new SupportAccessResult(cached.Access);
        }

        _metrics.GrantStoreRead(fromCache: false);

        var epoch = Interlocked.Read(ref _epoch);
        TenantSupportState state;
        try
        {
            state = await _store.GetStateAsync(tenant, cancellationToken);
        }
        catch (GrantStoreUnavailableException)
        {
            return new SupportAccessResult(null);
        }

        now = _time.GetUtcNow();
        var access = SupportAccess.Evaluate(state, now);
        var validUntil = now + _options.CacheSafetyTtl;
        if (SupportAccess.NextChange(state, now) is { } change && change < validUntil)
        {
            validUntil = change;
        }

        if (_store.InvalidationsConnected && Interlocked.Read(ref _epoch) == epoch)
        {
            _cache[tenant] = new Entry(access, validUntil);
        }

        return new SupportAccessResult(access);
    }

    public void Dispose() => _store.Invalidated -= OnInvalidated;

    private void OnInvalidated(string tenant)
    {
        Interlocked.Increment(ref _epoch);
        if (tenant == IGrantStore.AllTenants)
        {
            _cache.Clear();
        }
        else
        {
            _cache.TryRemove(tenant, out _);
        }
    }

    private sealed record Entry(SupportAccess Access, DateTimeOffset ValidUntil);
}
