using Microsoft.Extensions.Time.Testing;
using Gateway.Grants;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Grants;

/// <summary>The grant store contract against the embedded store, on a manual clock (time passes instantly).</summary>
public sealed class InMemoryGrantStoreContractTests : GrantStoreContract
{
    private readonly FakeTimeProvider _time = new(TestClock.Start);
    private InMemoryGrantStore? _latest;

    private protected override ITestClock Clock => new ManualClock(_time);

    private protected override Task<IGrantStore> CreateStoreAsync(GrantsOptions options)
    {
        _latest = new InMemoryGrantStore(_time, Options.Create(options));
        return Task.FromResult<IGrantStore>(_latest);
    }

    /// <summary>The embedded store serves one gateway: its "other instance" is itself.</summary>
    private protected override Task<IGrantStore> CreatePeerAsync() =>
        Task.FromResult<IGrantStore>(_latest ?? throw new InvalidOperationException("No store yet."));

    private sealed class ManualClock(FakeTimeProvider time) : ITestClock
    {
        public DateTimeOffset Now => time.GetUtcNow();

        public Task PassAsync(TimeSpan duration)
        {
            time.Advance(duration);
            return Task.CompletedTask;
        }
    }
}
