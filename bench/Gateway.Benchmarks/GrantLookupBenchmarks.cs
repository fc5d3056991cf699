using BenchmarkDotNet.Attributes;
using Gateway.Grants;
using Microsoft.Extensions.Options;

namespace Gateway.Benchmarks;

/// <summary>
/// <see cref="SupportAccessReader.GetAsync"/> with a warm cache: what every support request pays
/// in steady state to learn whether the tenant's support access is active and how isolated.
/// The store is the in-memory one; a warm cache never reaches it either way.
/// </summary>
[Config(typeof(GatewayBenchmarkConfig))]
public class GrantLookupBenchmarks
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    private SupportAccessReader _reader = null!;

    [GlobalSetup]
    public void Setup()
    {
        var time = new FrozenTime(Now);
        var options = Options.Create(new GrantsOptions());
        var store = new InMemoryGrantStore(time, options);
        store.CreateGrantAsync(
            new SupportGrant
            {
                Id = GrantId.New(),
                Tenant = "acme",
                CreatedBy = "john",
                CreatedAt = Now,
                ExpiresAt = Now.AddHours(24),
                DenyData = false,
                DenyConfig = true,
            },
            CancellationToken.None).GetAwaiter().GetResult();
        _reader = new SupportAccessReader(store, time, options);

        // Fill the cache; from here on every lookup is a hit.
        var warm = _reader.GetAsync("acme", CancellationToken.None).AsTask().GetAwaiter().GetResult();
        if (warm.Access is not { IsActive: true })
        {
            throw new InvalidOperationException("The benchmark's grant is not active.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _reader.Dispose();

    [Benchmark(Description = "SupportAccessReader.GetAsync (warm cache)")]
    public async ValueTask<bool> WarmLookup()
    {
        var result = await _reader.GetAsync("acme", CancellationToken.None);
        return result.Access is { IsActive: true, DenyConfig: true };
    }
}
