using System.Buffers;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Gateway.Auditing;

/// <summary>
/// The gateway's audit sink: a bounded in-memory queue in front of a durable, append-only spool
/// on local disk (docs/audit.md). The request path only ever touches the queue
/// (<see cref="TryWrite"/>, <see cref="TryReserve"/>: non-blocking, never throwing); one writer
/// task frames events into spool segments and syncs them per <see cref="AuditOptions.FsyncPolicy"/>.
/// Shipping to Elasticsearch is <see cref="ElasticsearchShipper"/>'s job.
/// </summary>
internal sealed partial class SpoolingAuditSink : BackgroundService, IAuditSink
{
    /// <summary>A burst (one positioned write, then maybe an fsync) is cut at this many records or bytes.</summary>
    private const int BurstMaxRecords = 4096;
    private const int BurstMaxBytes = 1024 * 1024;
    private static readonly TimeSpan DropWarningInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan SlowWriteWarning = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(10);

    private readonly AuditOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SpoolingAuditSink> _logger;
    private readonly Channel<AuditEvent> _queue = Channel.CreateUnbounded<AuditEvent>(new UnboundedChannelOptions
    {
        SingleReader = true,
        SingleWriter = false,
        AllowSynchronousContinuations = false,
    });

    private readonly CancellationTokenSource _abort = new();
    private readonly ArrayBufferWriter<byte> _payload = new(2048);
    private readonly Utf8JsonWriter _json;
    private volatile bool _accepting = true;
    private volatile bool _closed;
    private long _lastDropWarningTicks = long.MinValue;
    private FileStream? _lock;
    private SpoolWriter? _writer;
    private bool _carry;
    private bool _rollNeeded;
    private long _lastSyncTimestamp;

    public SpoolingAuditSink(IOptions<AuditOptions> options, AuditSpoolState state, TimeProvider time, ILogger<SpoolingAuditSink> logger)
    {
        _options = options.Value;
        State = state;
        _time = time;
        _logger = logger;
        Directory = Path.GetFullPath(_options.SpoolDirectory);
        _json = EcsAuditSerializer.CreateWriter(_payload);
    }

    /// <summary>The spool directory, absolute.</summary>
    public string Directory { get; }

    public AuditSpoolState State { get; }

    public long Accepted => State.Accepted;

    public long Dropped => State.Dropped;

    public long Spooled => State.Spooled;

    public long Shipped => State.Shipped;

    public long DeadLettered => State.DeadLettered;

    public long QueueLength => State.QueueLength;

    public long SpoolBytes => State.SpoolBytes;

    public ShipError? LastShipError => State.LastShipError;

    public bool IsWriterHealthy => State.IsWriterHealthy;

    public bool TryWrite(AuditEvent auditEvent, AuditRoom room)
    {
        try
        {
            var (spoolCap, queueCap) = Caps(room);
            if (auditEvent is null || !_accepting || _closed || State.SpoolBytes >= spoolCap || !State.TryTakeSlot(queueCap))
            {
                Drop();
                return false;
            }

            Enqueue(auditEvent);
            return true;
        }
        catch (Exception ex)
        {
            // Never throw into the request path; but never lose an event without counting it.
            LogUnexpected(_logger, ex);
            Drop();
            return false;
        }
    }

    public IAuditReservation? TryReserve()
    {
        var (spoolCap, queueCap) = Caps(AuditRoom.Security);
        if (!_accepting || _closed || !State.IsWriterHealthy || State.SpoolBytes >= spoolCap || !State.TryTakeSlot(queueCap))
        {
            return null;
        }

        return new Reservation(this, forced: false);
    }

    public IAuditReservation ReserveAccessReduction()
    {
        State.TakeSlotUnbounded();
        return new Reservation(this, forced: true);
    }

    public bool AcceptsSupportEvents =>
        _accepting && !_closed && State.IsWriterHealthy && State.SpoolBytes < _options.SpoolMaxBytes;

    /// <summary>The spool bytes and queue slots an event of <paramref name="room"/> may fill up to.</summary>
    private (long Spool, long Queue) Caps(AuditRoom room) => room == AuditRoom.Security
        ? (_options.SpoolMaxBytes, _options.QueueCapacity)
        : (_options.SpoolMaxBytes - _options.EffectiveSecurityReserveBytes, _options.QueueCapacity - AuditOptions.QueueSecurityReserve(_options.QueueCapacity));

