namespace Gateway.Auditing;

/// <summary>
/// What the spool writer (<see cref="SpoolingAuditSink"/>) and the shipper
/// (<see cref="ElasticsearchShipper"/>) share about one spool directory: which segment is being
/// written and how far it is committed, the counters, and the signals between them.
/// </summary>
internal sealed class AuditSpoolState
{
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _activeSegment;
    private long _committedLength;

    private long _accepted;
    private long _dropped;
    private long _spooled;
    private long _shipped;
    private long _deadLettered;
    private long _queued;
    private long _spoolBytes;
    private long _bulkRequests;
    private long _bulkFailures;
    private volatile bool _writerHealthy = true;
    private volatile string? _writerError;
    private volatile ShipError? _shipError;
    private long _lastDropTicks = long.MinValue;
    private long _lastDeadLetterTicks = long.MinValue;

    /// <summary>Pulsed when the writer has committed more records (the shipper waits on it) or its health changed.</summary>
    public AsyncPulse Written { get; } = new();

    /// <summary>Pulsed when the shipper has delivered, dead-lettered or checkpointed something.</summary>
    public AsyncPulse Shipping { get; } = new();

    /// <summary>Completes once the writer has recovered the spool and opened its segment.</summary>
    public Task Ready => _ready.Task;

    /// <summary>When committed records were committed: the shipping-lag metric reads it (docs/telemetry.md).</summary>
    public Telemetry.SpoolCommitMarks CommitMarks { get; } = new();

    public long Accepted => Volatile.Read(ref _accepted);

    public long Dropped => Volatile.Read(ref _dropped);

    public long Spooled => Volatile.Read(ref _spooled);

    public long Shipped => Volatile.Read(ref _shipped);

    public long DeadLettered => Volatile.Read(ref _deadLettered);

    /// <summary>Events taken but not yet on disk, reservations included.</summary>
    public long QueueLength => Volatile.Read(ref _queued);

    /// <summary>Bytes in segment files (shipped segments are deleted).</summary>
    public long SpoolBytes => Volatile.Read(ref _spoolBytes);

    /// <summary><c>_bulk</c> requests sent, successful or not.</summary>
    public long BulkRequests => Volatile.Read(ref _bulkRequests);

    /// <summary><c>_bulk</c> attempts that failed as a whole or left items to retry.</summary>
    public long BulkFailures => Volatile.Read(ref _bulkFailures);

    public bool IsWriterHealthy => _writerHealthy;

    /// <summary>The longest a spool write (one burst) has taken, in milliseconds, since start.</summary>
    public long WriteMaxMs => Volatile.Read(ref _writeMaxMs);

    /// <summary>The longest an fsync of the spool has taken, in milliseconds, since start.</summary>
    public long FsyncMaxMs => Volatile.Read(ref _fsyncMaxMs);

    private long _writeMaxMs;
    private long _fsyncMaxMs;

