namespace Gateway.Auditing;

/// <summary>
/// The shipper's place in the spool: reads records from the durable checkpoint on, across
/// segments, into a <see cref="SpoolBatch"/>, and once a batch is done writes its dead letters,
/// moves the checkpoint past it and deletes the segments wholly before the checkpoint. Reads
/// stop at what the writer has committed. Used by one loop (<see cref="ElasticsearchShipper"/>),
/// which logs under its own category.
/// </summary>
internal sealed partial class SpoolCursor(string directory, AuditSpoolState state, TimeProvider time, ILogger logger) : IDisposable
{
    private SpoolSegmentReader? _reader;
    private SpoolCheckpoint _checkpoint;
    private object _publishedCheckpoint = default(SpoolCheckpoint);

    /// <summary>The spool directory (full path).</summary>
    public string Directory => directory;

    /// <summary>Where shipping stands: every record before it is delivered or dead-lettered. Read from any thread.</summary>
    public SpoolCheckpoint Published => (SpoolCheckpoint)Volatile.Read(ref _publishedCheckpoint);

    /// <summary>The durable checkpoint, as the shipping loop sees it.</summary>
    public SpoolCheckpoint Checkpoint => _checkpoint;

    /// <summary>Starts from the stored checkpoint, else from the oldest segment there is.</summary>
    public void Start()
    {
        _checkpoint = StartPosition();
        Volatile.Write(ref _publishedCheckpoint, _checkpoint);
    }

    /// <summary>Reads records into <paramref name="batch"/> from <paramref name="position"/> while it is not full; returns the new read position.</summary>
    public SpoolCheckpoint Fill(SpoolBatch batch, SpoolCheckpoint position)
    {
        while (!batch.IsFull)
        {
            var (active, committed) = state.Committed;
            if (!EnsureReader(position.Segment))
            {
                if (position.Segment >= active)
                {
                    return position;
                }

                position = new SpoolCheckpoint(NextSegment(position.Segment, active), 0);
                continue;
            }

            var limit = position.Segment == active ? committed : _reader!.Length;
            var read = _reader!.Read(position.Offset, limit);
            switch (read.Status)
            {
                case SpoolReadStatus.Record:
                    if (!batch.TryAdd(read, position))
                    {
                        batch.Corrupt.Add(new DeadLetterFile.Corrupt(position, read.NextOffset - read.Offset, "the record holds no event.id"));
                    }

                    position = new SpoolCheckpoint(position.Segment, read.NextOffset);
                    break;

                case SpoolReadStatus.Corrupt:
                    var bytes = read.NextOffset - read.Offset;
                    LogCorrupt(logger, SpoolFormat.SegmentFileName(position.Segment), read.Offset, bytes);
                    batch.Corrupt.Add(new DeadLetterFile.Corrupt(position, bytes, "bytes that are not a whole spool record (CRC mismatch or bad framing) were skipped"));
                    position = new SpoolCheckpoint(position.Segment, read.NextOffset);
                    break;

                default:
                    if (position.Segment >= active)
                    {
                        return position;
                    }

                    // A closed segment, read to its end: on to the next one.
                    position = new SpoolCheckpoint(NextSegment(position.Segment, active), 0);
                    break;
            }
        }

        return position;
    }

    /// <summary>Dead letters first (synced), then the checkpoint, then the segments wholly before it.</summary>
    public void Complete(SpoolBatch batch, SpoolCheckpoint position)
    {
        var now = time.GetUtcNow();
        DeadLetterFile.Append(directory, now, batch.Rejected, batch.Corrupt);
        var deadLettered = batch.Rejected.Count + batch.Corrupt.Count;
        if (deadLettered > 0)
        {
            state.CountDeadLettered(now, deadLettered);
        }

        if (position != _checkpoint)
        {
            position.Save(directory);
            _checkpoint = position;
            Volatile.Write(ref _publishedCheckpoint, position);
            DeleteShippedSegments(position.Segment);
        }

        state.Shipping.Pulse();
    }

    /// <summary>Closes the open segment (after an I/O error, or when stopping); the next read opens it again.</summary>
    public void CloseReader()
    {
        _reader?.Dispose();
        _reader = null;
    }

    public void Dispose() => CloseReader();

