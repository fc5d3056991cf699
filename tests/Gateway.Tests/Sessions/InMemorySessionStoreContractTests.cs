using Gateway.Sessions;
using Gateway.Tests.Grants;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Sessions;

public sealed class InMemorySessionStoreContractTests : SessionStoreContract
{
    private readonly FakeTimeProvider _time = new(TestClock.Start);
    private InMemorySessionStore? _store;

    private protected override ITestClock Clock => new FakeClock(_time);

    private protected override Task<ISessionStore> CreateStoreAsync() => Task.FromResult<ISessionStore>(_store = new InMemorySessionStore(_time));

    /// <summary>The embedded store serves one gateway: its "other instance" is itself.</summary>
    private protected override Task<ISessionStore> CreatePeerAsync() => Task.FromResult<ISessionStore>(_store!);

    private sealed class FakeClock(FakeTimeProvider time) : ITestClock
    {
        public DateTimeOffset Now => time.GetUtcNow();

        public Task PassAsync(TimeSpan duration)
        {
            time.Advance(duration);
            return Task.CompletedTask;
        }
    }
}