    /// <summary>Keeps the longest write and fsync: a stalled disk shows up before the queue overflows.</summary>
    internal void RecordWrite(TimeSpan took, bool fsync)
    {
        ref var max = ref fsync ? ref _fsyncMaxMs : ref _writeMaxMs;
        var ms = (long)took.TotalMilliseconds;
        var current = Volatile.Read(ref max);
        while (ms > current)
        {
            var seen = Interlocked.CompareExchange(ref max, ms, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    public string? WriterError => _writerError;

    // --- write-ahead and hash chain -----------------------------------------------------------

    private readonly Dictionary<long, int> _pinned = [];
    private long _writeAheadRecords;
    private long _writeAheadSyncs;
    private long _writeAheadRefused;
    private long _writeAheadWaitMaxMs;
    private long _lastWriteAheadRefusedTicks = long.MinValue;
    private long _chainSeq;
    private long _lastDigestSeq;
    private volatile string? _instanceId;

    /// <summary>Write-ahead records confirmed on disk (each after an fsync).</summary>
    public long WriteAheadRecords => Volatile.Read(ref _writeAheadRecords);

    /// <summary>fsyncs done to confirm write-ahead records: group commit makes it far fewer than the records under load.</summary>
    public long WriteAheadSyncs => Volatile.Read(ref _writeAheadSyncs);

    /// <summary>Support requests refused because their write-ahead record could not be made durable in time.</summary>
    public long WriteAheadRefused => Volatile.Read(ref _writeAheadRefused);

    /// <summary>The longest a request waited for its write-ahead record, in milliseconds, since start.</summary>
    public long WriteAheadWaitMaxMs => Volatile.Read(ref _writeAheadWaitMaxMs);

    public DateTimeOffset? LastWriteAheadRefusedAt => Ticks(Interlocked.Read(ref _lastWriteAheadRefusedTicks));

    /// <summary>This instance's id in the hash chain (once the spool is open).</summary>
    public string? InstanceId => _instanceId;

    /// <summary>The sequence number of the last event on disk.</summary>
    public long ChainSeq => Volatile.Read(ref _chainSeq);

    /// <summary>The sequence number of the last digest on disk (0: none yet).</summary>
    public long LastDigestSeq => Volatile.Read(ref _lastDigestSeq);

    internal void SetInstance(string instanceId) => _instanceId = instanceId;

    internal void ChainCommitted(long seq, long lastDigestSeq)
    {
        Volatile.Write(ref _chainSeq, seq);
        Volatile.Write(ref _lastDigestSeq, lastDigestSeq);
    }

    internal void CountWriteAheadSync(int records)
    {
        Interlocked.Add(ref _writeAheadRecords, records);
        Interlocked.Increment(ref _writeAheadSyncs);
    }

    internal void CountWriteAheadRefused(DateTimeOffset now)
    {
        Interlocked.Exchange(ref _lastWriteAheadRefusedTicks, now.UtcTicks);
        Interlocked.Increment(ref _writeAheadRefused);
    }

    internal void RecordWriteAheadWait(TimeSpan took) => Max(ref _writeAheadWaitMaxMs, (long)took.TotalMilliseconds);

    /// <summary>
    /// Keeps a segment from deletion while it holds the write-ahead record of a call not yet
    /// completed (the shipper skips it), so recovery can still read the record after a crash.
    /// </summary>
    internal void Pin(long segment)
    {
        lock (_pinned)
        {
            _pinned[segment] = _pinned.GetValueOrDefault(segment) + 1;
        }
    }

    internal void Unpin(long segment)
    {
        lock (_pinned)
        {
            if (_pinned.TryGetValue(segment, out var count))
            {
                if (count <= 1)
                {
                    _pinned.Remove(segment);
                }
                else
                {
                    _pinned[segment] = count - 1;
                }
            }
        }
    }

    public bool IsPinned(long segment)
    {
        lock (_pinned)
        {
            return _pinned.ContainsKey(segment);
        }
    }

    private static void Max(ref long max, long value)
    {
        var current = Volatile.Read(ref max);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref max, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>The last shipping failure, while shipping has not succeeded since.</summary>
    public ShipError? LastShipError => _shipError;

    public DateTimeOffset? LastDropAt => Ticks(Interlocked.Read(ref _lastDropTicks));

    public DateTimeOffset? LastDeadLetterAt => Ticks(Interlocked.Read(ref _lastDeadLetterTicks));

    /// <summary>The segment being written and the length of it readers may read.</summary>
    public (long Segment, long Length) Committed
    {
        get
        {
            lock (_gate)
            {
                return (_activeSegment, _committedLength);
            }
        }
    }

    internal void MarkReady(long activeSegment, long spoolBytes)
    {
        lock (_gate)
        {
            _activeSegment = activeSegment;
            _committedLength = 0;
        }

        Volatile.Write(ref _spoolBytes, spoolBytes);
        // What the spool held before this start counts as committed now (its real age is unknown).
        CommitMarks.Committed(activeSegment, 0, System.Diagnostics.Stopwatch.GetTimestamp());
        _ready.TrySetResult();
        Written.Pulse();
    }

    internal void Commit(long segment, long length, int records, long bytesAdded)
    {
        lock (_gate)
        {
            _activeSegment = segment;
            _committedLength = length;
        }

        Interlocked.Add(ref _spooled, records);
        Interlocked.Add(ref _spoolBytes, bytesAdded);
        CommitMarks.Committed(segment, length, System.Diagnostics.Stopwatch.GetTimestamp());
        Written.Pulse();
    }

    internal bool TryTakeSlot(long capacity)
    {
        if (Interlocked.Increment(ref _queued) <= capacity)
        {
            return true;
        }

        Interlocked.Decrement(ref _queued);
        return false;
    }

    /// <summary>A slot past the capacity: for the events of actions that reduce access, never refused.</summary>
    internal void TakeSlotUnbounded() => Interlocked.Increment(ref _queued);

    internal void ReleaseSlots(int count) => Interlocked.Add(ref _queued, -count);

    internal void CountAccepted() => Interlocked.Increment(ref _accepted);

    internal long CountDropped(DateTimeOffset now, int count = 1)
    {
        Interlocked.Exchange(ref _lastDropTicks, now.UtcTicks);
        return Interlocked.Add(ref _dropped, count);
    }

    internal void CountShipped(int count)
    {
        Interlocked.Add(ref _shipped, count);
    }

    internal void CountDeadLettered(DateTimeOffset now, int count)
    {
        Interlocked.Exchange(ref _lastDeadLetterTicks, now.UtcTicks);
        Interlocked.Add(ref _deadLettered, count);
    }

    internal void CountBulkRequest(bool failed)
    {
        Interlocked.Increment(ref _bulkRequests);
        if (failed)
        {
            Interlocked.Increment(ref _bulkFailures);
        }
    }

    internal void SegmentDeleted(long bytes) => Interlocked.Add(ref _spoolBytes, -bytes);

    internal void SetWriterHealthy()
    {
        (_writerHealthy, _writerError) = (true, null);
        Written.Pulse();
    }

    internal void SetWriterUnhealthy(string error)
    {
        (_writerError, _writerHealthy) = (error, false);
        Written.Pulse();
    }

    internal void SetShipError(string message, DateTimeOffset at) => _shipError = new ShipError(message, _shipError?.Since ?? at, at);

    internal void ClearShipError() => _shipError = null;

    private static DateTimeOffset? Ticks(long ticks) => ticks == long.MinValue ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
}

/// <summary>A shipping failure: what, since when shipping has been failing, and when it last failed.</summary>
internal sealed record ShipError(string Message, DateTimeOffset Since, DateTimeOffset At);

/// <summary>
/// A reusable "something changed" signal: take <see cref="WhenPulsed"/>, re-check the
/// condition, then await the task; <see cref="Pulse"/> completes it and arms the next one.
/// </summary>
internal sealed class AsyncPulse
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task WhenPulsed => Volatile.Read(ref _next).Task;

    public void Pulse() =>
        Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Waits until <paramref name="condition"/> holds, re-checking it after each pulse; false on timeout.</summary>
    public async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken = default)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        while (true)
        {
            var pulsed = WhenPulsed;
            if (condition())
            {
                return true;
            }

            try
            {
                await pulsed.WaitAsync(linked.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return condition();
            }
        }
    }
}
