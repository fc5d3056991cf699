using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The real wall clock, with timers that fire only when the test advances them: for a gateway on a
/// real Redis (whose TTLs and write deadlines follow the real clock) whose background loops
/// (e.g. the session flush) must not run unless the test says so.
/// </summary>
internal sealed class ManualTimersTimeProvider() : FakeTimeProvider(DateTimeOffset.UtcNow)
{
    public override DateTimeOffset GetUtcNow() => System.GetUtcNow();
}
