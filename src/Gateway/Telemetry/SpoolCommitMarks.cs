using System.Diagnostics;
using Gateway.Auditing;

namespace Gateway.Telemetry;

/// <summary>
/// When the audit spool's records were committed, coarsely, so the shipping lag can be told
/// without reading the spool: the lag is the age of the oldest commit the shipper has not
/// passed yet (0 when it has passed them all). The spool writer adds a mark per commit (a burst
/// of records, not per event); marks within <see cref="Resolution"/> of the last one extend it,
/// and past <see cref="MaxMarks"/> (a long outage) every commit extends the last mark, so memory
/// stays bounded and the oldest marks, the ones the lag is read from, stay exact.
/// </summary>
internal sealed class SpoolCommitMarks
{
    /// <summary>At most this many marks are held (with <see cref="Resolution"/>, over 6 minutes of backlog at full detail).</summary>
    internal const int MaxMarks = 4096;

    /// <summary>Commits closer together than this share a mark (the lag is exact to about this).</summary>
    internal static readonly TimeSpan Resolution = TimeSpan.FromMilliseconds(100);

    private static readonly long ResolutionTicks = (long)(Resolution.TotalSeconds * Stopwatch.Frequency);

    private readonly Lock _lock = new();
    private readonly Queue<Mark> _marks = new();
    private Mark? _last;

    /// <summary>Records up to (<paramref name="segment"/>, <paramref name="length"/>) are committed, at <paramref name="timestamp"/> (<see cref="Stopwatch"/>).</summary>
    public void Committed(long segment, long length, long timestamp)
    {
        lock (_lock)
        {
            var end = new SpoolCheckpoint(segment, length);
            if (_last is not null && _marks.Count > 0 && (timestamp - _last.Timestamp < ResolutionTicks || _marks.Count >= MaxMarks))
            {
                // Queue<T> cannot change its tail in place: the last mark is kept beside it.
                _last.End = end;
                return;
            }

            _last = new Mark(end, timestamp);
            _marks.Enqueue(_last);
        }
    }

    /// <summary>The age of the oldest commit past <paramref name="shipped"/> at <paramref name="now"/>; zero when none is left.</summary>
    public TimeSpan Lag(SpoolCheckpoint shipped, long now)
    {
        lock (_lock)
        {
            while (_marks.TryPeek(out var oldest) && oldest.End.CompareTo(shipped) <= 0)
            {
                _marks.Dequeue();
            }

            return _marks.TryPeek(out var first) ? Stopwatch.GetElapsedTime(first.Timestamp, now) : TimeSpan.Zero;
        }
    }

    /// <summary>A class, so the queue's tail and <see cref="_last"/> are the same mark.</summary>
    private sealed class Mark(SpoolCheckpoint end, long timestamp)
    {
        public SpoolCheckpoint End { get; set; } = end;

        public long Timestamp { get; } = timestamp;
    }
}