    /// <summary>Stops taking events, writes what the queue holds (and what open reservations bring) to the spool, syncs and closes.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _accepting = false;
        // Past the host's shutdown timeout the writer gives up and counts what it could not write.
        await using var giveUp = cancellationToken.Register(_abort.Cancel);
        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _accepting = false;
        _abort.Cancel();
        base.Dispose();
        if (ExecuteTask is null || ExecuteTask.IsCompleted)
        {
            // Otherwise the writer task, aborted above, closes the segment on its way out.
            CloseWriter();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunAsync(stoppingToken);
        }
        catch (Exception ex)
        {
            // A dead writer must show in health and refuse support calls, not stop the gateway.
            State.SetWriterUnhealthy($"writer stopped: {ex.Message}");
            LogWriterCrashed(_logger, ex);
        }
        finally
        {
            _closed = true;
            CloseWriter();
            var lost = CountLeftovers();
            if (lost > 0)
            {
                LogLostAtShutdown(_logger, lost);
            }
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        await OpenSpoolAsync(stopping);
        if (_writer is null)
        {
            return;
        }

        while (true)
        {
            FillBurst();
            if (_writer.BufferedRecords > 0 || _rollNeeded)
            {
                if (!await CommitAsync(stopping))
                {
                    return;
                }

                continue;
            }

            if (stopping.IsCancellationRequested && State.QueueLength == 0)
            {
                SyncOnStop();
                return;
            }

            if (!await WaitForEventsAsync(stopping))
            {
                return;
            }
        }
    }

    /// <summary>Moves queued events into the writer's buffer, up to a burst, or until the segment is full.</summary>
    private void FillBurst()
    {
        var reader = _queue.Reader;
        while (_writer!.BufferedRecords < BurstMaxRecords && _writer.BufferedBytes < BurstMaxBytes)
        {
            if (!_carry)
            {
                if (!reader.TryRead(out var auditEvent))
                {
                    return;
                }

                if (!Serialize(auditEvent))
                {
                    continue;
                }

                _carry = true;
            }

            if (_writer.IsFullFor(_payload.WrittenCount, _options.SegmentMaxBytes))
            {
                // The serialized event waits in _payload until the next segment is open.
                _rollNeeded = true;
                return;
            }

            _writer.Add(_payload.WrittenSpan);
            _carry = false;
        }
    }