    private SpoolCheckpoint StartPosition()
    {
        var stored = SpoolCheckpoint.Load(directory, out _);
        if (stored is { } checkpoint)
        {
            return checkpoint;
        }

        var segments = SpoolFormat.ListSegments(directory);
        return new SpoolCheckpoint(segments.Count > 0 ? segments[0] : state.Committed.Segment, 0);
    }

    private bool EnsureReader(long segment)
    {
        if (_reader?.Segment == segment)
        {
            return true;
        }

        CloseReader();
        try
        {
            _reader = SpoolSegmentReader.Open(directory, segment);
            return true;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
    }

    private long NextSegment(long after, long active)
    {
        foreach (var segment in SpoolFormat.ListSegments(directory))
        {
            if (segment > after)
            {
                return Math.Min(segment, active);
            }
        }

        return active;
    }

    private void DeleteShippedSegments(long before)
    {
        foreach (var segment in SpoolFormat.ListSegments(directory))
        {
            if (segment >= before)
            {
                break;
            }

            if (state.IsPinned(segment))
            {
                // It holds the write-ahead record of a call still in flight: kept for recovery.
                continue;
            }

            if (_reader?.Segment == segment)
            {
                CloseReader();
            }

            var path = SpoolFormat.SegmentPath(directory, segment);
            try
            {
                var bytes = new FileInfo(path).Length;
                File.Delete(path);
                state.SegmentDeleted(bytes);
            }
            catch (IOException ex)
            {
                LogDeleteFailed(logger, ex, path);
            }
        }
    }

    [LoggerMessage(EventId = 1935, Level = LogLevel.Error, Message = "Audit spool segment {Segment}: {Bytes} corrupt byte(s) at offset {Offset} skipped; noted in dead-letter.ndjson")]
    private static partial void LogCorrupt(ILogger logger, string segment, long offset, long bytes);

    [LoggerMessage(EventId = 1936, Level = LogLevel.Warning, Message = "Could not delete shipped audit segment {Path}")]
    private static partial void LogDeleteFailed(ILogger logger, Exception exception, string path);
}

/// <summary>
/// One batch on its way to Elasticsearch: the records read (bounded by count and by the bytes of
/// the <c>_bulk</c> body they make), and what is to be dead-lettered when it completes.
/// </summary>
internal sealed class SpoolBatch(int maxEvents, long maxBytes, int actionOverhead)
{
    public SpoolBatchItems Items { get; } = new(actionOverhead);

    /// <summary>The size of the <c>_bulk</c> body the items make (action lines included).</summary>
    public long Bytes { get; private set; }

    public bool IsFull => Items.Count >= maxEvents || Bytes >= maxBytes;

    public List<DeadLetterFile.Rejected> Rejected { get; } = [];

    public List<DeadLetterFile.Corrupt> Corrupt { get; } = [];

    /// <summary>Adds a record; false when it holds no <c>event.id</c> (it cannot be shipped idempotently).</summary>
    public bool TryAdd(SpoolRead read, SpoolCheckpoint at)
    {
        if (!Items.TryAdd(read, at, out var size))
        {
            return false;
        }

        Bytes += size;
        return true;
    }
}

/// <summary>The records of a batch: payloads copied out of the read window, with where their id sits.</summary>
internal sealed class SpoolBatchItems(int actionOverhead)
{
    private readonly List<(byte[] Payload, int IdStart, int IdLength, SpoolCheckpoint At)> _items = [];

    public int Count => _items.Count;

    public List<int> All() => Enumerable.Range(0, _items.Count).ToList();

    public ReadOnlySpan<byte> Id(int index) => _items[index].Payload.AsSpan(_items[index].IdStart, _items[index].IdLength);

    public ReadOnlyMemory<byte> Payload(int index) => _items[index].Payload;

    /// <summary>The <c>_bulk</c> body size of these items: each one's action line, payload and newline.</summary>
    public long BytesOf(List<int> indexes) =>
        indexes.Sum(i => (long)_items[i].Payload.Length + _items[i].IdLength + actionOverhead + 1);

    public DeadLetterFile.Rejected Rejected(int index, int status, string? type, string? reason) =>
        new(_items[index].At, _items[index].Payload, status, type, reason);

    public bool TryAdd(SpoolRead read, SpoolCheckpoint at, out long size)
    {
        size = 0;
        var payload = read.Payload.ToArray();
        if (!BulkClient.TryFindEventId(payload, out var start, out var length))
        {
            return false;
        }

        _items.Add((payload, start, length, at));
        size = payload.Length + length + actionOverhead + 1;
        return true;
    }
}
