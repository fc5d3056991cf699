using Microsoft.Extensions.Time.Testing;
using System.Text;
using System.Text.Json;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Auditing;

/// <summary>The spool on its own: record framing, CRC, recovery, roll-over, admission limits.</summary>
public sealed class AuditSpoolTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Records_AreFramedWithTheZlibCrc32()
    {
        // The framing's CRC is CRC-32/ISO-HDLC (zlib, PNG): crc("123456789") = 0xCBF43926.
        var payload = "123456789"u8.ToArray();
        var record = new byte[payload.Length + SpoolFormat.Overhead];
        SpoolFormat.WriteRecord(record, payload);

        var lengthAndPayload = record.AsSpan(2, 4 + payload.Length);
        var stored = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(SpoolFormat.HeaderSize + payload.Length));
        Assert.Equal(0xCBF43926u, System.IO.Hashing.Crc32.HashToUInt32("123456789"u8));
        Assert.Equal(System.IO.Hashing.Crc32.HashToUInt32(lengthAndPayload), stored);
    }

    [Fact]
    public void SegmentWrittenByTheEarlierHandWrittenCrc_IsStillRead()
    {
        // Fixtures/legacy-crc-000000000001.seg was written by the gateway's own CRC-32 code,
        // before it moved to System.IO.Hashing: spools left by that version must stay readable.
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Auditing", "Fixtures", "legacy-crc-000000000001.seg"), SpoolFormat.SegmentPath(_temp.Path, 1));
        var skipped = new List<AuditSpoolReader.Skipped>();

        var entries = AuditSpoolReader.ReadEntries(_temp.Path, onSkipped: skipped.Add).ToList();

        Assert.Empty(skipped);
        Assert.Equal(3, entries.Count);
        Assert.Equal(["/api/orders/0", "/api/orders/1", "/api/orders/2"], entries.Select(e => JsonDocument.Parse(e.Json).RootElement.GetProperty("url").GetProperty("path").GetString()));
    }

    [Fact]
    public void Records_RoundTrip_ThroughASegment()
    {
        var payloads = Enumerable.Range(0, 50).Select(i => EcsAuditSerializer.Serialize(AuditPipelineHarness.Event(i))).ToList();
        WriteSegment(1, payloads);

        var entries = AuditSpoolReader.ReadEntries(_temp.Path).ToList();

        Assert.Equal(payloads.Select(p => Encoding.UTF8.GetString(p)), entries.Select(e => e.Json));
        Assert.All(entries, e => Assert.Equal(1, e.Segment));
        Assert.Equal(0, entries[0].Offset);
        Assert.Equal(payloads[0].Length + SpoolFormat.Overhead, entries[1].Offset);
    }

    [Fact]
    public void Crc_DetectsACorruptedByte_AndTheReaderSkipsOnlyThatRecord()
    {
        var payloads = Enumerable.Range(0, 10).Select(i => EcsAuditSerializer.Serialize(AuditPipelineHarness.Event(i))).ToList();
        WriteSegment(1, payloads);
        var path = SpoolFormat.SegmentPath(_temp.Path, 1);
        var bytes = File.ReadAllBytes(path);
        var fourth = payloads.Take(3).Sum(p => p.Length + SpoolFormat.Overhead);
        bytes[fourth + SpoolFormat.HeaderSize + 20] ^= 0x01; // one bit inside the 4th record's payload
        File.WriteAllBytes(path, bytes);

        var skipped = new List<AuditSpoolReader.Skipped>();
        var json = AuditSpoolReader.ReadEntries(_temp.Path, onSkipped: skipped.Add).Select(e => e.Json).ToList();

        Assert.Equal(payloads.Where((_, i) => i != 3).Select(p => Encoding.UTF8.GetString(p)), json);
        var skip = Assert.Single(skipped);
        Assert.Equal(fourth, skip.Offset);
        Assert.Equal(payloads[3].Length + SpoolFormat.Overhead, skip.Bytes);
    }

    [Fact]
    public void Crc_DetectsACorruptedLengthField()
    {
        var payloads = Enumerable.Range(0, 3).Select(i => EcsAuditSerializer.Serialize(AuditPipelineHarness.Event(i))).ToList();
        WriteSegment(1, payloads);
        var path = SpoolFormat.SegmentPath(_temp.Path, 1);
        var bytes = File.ReadAllBytes(path);
        bytes[2] ^= 0x04; // the first record's length, off by 4

        File.WriteAllBytes(path, bytes);
        var json = AuditSpoolReader.ReadJsonLines(_temp.Path).ToList();

        Assert.Equal(payloads.Skip(1).Select(p => Encoding.UTF8.GetString(p)), json);
    }

    [Fact]
    public async Task Recovery_TruncatesATornTail_OfTheLastSegment()
    {
        await using (var first = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(_temp.Path)))
        {
            await first.StartSinkAsync();
            first.Write(20);
            await first.WaitForSpooledAsync(20);
        }

        var segment = Assert.Single(SpoolFormat.ListSegments(_temp.Path));
        var path = SpoolFormat.SegmentPath(_temp.Path, segment);
        var whole = new FileInfo(path).Length;
        var records = AuditSpoolReader.ReadEntries(_temp.Path).ToList();
        var last = records[^1];
        // A crash in the middle of writing the last record: only part of it reached the disk.
        using (var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(file, last.Offset + 17);
        }

        var logs = new CapturingLoggerProvider();
        await using (var second = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(_temp.Path), logs: logs))
        {
            await second.StartSinkAsync();
            Assert.Equal(last.Offset, new FileInfo(path).Length);
            Assert.Contains(logs.Entries, l => l.EventId.Id == 1903 && l.Level == LogLevel.Warning);
            Assert.Equal(last.Offset, second.Sink.SpoolBytes);
            second.Write(5, first: 100);
            await second.WaitForSpooledAsync(5);
        }

        var skipped = new List<AuditSpoolReader.Skipped>();
        var events = AuditSpoolReader.ReadEntries(_temp.Path, onSkipped: skipped.Add).ToList();
        // The records before the torn one, the 5 new events, and the second run's closing digest.
        Assert.Equal(records.Count - 1 + 5 + 1, events.Count);
        Assert.Empty(skipped);
        Assert.True(whole > last.Offset);
        // The new run wrote to a new segment; the recovered one is untouched from the cut on.
        Assert.Equal(2, SpoolFormat.ListSegments(_temp.Path).Count);
    }

    [Theory]
    [InlineData("always")]
    [InlineData("interval")]
    [InlineData("never")]
    public async Task EveryFsyncPolicy_SpoolsEveryEvent_AcrossSegments(string policy)
    {
        var options = With(AuditPipelineHarness.TestOptions(_temp.Path), segmentMaxBytes: 8192, fsync: Enum.Parse<AuditFsyncPolicy>(policy, ignoreCase: true));
        List<string> ids;
        await using (var pipeline = new AuditPipelineHarness(options))
        {
            await pipeline.StartSinkAsync();
            ids = pipeline.Write(300);
            await pipeline.WaitForSpooledAsync(300);
        }

        Assert.Equal(ids, EventIds(AuditSpoolReader.ReadJsonLines(_temp.Path)));
    }

    [Fact]
    public async Task Segments_RollOver_PastSegmentMaxBytes_AndReadBackInOrder()
    {
        var options = With(AuditPipelineHarness.TestOptions(_temp.Path), segmentMaxBytes: 4096);
        List<string> ids;
        await using (var pipeline = new AuditPipelineHarness(options))
        {
            await pipeline.StartSinkAsync();
            ids = pipeline.Write(100);
            await pipeline.WaitForSpooledAsync(100);
        }

        var segments = SpoolFormat.ListSegments(_temp.Path);
        Assert.True(segments.Count >= 10, $"{segments.Count} segments");
        Assert.Equal(Enumerable.Range((int)segments[0], segments.Count).Select(s => (long)s), segments);
        Assert.All(segments.SkipLast(1), s => Assert.InRange(new FileInfo(SpoolFormat.SegmentPath(_temp.Path, s)).Length, 1, 4096));
        Assert.Equal(ids, EventIds(AuditSpoolReader.ReadJsonLines(_temp.Path)));
    }

    [Fact]
    public async Task SpoolAtItsCap_RefusesWrites_CountsDrops_AndRefusesReservations()
    {
        var options = With(AuditPipelineHarness.TestOptions(_temp.Path), segmentMaxBytes: 2048, spoolMaxBytes: 8192);
        await using var pipeline = new AuditPipelineHarness(options);
        await pipeline.StartSinkAsync();
        pipeline.Write(40);
        await pipeline.WaitForSpooledAsync(40);
        Assert.True(pipeline.Sink.SpoolBytes >= 8192);

        Assert.False(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(1000), AuditRoom.Security));
        Assert.False(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(1001), AuditRoom.Security));
        Assert.Null(pipeline.Sink.TryReserve());

        Assert.Equal(2, pipeline.Sink.Dropped);
        Assert.Equal(40, pipeline.Sink.Accepted);
        // One warning for a burst of drops, not one per event.
        Assert.Single(pipeline.Logs.Entries, l => l.EventId.Id == 1902);
    }

    [Fact]
    public async Task QueueFull_RefusesWrites_AndReservations_WithoutAWriterRunning()
    {
        var options = With(AuditPipelineHarness.TestOptions(_temp.Path), queueCapacity: 3);
        await using var pipeline = new AuditPipelineHarness(options);

        Assert.True(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(1), AuditRoom.Security));
        Assert.True(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(2), AuditRoom.Security));
        Assert.True(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(3), AuditRoom.Security));
        Assert.False(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(4), AuditRoom.Security));
        Assert.Null(pipeline.Sink.TryReserve());
        Assert.Equal(3, pipeline.Sink.QueueLength);
        Assert.Equal(1, pipeline.Sink.Dropped);
    }

    [Fact]
    public async Task Reservation_HoldsItsSlot_CompleteAlwaysEnqueues_DisposeGivesItBack()
    {
        var options = With(AuditPipelineHarness.TestOptions(_temp.Path), queueCapacity: 2);
        await using var pipeline = new AuditPipelineHarness(options);
        var sink = pipeline.Sink;

        var held = sink.TryReserve();
        Assert.NotNull(held);
        var unused = sink.TryReserve();
        Assert.NotNull(unused);
        Assert.Null(sink.TryReserve());
        Assert.False(sink.TryWrite(AuditPipelineHarness.Event(1), AuditRoom.Security));

        unused!.Dispose();
        unused.Dispose(); // twice is harmless
        Assert.Equal(1, sink.QueueLength);
        Assert.True(sink.TryWrite(AuditPipelineHarness.Event(2), AuditRoom.Security));
        Assert.False(sink.TryWrite(AuditPipelineHarness.Event(3), AuditRoom.Security));

        // The queue is full, but the reservation's slot is its own.
        var reserved = AuditPipelineHarness.Event(4);
        held!.Complete(reserved);
        held.Dispose(); // after Complete: no effect
        Assert.Equal(2, sink.Accepted);
        Assert.Equal(2, sink.QueueLength);

        await pipeline.StartSinkAsync();
        await pipeline.WaitForSpooledAsync(2);
        await pipeline.StopAsync();
        Assert.Contains(reserved.Id, AuditSpoolReader.ReadJsonLines(_temp.Path).Select(EventId));
        Assert.Equal(0, sink.QueueLength);
    }

    [Fact]
    public async Task Stop_DrainsTheQueue_AndWaitsForOpenReservations()
    {
        await using var pipeline = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(_temp.Path));
        await pipeline.StartSinkAsync();
        var reservation = pipeline.Sink.TryReserve()!;
        var ids = pipeline.Write(2000);

        var stopping = pipeline.StopAsync();
        Assert.False(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(-1), AuditRoom.Security));
        Assert.Null(pipeline.Sink.TryReserve());
        var late = AuditPipelineHarness.Event(-2);
        reservation.Complete(late);
        await stopping;

        var spooled = EventIds(AuditSpoolReader.ReadJsonLines(_temp.Path)).ToList();
        Assert.Equal(ids.Append(late.Id).Order(), spooled.Order());
        Assert.Equal(1, pipeline.Sink.Dropped);
    }

    [Fact]
    public async Task SecondWriter_OnTheSameDirectory_IsRefused_AndUnhealthy()
    {
        await using var first = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(_temp.Path));
        await first.StartSinkAsync();
        var time = new FakeTimeProvider(TestClock.Start);
        await using var second = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(_temp.Path), time);

        await second.Sink.StartAsync(CancellationToken.None);
        Assert.True(await second.State.Written.WaitUntilAsync(() => !second.State.IsWriterHealthy, AuditPipelineHarness.Deadline, TimeProvider.System));

        Assert.Contains("in use by another gateway process", second.State.WriterError, StringComparison.Ordinal);
        Assert.Null(second.Sink.TryReserve());
        Assert.True(first.Sink.TryWrite(AuditPipelineHarness.Event(1), AuditRoom.Security));
    }

    [Fact]
    public async Task DropWarning_IsRateLimited_OnTheInjectedClock()
    {
        var time = new FakeTimeProvider(TestClock.Start);
        var options = With(AuditPipelineHarness.TestOptions(_temp.Path), queueCapacity: 1);
        await using var pipeline = new AuditPipelineHarness(options, time);
        pipeline.Sink.TryWrite(AuditPipelineHarness.Event(0), AuditRoom.Security);

        for (var i = 0; i < 5; i++)
        {
            Assert.False(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(i), AuditRoom.Security));
        }

        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(6), AuditRoom.Security));
        Assert.Single(pipeline.Logs.Entries, l => l.EventId.Id == 1902);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(7), AuditRoom.Security));
        Assert.Equal(2, pipeline.Logs.Entries.Count(l => l.EventId.Id == 1902));
        Assert.Equal(7, pipeline.Sink.Dropped);
    }

    /// <summary>The ids of the events among <paramref name="jsonLines"/>, without the digests the writer adds (every interval and at shutdown).</summary>
    internal static IEnumerable<string> EventIds(IEnumerable<string> jsonLines) => jsonLines.Where(l => !IsDigest(l)).Select(EventId);

    internal static bool IsDigest(string json) => json.Contains("\"action\":\"audit-digest\"", StringComparison.Ordinal);

    internal static string EventId(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("event").GetProperty("id").GetString()!;
    }

    internal static AuditOptions With(AuditOptions o, long? segmentMaxBytes = null, long? spoolMaxBytes = null, int? queueCapacity = null, AuditFsyncPolicy? fsync = null) => new()
    {
        SpoolDirectory = o.SpoolDirectory,
        QueueCapacity = queueCapacity ?? o.QueueCapacity,
        SegmentMaxBytes = segmentMaxBytes ?? o.SegmentMaxBytes,
        SpoolMaxBytes = spoolMaxBytes ?? o.SpoolMaxBytes,
        FsyncPolicy = fsync ?? o.FsyncPolicy,
        FsyncInterval = o.FsyncInterval,
        WriteAhead = o.WriteAhead,
        WriteAheadTimeout = o.WriteAheadTimeout,
        InstanceId = o.InstanceId,
        Integrity = o.Integrity,
        Elasticsearch = o.Elasticsearch,
    };

    private void WriteSegment(long segment, IEnumerable<byte[]> payloads)
    {
        using var writer = SpoolWriter.Create(_temp.Path, segment);
        foreach (var payload in payloads)
        {
            writer.Add(payload);
        }

        writer.WriteBuffered();
        writer.Sync();
    }
}
