using Gateway.Tests.Grants;
using Gateway.Tests.Infrastructure;
using Gateway.Webhooks;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Webhooks;

public sealed class InMemoryWebhookStoreContractTests : WebhookStoreContract
{
    private readonly FakeTimeProvider _time = new(TestClock.Start);
    private InMemoryWebhookStore? _store;

    private protected override ITestClock Clock => new FakeClock(_time);

    private protected override Task<IWebhookStore> CreateStoreAsync() => Task.FromResult<IWebhookStore>(_store = new InMemoryWebhookStore(_time));

    /// <summary>The embedded store serves one gateway: its "other instance" is itself.</summary>
    private protected override Task<IWebhookStore> CreatePeerAsync() => Task.FromResult<IWebhookStore>(_store!);

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
