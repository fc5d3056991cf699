namespace Gateway.Tests.Infrastructure;

internal static class TestClock
{
    /// <summary>Where the tests' fake clocks start (a fixed, ordinary working-day morning).</summary>
    public static readonly DateTimeOffset Start = new(2026, 3, 10, 9, 0, 0, TimeSpan.Zero);
}