    /// <summary>Waits for events, the next interval fsync, or a stop request. False when giving up.</summary>
    private async Task<bool> WaitForEventsAsync(CancellationToken stopping)
    {
        // Stopping: keep waiting for open reservations until the host's shutdown timeout.
        var token = stopping.IsCancellationRequested ? _abort.Token : stopping;
        TimeSpan? syncDue = null;
        if (_options.FsyncPolicy == AuditFsyncPolicy.Interval && _writer!.UnsyncedBytes > 0)
        {
            var due = _options.FsyncInterval - _time.GetElapsedTime(_lastSyncTimestamp);
            if (due <= TimeSpan.Zero)
            {
                TrySync();
                return true;
            }

            syncDue = due;
        }

        using var timer = syncDue is { } delay ? new CancellationTokenSource(delay, _time) : null;
        using var linked = timer is null ? null : CancellationTokenSource.CreateLinkedTokenSource(token, timer.Token);
        try
        {
            await _queue.Reader.WaitToReadAsync(linked?.Token ?? token);
        }
        catch (OperationCanceledException)
        {
            if (_abort.IsCancellationRequested)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Serializes into <see cref="_payload"/>; false (counted as dropped) if the event cannot be a spool record.</summary>
    private bool Serialize(AuditEvent auditEvent)
    {
        _payload.ResetWrittenCount();
        try
        {
            _json.Reset(_payload);
            EcsAuditSerializer.Write(_json, auditEvent);
        }
        catch (Exception ex)
        {
            State.ReleaseSlots(1);
            LogUnserializable(_logger, ex, auditEvent.Id);
            Drop();
            return false;
        }

        if (_payload.WrittenCount > SpoolFormat.MaxPayloadBytes)
        {
            State.ReleaseSlots(1);
            LogTooLarge(_logger, auditEvent.Id, _payload.WrittenCount, SpoolFormat.MaxPayloadBytes);
            Drop();
            return false;
        }

        return true;
    }

    /// <summary>
    /// Hands the burst to the OS (and fsyncs per policy), then opens the next segment if one is
    /// due. A failing disk is retried (the same bytes at the same offset) until it works or the
    /// host's shutdown timeout passes.
    /// </summary>
    private async Task<bool> CommitAsync(CancellationToken stopping)
    {
        var failures = 0;
        while (true)
        {
            try
            {
                var started = TimeProvider.System.GetTimestamp();
                var (records, bytes) = _writer!.WriteBuffered();
                if (records > 0)
                {
                    RecordStall(started, fsync: false);
                    if (_options.FsyncPolicy == AuditFsyncPolicy.Always
                        || (_options.FsyncPolicy == AuditFsyncPolicy.Interval && _time.GetElapsedTime(_lastSyncTimestamp) >= _options.FsyncInterval))
                    {
                        started = TimeProvider.System.GetTimestamp();
                        Sync();
                        RecordStall(started, fsync: true);
                    }

                    State.Commit(_writer.Segment, _writer.Length, records, bytes);
                    State.ReleaseSlots(records);
                }

                if (_rollNeeded)
                {
                    Roll();
                    _rollNeeded = false;
                }

                if (!State.IsWriterHealthy)
                {
                    State.SetWriterHealthy();
                    LogWriterRecovered(_logger, Directory);
                }

                return true;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                failures++;
                State.SetWriterUnhealthy($"cannot write the spool: {ex.Message}");
                if (failures == 1)
                {
                    LogWriteFailed(_logger, ex, Directory);
                }

                try
                {
                    await Task.Delay(Backoff(failures), _time, stopping.IsCancellationRequested ? _abort.Token : stopping);
                }
                catch (OperationCanceledException) when (!_abort.IsCancellationRequested)
                {
                    // Stop requested: one more try at once, then wait on the shutdown deadline.
                }
                catch (OperationCanceledException)
                {
                    var lost = _writer!.BufferedRecords + (_carry ? 1 : 0);
                    State.ReleaseSlots(lost);
                    State.CountDropped(_time.GetUtcNow(), lost);
                    LogLostAtShutdown(_logger, lost);
                    return false;
                }
            }
        }
    }

    /// <summary>Closes the full segment (synced, unless the policy is never) and opens the next one.</summary>
    private void Roll()
    {
        var old = _writer!;
        if (_options.FsyncPolicy != AuditFsyncPolicy.Never)
        {
            // A closed segment is synced once, so only the active one can hold unsynced data.
            Sync();
        }

        var number = old.Segment + 1;
        while (File.Exists(SpoolFormat.SegmentPath(Directory, number)))
        {
            number++;
        }

        _writer = SpoolWriter.Create(Directory, number);
        old.Dispose();
        State.SegmentRolled(_writer.Segment);
        LogRolled(_logger, old.Segment, old.Length, _writer.Segment);
    }

    /// <summary>
    /// Keeps the longest write and fsync (real time: the disk's, not the gateway's clock) and
    /// warns when one held the writer long enough to fill a busy queue.
    /// </summary>
    private void RecordStall(long started, bool fsync)
    {
        var took = TimeProvider.System.GetElapsedTime(started);
        State.RecordWrite(took, fsync);
        if (took >= SlowWriteWarning)
        {
            LogSlowWrite(_logger, fsync ? "fsync" : "write", (long)took.TotalMilliseconds, Directory);
        }
    }

    private void Sync()
    {
        _writer!.Sync();
        _lastSyncTimestamp = _time.GetTimestamp();
    }

    private void TrySync()
    {
        try
        {
            Sync();
        }
        catch (IOException ex)
        {
            // Try again an interval later, not in a tight loop.
            _lastSyncTimestamp = _time.GetTimestamp();
            State.SetWriterUnhealthy($"cannot sync the spool: {ex.Message}");
            LogWriteFailed(_logger, ex, Directory);
        }
    }

    private void SyncOnStop() => TrySync();

    /// <summary>Recovers the spool left by an earlier run and opens a fresh segment, retrying while the disk refuses.</summary>
    private async Task OpenSpoolAsync(CancellationToken stopping)
    {
        var failures = 0;
        while (true)
        {
            try
            {
                OpenSpool();
                if (!State.IsWriterHealthy)
                {
                    State.SetWriterHealthy();
                    LogWriterRecovered(_logger, Directory);
                }

                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _lock?.Dispose();
                _lock = null;
                failures++;
                State.SetWriterUnhealthy($"cannot open the spool: {ex.Message}");
                if (failures == 1)
                {
                    LogOpenFailed(_logger, ex, Directory);
                }

                try
                {
                    await Task.Delay(Backoff(failures), _time, stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void OpenSpool()
    {
        System.IO.Directory.CreateDirectory(Directory);
        try
        {
            // One writer per directory: two instances appending to one spool would corrupt it.
            _lock = new FileStream(Path.Combine(Directory, SpoolFormat.LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new IOException($"the spool directory {Directory} is in use by another gateway process ({ex.Message})", ex);
        }

        var checkpoint = SpoolCheckpoint.Load(Directory, out var problem);
        if (problem is not null)
        {
            LogBadCheckpoint(_logger, Directory, problem);
        }

        var segments = SpoolFormat.ListSegments(Directory);
        if (checkpoint is { } shipped)
        {
            // Segments before the checkpoint's were shipped; a crash came between checkpoint and delete.
            foreach (var segment in segments.Where(s => s < shipped.Segment).ToList())
            {
                File.Delete(SpoolFormat.SegmentPath(Directory, segment));
                segments.Remove(segment);
            }
        }

        if (segments.Count > 0)
        {
            var last = segments[^1];
            var from = checkpoint is { } c && c.Segment == last ? c.Offset : 0;
            var (truncated, corrupt) = SpoolWriter.RecoverTail(Directory, last, from);
            if (truncated > 0)
            {
                LogTornTail(_logger, SpoolFormat.SegmentFileName(last), truncated);
            }

            if (corrupt > 0)
            {
                LogCorruptLeft(_logger, SpoolFormat.SegmentFileName(last), corrupt);
            }
        }

        var bytes = segments.Sum(s => new FileInfo(SpoolFormat.SegmentPath(Directory, s)).Length);
        var next = Math.Max(segments.Count > 0 ? segments[^1] : 0, checkpoint?.Segment ?? 0) + 1;
        _writer = SpoolWriter.Create(Directory, next);
        _lastSyncTimestamp = _time.GetTimestamp();
        State.MarkReady(next, bytes);
        LogOpened(_logger, Directory, segments.Count, bytes, next);
    }

    private void CloseWriter()
    {
        var writer = Interlocked.Exchange(ref _writer, null);
        if (writer is not null)
        {
            try
            {
                writer.Sync();
                var empty = writer.Length == 0 && writer.BufferedBytes == 0;
                writer.Dispose();
                if (empty)
                {
                    File.Delete(SpoolFormat.SegmentPath(Directory, writer.Segment));
                }
            }
            catch (IOException ex)
            {
                LogWriteFailed(_logger, ex, Directory);
                writer.Dispose();
            }
        }

        Interlocked.Exchange(ref _lock, null)?.Dispose();
    }

    private void Enqueue(AuditEvent auditEvent)
    {
        _queue.Writer.TryWrite(auditEvent);
        State.CountAccepted();
        if (_closed)
        {
            // The writer has gone (shutdown past its deadline): whatever is left is lost, and counted.
            var lost = CountLeftovers();
            if (lost > 0)
            {
                LogLostAtShutdown(_logger, lost);
            }
        }
    }

    private int CountLeftovers()
    {
        var lost = 0;
        while (_queue.Reader.TryRead(out _))
        {
            lost++;
        }

        if (lost > 0)
        {
            State.ReleaseSlots(lost);
            State.CountDropped(_time.GetUtcNow(), lost);
        }

        return lost;
    }

    private void Drop()
    {
        var now = _time.GetUtcNow();
        var total = State.CountDropped(now);
        var last = Interlocked.Read(ref _lastDropWarningTicks);
        if ((last == long.MinValue || now.UtcTicks - last >= DropWarningInterval.Ticks)
            && Interlocked.CompareExchange(ref _lastDropWarningTicks, now.UtcTicks, last) == last)
        {
            LogDropping(_logger, total, State.QueueLength, _options.QueueCapacity, State.SpoolBytes, _options.SpoolMaxBytes,
                State.IsWriterHealthy, !_accepting);
        }
    }

    private static TimeSpan Backoff(int failures) =>
        TimeSpan.FromTicks(Math.Min(MaxRetry.Ticks, MinRetry.Ticks << Math.Min(failures - 1, 16)));

    [LoggerMessage(EventId = 1901, Level = LogLevel.Information, Message = "Audit spool {Directory}: {Segments} segment(s), {Bytes} bytes to ship; writing segment {Segment}")]
    private static partial void LogOpened(ILogger logger, string directory, int segments, long bytes, long segment);

    [LoggerMessage(EventId = 1902, Level = LogLevel.Warning,
        Message = "Audit events are being dropped: {Dropped} in total (queue {Queued}/{Capacity}, spool {SpoolBytes}/{SpoolMaxBytes} bytes, writer healthy: {WriterHealthy}, stopping: {Stopping}); support calls get 503 meanwhile")]
    private static partial void LogDropping(ILogger logger, long dropped, long queued, int capacity, long spoolBytes, long spoolMaxBytes, bool writerHealthy, bool stopping);

    [LoggerMessage(EventId = 1903, Level = LogLevel.Warning, Message = "Audit spool segment {Segment}: cut {Bytes} bytes of a record torn by a crash")]
    private static partial void LogTornTail(ILogger logger, string segment, long bytes);

    [LoggerMessage(EventId = 1904, Level = LogLevel.Error, Message = "Audit spool segment {Segment}: {Ranges} corrupt range(s) before whole records; the shipper skips and dead-letters them")]
    private static partial void LogCorruptLeft(ILogger logger, string segment, int ranges);

    [LoggerMessage(EventId = 1905, Level = LogLevel.Critical, Message = "Cannot open the audit spool {Directory}; retrying. Support calls get 503 until it works")]
    private static partial void LogOpenFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(EventId = 1906, Level = LogLevel.Critical, Message = "Cannot write the audit spool {Directory}; retrying. Support calls get 503 until it works")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(EventId = 1907, Level = LogLevel.Information, Message = "Audit spool {Directory} is writable again")]
    private static partial void LogWriterRecovered(ILogger logger, string directory);

    [LoggerMessage(EventId = 1908, Level = LogLevel.Debug, Message = "Audit spool segment {Segment} closed at {Bytes} bytes; now writing {Next}")]
    private static partial void LogRolled(ILogger logger, long segment, long bytes, long next);

    [LoggerMessage(EventId = 1909, Level = LogLevel.Error, Message = "Audit spool checkpoint in {Directory} is unreadable ({Problem}); shipping replays the spool (idempotent)")]
    private static partial void LogBadCheckpoint(ILogger logger, string directory, string problem);

    [LoggerMessage(EventId = 1910, Level = LogLevel.Critical, Message = "{Count} audit event(s) could not be written before shutdown and are lost (counted as dropped)")]
    private static partial void LogLostAtShutdown(ILogger logger, int count);

    [LoggerMessage(EventId = 1911, Level = LogLevel.Error, Message = "Audit event {EventId} could not be serialized and was dropped")]
    private static partial void LogUnserializable(ILogger logger, Exception exception, string eventId);

    [LoggerMessage(EventId = 1912, Level = LogLevel.Error, Message = "Audit event {EventId} is {Bytes} bytes, over the spool's {Max}-byte record limit, and was dropped")]
    private static partial void LogTooLarge(ILogger logger, string eventId, int bytes, int max);

    [LoggerMessage(EventId = 1913, Level = LogLevel.Critical, Message = "The audit spool writer stopped")]
    private static partial void LogWriterCrashed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1914, Level = LogLevel.Error, Message = "Unexpected error in the audit sink; the event was dropped")]
    private static partial void LogUnexpected(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1916, Level = LogLevel.Warning, Message = "Audit spool {Operation} took {Milliseconds} ms in {Directory}: events queue meanwhile (a slow disk; see fsyncMaxMs/writeMaxMs in readiness)")]
    private static partial void LogSlowWrite(ILogger logger, string operation, long milliseconds, string directory);

    /// <summary>
    /// One held queue slot: <see cref="Complete"/> always enqueues; <see cref="Dispose"/> unused
    /// gives the slot back. A forced one (an access reduction) is logged loudly when the writer
    /// cannot take it, so the record survives at least in the operational log.
    /// </summary>
    private sealed class Reservation(SpoolingAuditSink sink, bool forced) : IAuditReservation
    {
        private int _state;

        public void Complete(AuditEvent auditEvent)
        {
            if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            {
                // Used twice or after Dispose: no slot is held any more, so it is an ordinary write.
                sink.TryWrite(auditEvent, AuditRoom.Security);
                return;
            }

            if (forced && (sink._closed || !sink.State.IsWriterHealthy))
            {
                LogAccessReductionAtRisk(sink._logger, auditEvent.Action, auditEvent.Tenant, auditEvent.UserId, auditEvent.Id, sink.State.WriterError ?? "the writer has stopped");
            }

            sink.Enqueue(auditEvent);
        }

        public void Dispose()
        {
            if (Interlocked.CompareExchange(ref _state, 2, 0) == 0)
            {
                sink.State.ReleaseSlots(1);
            }
        }
    }

    [LoggerMessage(EventId = 1917, Level = LogLevel.Critical,
        Message = "Access reduction {Action} in tenant {Tenant} by {User} was applied, but its audit event {EventId} may not reach the spool: {Problem}")]
    private static partial void LogAccessReductionAtRisk(ILogger logger, string action, string? tenant, string? user, string eventId, string problem);
}
