namespace Gateway.Hosting;

/// <summary>
/// For log lines anyone on the network can cause (failed logins, refused requests): at most one
/// line per <see cref="Interval"/>, which says how many were left out since the last one, so a
/// flood cannot rotate the operational logs away. Lock-free; one instance per log line.
/// </summary>
internal sealed class LogRateLimit(TimeProvider time)
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private long _nextTicks = long.MinValue;
    private long _suppressed;

    /// <summary>True when this occurrence should be logged; <paramref name="suppressed"/> is how many were not, since the last logged one.</summary>
    public bool ShouldLog(out long suppressed)
    {
        var now = time.GetUtcNow().UtcTicks;
        var next = Interlocked.Read(ref _nextTicks);
        if (now >= next && Interlocked.CompareExchange(ref _nextTicks, now + Interval.Ticks, next) == next)
        {
            suppressed = Interlocked.Exchange(ref _suppressed, 0);
            return true;
        }

        Interlocked.Increment(ref _suppressed);
        suppressed = 0;
        return false;
    }
}
