using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
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
/// <para>
/// The writer also keeps the evidence properties of docs/audit.md: every event gets this
/// instance's id, the next sequence number and its chain hash (<c>gateway.chain</c>); a signed
/// digest is written every <c>Audit:Integrity:DigestInterval</c> and at shutdown; durable writes
/// (<see cref="TryWriteDurableAsync"/>, the support write-ahead) are confirmed only after the
/// burst holding them is fsynced — one fsync for every durable write pending at the time (group
/// commit); and at start the spool is scanned for write-ahead records a crash left without a
/// completion, each of which gets an <c>outcome: unknown</c> event.
/// </para>
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
    private readonly AuditSigningKey _signingKey;
    private readonly SupportWriteAhead _writeAhead;
    private readonly Channel<Queued> _queue = Channel.CreateUnbounded<Queued>(new UnboundedChannelOptions
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

    // Records in the writer's buffer (and the carried one) with what their commit must do.
    private readonly List<Pending> _buffered = [];
    private Pending _carried;
    private int _writtenRecords;
    private long _writtenBytes;

    // The hash chain, as far as serialized (the carried record included), and as it stood before
    // the last record was serialized (what the spool holds when that record is still carried).
    private readonly AuditChainHasher _hasher = new();
    private string _instance = "";
    private long _seq;
    private readonly byte[] _head = new byte[AuditChainHasher.HashBytes];
    private long _previousSeq;
    private readonly byte[] _previousHead = new byte[AuditChainHasher.HashBytes];
    private long _digestSeq;
    private string? _digestHash;
    private bool _digestSinceSave;
    private bool _savedWithOpen;
    private long _previousDigestSeq;
    private string? _previousDigestHash;
    private ITimer? _digestTimer;
    private bool _digestArmed;

    // Write-ahead records on disk whose call has not completed: event id → segment (pinned).
    private readonly Dictionary<string, long> _open = new(StringComparer.Ordinal);
    private List<(SpoolOpenWrite Open, AuditEvent Crashed)> _unfinished = [];

    public SpoolingAuditSink(IOptions<AuditOptions> options, AuditSpoolState state, TimeProvider time, AuditSigningKey signingKey, ILogger<SpoolingAuditSink> logger)
    {
        _options = options.Value;
        State = state;
        _time = time;
        _signingKey = signingKey;
        _logger = logger;
        Directory = Path.GetFullPath(_options.SpoolDirectory);
        _json = EcsAuditSerializer.CreateWriter(_payload);
        _writeAhead = new SupportWriteAhead(this, _options, time, logger);
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

    /// <summary>This instance's id in the hash chain (set once the spool is open).</summary>
    public string? InstanceId => State.InstanceId;

    /// <summary>The signing key of the digests (its public half is in the JWKS).</summary>
    public AuditSigningKey SigningKey => _signingKey;

    public ValueTask<bool> WriteAheadAsync(HttpContext context, bool upgrade) => _writeAhead.BeforeForwardingAsync(context, upgrade);

    /// <summary>
    /// Writes <paramref name="auditEvent"/> and returns once it is on disk and fsynced (whatever
    /// <c>FsyncPolicy</c> says), or once <paramref name="timeout"/> has passed. Every durable write
    /// pending when the writer takes its next burst shares that burst's one fsync.
    /// </summary>
    internal async ValueTask<DurableWrite> TryWriteDurableAsync(AuditEvent auditEvent, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (spoolCap, queueCap) = Caps(AuditRoom.Security);
        if (!_accepting || _closed || !State.IsWriterHealthy || State.SpoolBytes >= spoolCap || !State.TryTakeSlot(queueCap))
        {
            return DurableWrite.Refused;
        }

        var started = _time.GetTimestamp();
        var durable = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Enqueue(new Queued(auditEvent, durable));
        try
        {
            var written = await durable.Task.WaitAsync(timeout, _time, cancellationToken);
            State.RecordWriteAheadWait(_time.GetElapsedTime(started));
            return written ? DurableWrite.Durable : DurableWrite.Failed;
        }
        catch (TimeoutException)
        {
            State.RecordWriteAheadWait(_time.GetElapsedTime(started));
            return DurableWrite.TimedOut;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return DurableWrite.Cancelled;
        }
    }

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

            Enqueue(new Queued(auditEvent, null));
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
            _digestTimer?.Dispose();
            _hasher.Dispose();
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
            _digestTimer?.Dispose();
            _hasher.Dispose();
            FailDurable(_buffered);
            FailDurable([_carried]);
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

        // The digest timer only queues a request (the writer thread signs). It is armed once
        // something is written that no digest covers yet, so an idle gateway runs no timer.
        _digestTimer = _time.CreateTimer(static s => ((SpoolingAuditSink)s!)._queue.Writer.TryWrite(Queued.DigestDue), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        ArmDigest();

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
                // The last digest covers everything up to shutdown; then sync and close.
                if (SerializeDigest())
                {
                    TryAddCarried();
                    continue;
                }

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
                if (!reader.TryRead(out var item))
                {
                    return;
                }

                if (item.Event is null)
                {
                    _digestArmed = false;
                    if (!SerializeDigest())
                    {
                        continue;
                    }
                }
                else if (!Serialize(item))
                {
                    continue;
                }
            }

            if (!TryAddCarried())
            {
                return;
            }
        }
    }

    /// <summary>
    /// Adds the serialized record in <see cref="_payload"/> to the writer's buffer; false when the
    /// segment is full (it then waits, carried, until the next segment is open).
    /// </summary>
    private bool TryAddCarried()
    {
        if (_writer!.IsFullFor(_payload.WrittenCount, _options.SegmentMaxBytes))
        {
            _rollNeeded = true;
            return false;
        }

        _writer.Add(_payload.WrittenSpan);
        _buffered.Add(_carried with { Segment = _writer.Segment });
        _carried = default;
        _carry = false;
        return true;
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

    /// <summary>
    /// Serializes the event into <see cref="_payload"/> as the next link of the chain; false
    /// (counted as dropped, its durable waiter told) if it cannot be a spool record.
    /// </summary>
    private bool Serialize(Queued item)
    {
        var auditEvent = item.Event!;
        if (!SerializeChained(auditEvent))
        {
            State.ReleaseSlots(1);
            item.Durable?.TrySetResult(false);
            Drop();
            return false;
        }

        _carry = true;
        _carried = new Pending(
            item.Durable,
            Slotted: true,
            Opens: auditEvent.Action == AuditActions.SupportRequestStarted ? auditEvent.Id : null,
            Completes: auditEvent.StartedId,
            Segment: 0);
        return true;
    }

    /// <summary>
    /// Serializes a digest of the chain so far as the next record, if anything was written since
    /// the last digest (an idle gateway writes none).
    /// </summary>
    private bool SerializeDigest()
    {
        if (_seq == 0 || _seq == _digestSeq || _writer is null)
        {
            return false;
        }

        var now = _time.GetUtcNow();
        var head = Convert.ToHexStringLower(_head);
        var first = _digestSeq > 0 ? _digestSeq : 1;
        var time = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        var jws = _signingKey.SignCompact(AuditDigest.Payload(_instance, first, _seq, head, _digestHash, time));
        var digest = new AuditEvent
        {
            Timestamp = now,
            Category = "process",
            Action = AuditActions.AuditDigest,
            Digest = new AuditDigest(first, _seq, head, _digestHash, _signingKey.KeyId, jws),
        };
        var previous = (_digestSeq, _digestHash);
        if (!SerializeChained(digest))
        {
            return false;
        }

        (_previousDigestSeq, _previousDigestHash) = previous;
        (_digestSeq, _digestHash) = (_seq, AuditDigest.HashOf(jws));
        _digestSinceSave = true;
        _carry = true;
        _carried = new Pending(null, Slotted: false, Opens: null, Completes: null, Segment: 0);
        LogDigest(_logger, _instance, first, _seq - 1, _seq);
        return true;
    }

    /// <summary>Writes the document with <c>gateway.chain</c> (next sequence number) and puts its chain hash in place.</summary>
    private bool SerializeChained(AuditEvent auditEvent)
    {
        _payload.ResetWrittenCount();
        long hashAt;
        try
        {
            _json.Reset(_payload);
            hashAt = EcsAuditSerializer.Write(_json, auditEvent, new AuditChainStamp(_instance, _seq + 1));
        }
        catch (Exception ex)
        {
            LogUnserializable(_logger, ex, auditEvent.Id);
            return false;
        }

        if (_payload.WrittenCount > SpoolFormat.MaxPayloadBytes)
        {
            LogTooLarge(_logger, auditEvent.Id, _payload.WrittenCount, SpoolFormat.MaxPayloadBytes);
            return false;
        }

        Span<byte> hash = stackalloc byte[AuditChainHasher.HashBytes];
        try
        {
            _hasher.Hash(_head, _payload.WrittenSpan, hash);
        }
        catch (JsonException ex)
        {
            LogUnserializable(_logger, ex, auditEvent.Id);
            return false;
        }

        AuditChainHasher.WriteHex(hash, MemoryMarshal.AsMemory(_payload.WrittenMemory).Span.Slice((int)hashAt, AuditChainHasher.HashBytes * 2));
        _previousSeq = _seq;
        _head.CopyTo(_previousHead, 0);
        _seq++;
        hash.CopyTo(_head);
        return true;
    }

    /// <summary>
    /// Hands the burst to the OS (and fsyncs per policy, or because it holds durable writes), then
    /// opens the next segment if one is due. A failing disk is retried (the same bytes at the same
    /// offset) until it works or the host's shutdown timeout passes; durable writes caught in a
    /// failure are told so at once (an fsync that failed proves nothing, even if a later one works).
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
                    (_writtenRecords, _writtenBytes) = (_writtenRecords + records, _writtenBytes + bytes);
                }

                if (_writtenRecords > 0)
                {
                    var durable = CountDurable();
                    if (durable > 0
                        || _options.FsyncPolicy == AuditFsyncPolicy.Always
                        || (_options.FsyncPolicy == AuditFsyncPolicy.Interval && _time.GetElapsedTime(_lastSyncTimestamp) >= _options.FsyncInterval))
                    {
                        started = TimeProvider.System.GetTimestamp();
                        Sync();
                        RecordStall(started, fsync: true);
                        if (durable > 0)
                        {
                            State.CountWriteAheadSync(durable);
                        }
                    }

                    State.Commit(_writer.Segment, _writer.Length, _writtenRecords, _writtenBytes);
                    ApplyCommitted();
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
                FailDurable(_buffered);
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
                    State.ReleaseSlots(_buffered.Count(p => p.Slotted) + (_carry && _carried.Slotted ? 1 : 0));
                    FailDurable([_carried]);
                    _buffered.Clear();
                    State.CountDropped(_time.GetUtcNow(), lost);
                    LogLostAtShutdown(_logger, lost);
                    return false;
                }
            }
        }
    }

    /// <summary>A digest is due one interval after the first event that no digest covers.</summary>
    private void ArmDigest()
    {
        if (!_digestArmed && _seq != _digestSeq && _digestTimer is not null)
        {
            _digestArmed = true;
            _digestTimer.Change(_options.Integrity.DigestInterval, Timeout.InfiniteTimeSpan);
        }
    }

    private int CountDurable()
    {
        var count = 0;
        foreach (var pending in _buffered)
        {
            if (pending.Durable is not null)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>The records of the burst are on disk (and synced if any was durable): release, pin, unpin, confirm.</summary>
    private void ApplyCommitted()
    {
        var slots = 0;
        foreach (var pending in _buffered)
        {
            if (pending.Slotted)
            {
                slots++;
            }

            if (pending.Opens is { } opened && _open.TryAdd(opened, pending.Segment))
            {
                State.Pin(pending.Segment);
            }

            if (pending.Completes is { } completed && _open.Remove(completed, out var segment))
            {
                State.Unpin(segment);
            }

            pending.Durable?.TrySetResult(true);
        }

        State.ReleaseSlots(slots);
        ArmDigest();
        State.ChainCommitted(_carry ? _previousSeq : _seq, _carry && _previousDigestSeq != _digestSeq ? _previousDigestSeq : _digestSeq);
        _buffered.Clear();
        (_writtenRecords, _writtenBytes) = (0, 0);
    }

    /// <summary>Tells the durable writers among <paramref name="pending"/> that their write is not confirmed.</summary>
    private static void FailDurable(IEnumerable<Pending> pending)
    {
        foreach (var p in pending)
        {
            p.Durable?.TrySetResult(false);
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

        // What recovery must know that the segments may lose once shipped and deleted: the open
        // write-ahead records (while there are any, or were at the last save) and the last digest
        // (when one was written since). The carried record goes into the new segment, so it is
        // not in the state. The chain head needs no save: the shipper is told of the new segment
        // only when its first record is committed, so the newest record is never deleted.
        if (_open.Count > 0 || _savedWithOpen || _digestSinceSave)
        {
            SaveWriterState(number, _carry, durable: false);
        }

        _writer = SpoolWriter.Create(Directory, number);
        old.Dispose();
        LogRolled(_logger, old.Segment, old.Length, _writer.Segment);
    }

    private void SaveWriterState(long segment, bool excludingCarried, bool durable)
    {
        var (seq, head) = excludingCarried ? (_previousSeq, _previousHead) : (_seq, _head);
        var carriedDigest = excludingCarried && _previousDigestSeq != _digestSeq;
        var digest = carriedDigest ? (_previousDigestSeq, _previousDigestHash) : (_digestSeq, _digestHash);
        (_savedWithOpen, _digestSinceSave) = (_open.Count > 0, carriedDigest);
        new SpoolWriterState(
            _instance,
            seq,
            Convert.ToHexStringLower(head),
            digest.Item1,
            digest.Item2,
            segment,
            [.. _open.Select(o => new SpoolOpenWrite(o.Key, o.Value))]).Save(Directory, durable);
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

                break;
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

        // Calls a crash left unfinished: their events go past every cap (the facts happened),
        // and each keeps its write-ahead record's segment until it is on disk itself.
        foreach (var (open, crashed) in _unfinished)
        {
            State.TakeSlotUnbounded();
            Enqueue(new Queued(crashed, null));
            LogUnfinished(_logger, open.Id, crashed.Id, crashed.UserName, crashed.Tenant, crashed.HttpMethod, crashed.UrlPath);
        }

        if (_unfinished.Count > 0)
        {
            LogRecovered(_logger, _unfinished.Count, Directory);
        }

        _unfinished = [];
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

        // The chain to continue and the calls left unfinished, before anything is deleted.
        _instance = string.IsNullOrEmpty(_options.InstanceId) ? SpoolRecovery.LoadOrCreateInstanceId(Directory) : _options.InstanceId;
        var saved = SpoolWriterState.Load(Directory, out var stateProblem);
        if (stateProblem is not null)
        {
            LogBadWriterState(_logger, Directory, stateProblem);
        }

        var recovered = SpoolRecovery.Recover(Directory, _instance, saved, segments, _time.GetUtcNow());
        (_seq, _digestSeq, _digestHash) = (recovered.Seq, recovered.DigestSeq, recovered.DigestHash);
        recovered.Head.CopyTo(_head, 0);
        (_previousSeq, _previousDigestSeq, _previousDigestHash) = (_seq, _digestSeq, _digestHash);
        _head.CopyTo(_previousHead, 0);
        _open.Clear();
        foreach (var (open, _) in recovered.Unfinished)
        {
            _open[open.Id] = open.Segment;
        }

        if (checkpoint is { } shipped)
        {
            // Segments before the checkpoint's were shipped; a crash came between checkpoint and
            // delete. Those holding an unfinished call's record stay until its event is written.
            foreach (var segment in segments.Where(s => s < shipped.Segment && !_open.ContainsValue(s)).ToList())
            {
                File.Delete(SpoolFormat.SegmentPath(Directory, segment));
                segments.Remove(segment);
            }
        }

        var bytes = segments.Sum(s => new FileInfo(SpoolFormat.SegmentPath(Directory, s)).Length);
        var next = Math.Max(segments.Count > 0 ? segments[^1] : 0, checkpoint?.Segment ?? 0) + 1;
        SaveWriterState(next, excludingCarried: false, durable: true);
        _writer = SpoolWriter.Create(Directory, next);
        _lastSyncTimestamp = _time.GetTimestamp();
        foreach (var segment in _open.Values)
        {
            State.Pin(segment);
        }

        _unfinished = [.. recovered.Unfinished];
        State.SetInstance(_instance);
        State.ChainCommitted(_seq, _digestSeq);
        State.MarkReady(next, bytes);
        LogOpened(_logger, Directory, segments.Count, bytes, next);
        LogChain(_logger, _instance, _seq, _digestSeq);
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

    private void Enqueue(Queued item)
    {
        _queue.Writer.TryWrite(item);
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
        while (_queue.Reader.TryRead(out var item))
        {
            if (item.Event is not null)
            {
                lost++;
                item.Durable?.TrySetResult(false);
            }
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

            sink.Enqueue(new Queued(auditEvent, null));
        }

        public void Dispose()
        {
            if (Interlocked.CompareExchange(ref _state, 2, 0) == 0)
            {
                sink.State.ReleaseSlots(1);
            }
        }
    }

    [LoggerMessage(EventId = 1918, Level = LogLevel.Warning,
        Message = "Support call {StartedId} ({User} in {Tenant}: {Method} {Path}) was forwarded before the gateway stopped without completing it; recorded as event {EventId} with outcome unknown (gateway.crashed)")]
    private static partial void LogUnfinished(ILogger logger, string startedId, string eventId, string? user, string? tenant, string? method, string? path);

    [LoggerMessage(EventId = 1919, Level = LogLevel.Warning, Message = "Audit write-ahead recovery in {Directory}: {Count} support call(s) were in flight when the gateway last stopped")]
    private static partial void LogRecovered(ILogger logger, int count, string directory);

    [LoggerMessage(EventId = 1921, Level = LogLevel.Debug, Message = "Audit digest of instance {Instance}: sequence {First}..{Last} signed (digest {Seq})")]
    private static partial void LogDigest(ILogger logger, string instance, long first, long last, long seq);

    [LoggerMessage(EventId = 1922, Level = LogLevel.Error, Message = "Audit writer state in {Directory} is unreadable ({Problem}); the chain and open write-ahead records are recovered from every segment present")]
    private static partial void LogBadWriterState(ILogger logger, string directory, string problem);

    [LoggerMessage(EventId = 1923, Level = LogLevel.Information, Message = "Audit chain of instance {Instance} continues after sequence {Seq} (last digest {DigestSeq})")]
    private static partial void LogChain(ILogger logger, string instance, long seq, long digestSeq);

    /// <summary>One item of the queue: an event (with its durable waiter, for a write-ahead), or a digest request (no event).</summary>
    private readonly record struct Queued(AuditEvent? Event, TaskCompletionSource<bool>? Durable)
    {
        public static Queued DigestDue => default;
    }

    /// <summary>What a record's commit must do: confirm a durable write, give back its queue slot, pin or unpin a write-ahead record's segment.</summary>
    private readonly record struct Pending(TaskCompletionSource<bool>? Durable, bool Slotted, string? Opens, string? Completes, long Segment);

    [LoggerMessage(EventId = 1917, Level = LogLevel.Critical,
        Message = "Access reduction {Action} in tenant {Tenant} by {User} was applied, but its audit event {EventId} may not reach the spool: {Problem}")]
    private static partial void LogAccessReductionAtRisk(ILogger logger, string action, string? tenant, string? user, string eventId, string problem);
}

/// <summary>How a durable write ended.</summary>
internal enum DurableWrite
{
    /// <summary>On disk and fsynced.</summary>
    Durable,

    /// <summary>Not taken (queue or spool full, writer unhealthy, stopping): nothing was written.</summary>
    Refused,

    /// <summary>Taken, but not confirmed within the budget: it may still reach the disk.</summary>
    TimedOut,

    /// <summary>Taken, but the disk failed (or the gateway stopped) before it was confirmed.</summary>
    Failed,

    /// <summary>The caller went away while waiting.</summary>
    Cancelled,
}
