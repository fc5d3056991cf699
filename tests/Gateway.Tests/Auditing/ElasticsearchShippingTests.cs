using System.Text.Json;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Auditing;

/// <summary>
/// The sink and shipper, for real, against the Elasticsearch double on loopback: outages,
/// throttling, partial failures, broken connections, slow answers, restarts and crashes must
/// all end with every event in Elasticsearch exactly once (by <c>_id</c>) or dead-lettered.
/// </summary>
public sealed class ElasticsearchShippingTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private ElasticsearchDouble _es = null!;

    public async Task InitializeAsync() => _es = await ElasticsearchDouble.StartAsync();

    public async Task DisposeAsync()
    {
        await _es.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task Delivers_EveryEvent_AsACreateWithItsIdAsDocumentId()
    {
        await using var pipeline = Pipeline();
        await pipeline.StartAsync();
        var ids = pipeline.Write(250);

        await pipeline.WaitForShippedAsync(250);

        Assert.Equal(ids.Order(), _es.Documents.Keys.Order());
        Assert.Equal(ids.Order(), _es.DocumentsIn("gateway-audit").Keys.Order());
        var doc = JsonDocument.Parse(_es.Documents[ids[7]]).RootElement;
        Assert.Equal(ids[7], doc.GetProperty("event").GetProperty("id").GetString());
        Assert.Equal("/api/orders/7", doc.GetProperty("url").GetProperty("path").GetString());
        Assert.Equal(250, _es.Created);
        Assert.Equal(0, _es.Conflicts);
        Assert.True(_es.BulkRequests >= 3, "batches are bounded by BatchMaxEvents (100)");
        Assert.Null(pipeline.State.LastShipError);
        // Fully shipped segments are deleted; only the one being written remains.
        Assert.Equal([pipeline.State.Committed.Segment], SpoolFormat.ListSegments(pipeline.Directory));
    }

    [Fact]
    public async Task ElasticsearchDown_ThenBack_DeliversEveryEventExactlyOnce()
    {
        await _es.StopListeningAsync();
        await using var pipeline = Pipeline();
        await pipeline.StartAsync();
        var ids = pipeline.Write(300);
        await WaitForFailuresAsync(pipeline, 3);
        Assert.Contains("connection failed", pipeline.State.LastShipError!.Message, StringComparison.Ordinal);
        Assert.Equal(0, pipeline.Sink.Shipped);

        await _es.StartListeningAsync();
        await pipeline.WaitForShippedAsync(300);

        Assert.Equal(ids.Order(), _es.Documents.Keys.Order());
        Assert.Equal(300, _es.Created);
        Assert.Equal(0, _es.Conflicts);
        Assert.Null(pipeline.State.LastShipError);
    }

    [Theory]
    [InlineData(429)]
    [InlineData(503)]
    [InlineData(500)]
    public async Task WholeRequestErrors_AreRetriedWithBackoff_UntilDelivered(int status)
    {
        _es.FailNext(5, new EsFault.Status(status));
        await using var pipeline = Pipeline();
        await pipeline.StartAsync();
        var ids = pipeline.Write(150);

        await pipeline.WaitForShippedAsync(150);

        Assert.Equal(ids.Order(), _es.Documents.Keys.Order());
        Assert.Equal(5, _es.FaultsServed);
        Assert.True(_es.BulkRequests >= 5 + 2, $"{_es.BulkRequests} requests");
        Assert.True(pipeline.State.BulkFailures >= 5, $"{pipeline.State.BulkFailures} failed attempts");
        Assert.Equal(0, _es.Conflicts);
        Assert.Null(pipeline.State.LastShipError);
    }

    [Fact]
    public async Task ItemErrors_RetryOnlyRetryableItems_AndDeadLetterRefusedOnes()
    {
        await using var pipeline = Pipeline();
        await pipeline.StartSinkAsync();
        var ids = pipeline.Write(40);
        await pipeline.WaitForSpooledAsync(40);
        // One request with errors: true — per item 201, 429, 400, 503, 201, 429, ...
        _es.FailNext(1, new EsFault.ItemErrors(201, 429, 400, 503));

        await pipeline.StartShipperAsync();
        await pipeline.WaitForShippedAsync(30, deadLettered: 10);

        var refused = ids.Where((_, i) => i % 4 == 2).ToList();
        Assert.Equal(ids.Except(refused).Order(), _es.Documents.Keys.Order());
        Assert.Equal(30, pipeline.Sink.Shipped);
        Assert.Equal(10, pipeline.Sink.DeadLettered);
        // Nothing sent twice: 40 items, then only the 20 retryable ones again.
        Assert.Equal(60, _es.BulkItems);
        Assert.Equal(0, _es.Conflicts);

        var deadLetters = File.ReadAllLines(Path.Combine(pipeline.Directory, SpoolFormat.DeadLetterFileName))
            .Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(refused.Order(), deadLetters.Select(d => d.GetProperty("event").GetProperty("event").GetProperty("id").GetString()!).Order());
        Assert.All(deadLetters, d =>
        {
            Assert.Equal(400, d.GetProperty("error").GetProperty("status").GetInt32());
            Assert.Equal("mapper_parsing_exception", d.GetProperty("error").GetProperty("type").GetString());
            Assert.Contains("failed to parse field", d.GetProperty("error").GetProperty("reason").GetString(), StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task ConnectionResetMidBody_IsRetried_AndDeliveredOnce()
    {
        _es.FailNext(2, new EsFault.ResetMidBody(512));
        await using var pipeline = Pipeline();
        await pipeline.StartSinkAsync();
        var ids = pipeline.Write(100);
        await pipeline.WaitForSpooledAsync(100);
        await pipeline.StartShipperAsync();

        await pipeline.WaitForShippedAsync(100);

        Assert.Equal(ids.Order(), _es.Documents.Keys.Order());
        Assert.Equal(2, _es.FaultsServed);
        Assert.Equal(100, _es.Created);
        Assert.Equal(0, _es.Conflicts);
    }

    [Fact]
    public async Task ConnectionClosedWithoutAnswer_IsRetried_AndDeliveredOnce()
    {
        _es.FailNext(3, new EsFault.Down());
        await using var pipeline = Pipeline();
        await pipeline.StartAsync();
        var ids = pipeline.Write(100);

        await pipeline.WaitForShippedAsync(100);

        Assert.Equal(ids.Order(), _es.Documents.Keys.Order());
        Assert.Equal(3, _es.FaultsServed);
    }

    [Fact]
    public async Task SlowerThanRequestTimeout_IsRetried_AndTheReplayCountsAsDelivered()
    {
        await using var pipeline = Pipeline(es => WithTimeout(es, TimeSpan.FromMilliseconds(500)));
        await pipeline.StartSinkAsync();
        var ids = pipeline.Write(50);
        await pipeline.WaitForSpooledAsync(50);
        _es.FailNext(1, new EsFault.Slow(TimeSpan.FromSeconds(10)));

        await pipeline.StartShipperAsync();
        await pipeline.WaitForShippedAsync(50);

        Assert.Equal(ids.Order(), _es.Documents.Keys.Order());
        // The slow request indexed everything; its retry got 409 for each, which is "delivered".
        Assert.Equal(50, _es.Created);
        Assert.Equal(50, _es.Conflicts);
        Assert.Equal(2, _es.BulkRequests);
        Assert.Equal(50, pipeline.Sink.Shipped);
        Assert.Equal(0, pipeline.Sink.DeadLettered);
    }

    [Fact]
    public async Task TooLarge_SplitsTheBatch()
    {
        _es.FailNext(1, new EsFault.Status(413));
        await using var pipeline = Pipeline();
        await pipeline.StartSinkAsync();
        var ids = pipeline.Write(40);
        await pipeline.WaitForSpooledAsync(40);
        await pipeline.StartShipperAsync();

        await pipeline.WaitForShippedAsync(40);

        Assert.Equal(ids.Order(), _es.Documents.Keys.Order());
        // One refused request (not parsed), then two halves.
        Assert.Equal(3, _es.BulkRequests);
        Assert.Equal(40, _es.BulkItems);
    }

    [Fact]
    public async Task Restart_ResumesFromTheCheckpoint_WithoutResendingAcknowledgedEvents()
    {
        List<string> ids;
        await using (var first = Pipeline())
        {
            await first.StartAsync();
            ids = first.Write(200);
            await first.WaitForShippedAsync(200);

            await _es.StopListeningAsync();
            ids.AddRange(first.Write(300, first: 200));
            await first.WaitForSpooledAsync(500);
            await WaitForFailuresAsync(first, 1);
        }

        Assert.Equal(200, _es.DocumentCount);
        var checkpoint = SpoolCheckpoint.Load(_temp.Path, out _);
        Assert.NotNull(checkpoint);
        // The 300 events, and the closing digest of the first run.
        Assert.Equal(300, AuditSpoolTests.EventIds(AuditSpoolReader.ReadJsonLines(_temp.Path, unshippedOnly: true)).Count());

        await _es.StartListeningAsync();
        await using (var second = Pipeline())
        {
            await second.StartAsync();
            await second.WaitForShippedAsync(300);
        }

        Assert.Equal(ids.Order(), EventDocuments().Order());
        Assert.Equal(500 + Digests(), _es.Created);
        Assert.Equal(0, _es.Conflicts);
        Assert.Equal(500 + Digests(), _es.BulkItems);
        Assert.Empty(AuditSpoolReader.ReadJsonLines(_temp.Path, unshippedOnly: true));
    }

    [Fact]
    public async Task StoppedMidBatch_TheUnacknowledgedBatchIsReplayed_AsConflictsNotDuplicates()
    {
        List<string> ids;
        await using (var first = Pipeline(es => WithTimeout(es, TimeSpan.FromSeconds(30))))
        {
            await first.StartSinkAsync();
            ids = first.Write(60);
            await first.WaitForSpooledAsync(60);
            // Elasticsearch indexes the batch but the gateway stops before the answer arrives.
            _es.FailNext(1, new EsFault.Slow(TimeSpan.FromSeconds(30)));
            await first.StartShipperAsync();
            await _es.WaitForDocumentsAsync(60, AuditPipelineHarness.Deadline);
        }

        await using (var second = Pipeline())
        {
            await second.StartAsync();
            await second.WaitForShippedAsync(60);
        }

        Assert.Equal(ids.Order(), EventDocuments().Order());
        Assert.Equal(60 + Digests(), _es.Created);
        Assert.Equal(60, _es.Conflicts);
    }

    [Fact]
    public async Task Crash_RecoveringFromAByteCopyWithATornLastRecord_DeliversEveryWholeRecordOnce()
    {
        var live = _temp.Sub("live");
        var copy = _temp.Sub("copy");
        long spooledBeforeCopy;
        await using (var writer = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(live) is var o
                         ? AuditSpoolTests.With(o, segmentMaxBytes: 64 * 1024)
                         : null!))
        {
            await writer.StartSinkAsync();
            using var stopWriting = new CancellationTokenSource();
            var producer = Task.Run(async () =>
            {
                for (var n = 0; n < 20_000 && !stopWriting.IsCancellationRequested; n++)
                {
                    writer.Sink.TryWrite(AuditPipelineHarness.Event(n), AuditRoom.Security);
                    if (n % 20 == 0)
                    {
                        await Task.Yield();
                    }
                }
            });

            await writer.WaitForSpooledAsync(2000);
            spooledBeforeCopy = writer.State.Spooled;
            // "kill -9": whatever is on disk this instant is all there is; files copied byte for
            // byte while the writer keeps appending (the active segment may end mid-record).
            Directory.CreateDirectory(copy);
            // (The lock file is empty and held by the live writer; a dead process holds no lock.)
            foreach (var file in Directory.GetFiles(live).Where(f => Path.GetFileName(f) != SpoolFormat.LockFileName))
            {
                using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var target = File.Create(Path.Combine(copy, Path.GetFileName(file)));
                source.CopyTo(target);
            }

            stopWriting.Cancel();
            await producer;
        }

        // A segment created an instant before the copy may still be empty: a crash right then
        // is the same as one just before it was created.
        foreach (var empty in SpoolFormat.ListSegments(copy).Where(s => new FileInfo(SpoolFormat.SegmentPath(copy, s)).Length == 0))
        {
            File.Delete(SpoolFormat.SegmentPath(copy, empty));
        }

        // And the crash tore the last record: cut it at a random byte.
        var lastSegment = SpoolFormat.ListSegments(copy).Last();
        var lastPath = SpoolFormat.SegmentPath(copy, lastSegment);
        var lastRecord = AuditSpoolReader.ReadEntries(copy).Last(e => e.Segment == lastSegment);
        var recordEnd = lastRecord.Offset + System.Text.Encoding.UTF8.GetByteCount(lastRecord.Json) + SpoolFormat.Overhead;
        var seed = Environment.TickCount;
        var cut = new Random(seed).NextInt64(lastRecord.Offset + 1, recordEnd);
        using (var handle = File.OpenHandle(lastPath, FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(handle, cut);
        }

        var expected = AuditSpoolReader.ReadJsonLines(copy).Select(AuditSpoolTests.EventId).ToList();
        Assert.DoesNotContain(AuditSpoolTests.EventId(lastRecord.Json), expected);
        Assert.True(expected.Count >= spooledBeforeCopy - 1, $"seed {seed}: {expected.Count} whole records, {spooledBeforeCopy} were spooled before the copy");

        await using (var recovered = Pipeline(es => WithBatch(es, 1000), directory: copy))
        {
            await recovered.StartAsync();
            Assert.Equal(lastRecord.Offset, new FileInfo(lastPath).Length);
            await recovered.WaitForShippedAsync(expected.Count);
        }

        Assert.Equal(expected.Order(), _es.Documents.Keys.Order());
        Assert.Equal(expected.Count, _es.Created);
        Assert.Equal(0, _es.Conflicts);
    }

    [Fact]
    public async Task CorruptRecordInAnOlderSegment_IsSkippedAndNoted_AndShippingGoesOn()
    {
        List<string> ids;
        var options = AuditSpoolTests.With(AuditPipelineHarness.TestOptions(_temp.Path, _es.Url), segmentMaxBytes: 8 * 1024);
        await using (var spoolOnly = new AuditPipelineHarness(options))
        {
            await spoolOnly.StartSinkAsync();
            ids = spoolOnly.Write(100);
            await spoolOnly.WaitForSpooledAsync(100);
        }

        var first = SpoolFormat.ListSegments(_temp.Path)[0];
        var victim = AuditSpoolReader.ReadEntries(_temp.Path).Where(e => e.Segment == first).Skip(2).First();
        var path = SpoolFormat.SegmentPath(_temp.Path, first);
        var bytes = File.ReadAllBytes(path);
        bytes[victim.Offset + SpoolFormat.HeaderSize + 30] ^= 0xFF;
        File.WriteAllBytes(path, bytes);

        await using var pipeline = new AuditPipelineHarness(options);
        await pipeline.StartAsync();
        var more = pipeline.Write(10, first: 100);
        // 99 whole events of the first run and its closing digest, then 10 more.
        await pipeline.WaitForShippedAsync(110, deadLettered: 1);

        var lost = AuditSpoolTests.EventId(victim.Json);
        Assert.Equal(ids.Concat(more).Where(id => id != lost).Order(), EventDocuments().Order());
        var note = JsonDocument.Parse(Assert.Single(File.ReadAllLines(Path.Combine(_temp.Path, SpoolFormat.DeadLetterFileName)))).RootElement;
        Assert.Equal("spool_corruption", note.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(victim.Offset, note.GetProperty("spool").GetProperty("offset").GetInt64());
        Assert.Contains(pipeline.Logs.Entries, l => l.EventId.Id == 1935);
    }

    [Theory]
    [InlineData("ApiKey")]
    [InlineData("Basic")]
    public async Task Credentials_AreSentAsTheAuthorizationHeader(string scheme)
    {
        _es.RequiredAuthorization = scheme == "ApiKey" ? "ApiKey c2VjcmV0OmtleQ==" : "Basic " + Convert.ToBase64String("gateway:s3cret"u8);
        await using var pipeline = Pipeline(es => new AuditElasticsearchOptions
        {
            Url = es.Url,
            BatchMaxDelay = es.BatchMaxDelay,
            MinBackoff = es.MinBackoff,
            MaxBackoff = es.MaxBackoff,
            ApiKey = scheme == "ApiKey" ? "c2VjcmV0OmtleQ==" : null,
            Username = scheme == "Basic" ? "gateway" : null,
            Password = scheme == "Basic" ? "s3cret" : null,
        });
        await pipeline.StartAsync();
        var ids = pipeline.Write(10);

        await pipeline.WaitForShippedAsync(10);

        Assert.Equal(ids.Order(), _es.Documents.Keys.Order());
    }

    [Fact]
    public async Task WrongCredentials_AreRetried_AndReported_NeverDeadLettered()
    {
        _es.RequiredAuthorization = "ApiKey right";
        await using var pipeline = Pipeline();
        await pipeline.StartAsync();
        pipeline.Write(10);

        await WaitForFailuresAsync(pipeline, 2);

        Assert.Contains("HTTP 401", pipeline.State.LastShipError!.Message, StringComparison.Ordinal);
        Assert.Contains("security_exception", pipeline.State.LastShipError.Message, StringComparison.Ordinal);
        Assert.Equal(0, pipeline.Sink.DeadLettered);
        Assert.Equal(0, _es.DocumentCount);
    }

    [Fact]
    public async Task WithoutAnElasticsearchUrl_EventsStayInTheSpool()
    {
        await using var pipeline = Pipeline(url: null);
        await pipeline.StartAsync();
        var ids = pipeline.Write(30);
        await pipeline.WaitForSpooledAsync(30);
        await pipeline.StopAsync();

        Assert.False(pipeline.Shipper.Enabled);
        Assert.Equal(0, _es.BulkRequests);
        Assert.Equal(ids, AuditSpoolTests.EventIds(AuditSpoolReader.ReadJsonLines(_temp.Path)));
        Assert.Contains(pipeline.Logs.Entries, l => l.EventId.Id == 1931);
    }

    [Theory]
    [InlineData(1, 10, 10)]
    [InlineData(2, 10, 20)]
    [InlineData(5, 10, 160)]
    [InlineData(30, 10, 1000)]
    public void Backoff_IsFullJitter_BetweenMinimumAndTheCappedExponential(int attempt, int minMs, int ceilingMs)
    {
        var min = TimeSpan.FromMilliseconds(minMs);
        var max = TimeSpan.FromMilliseconds(1000);
        Assert.Equal(min, ElasticsearchShipper.Backoff(attempt, min, max, 0));
        Assert.Equal(TimeSpan.FromMilliseconds(ceilingMs), ElasticsearchShipper.Backoff(attempt, min, max, 1));
        Assert.InRange(ElasticsearchShipper.Backoff(attempt, min, max, 0.5), min, TimeSpan.FromMilliseconds(ceilingMs));
    }

    private AuditPipelineHarness Pipeline(Func<AuditElasticsearchOptions, AuditElasticsearchOptions>? es = null, string? directory = null) =>
        new(AuditPipelineHarness.TestOptions(directory ?? _temp.Path, _es.Url, es));

    /// <summary>The ids of the documents Elasticsearch holds that are events, not the writer's digests.</summary>
    private IEnumerable<string> EventDocuments() => _es.Documents.Where(d => !AuditSpoolTests.IsDigest(d.Value)).Select(d => d.Key);

    private int Digests() => _es.Documents.Values.Count(AuditSpoolTests.IsDigest);

    private AuditPipelineHarness Pipeline(Uri? url) => new(AuditPipelineHarness.TestOptions(_temp.Path, url));

    private static AuditElasticsearchOptions WithTimeout(AuditElasticsearchOptions es, TimeSpan timeout) => new()
    {
        Url = es.Url,
        BatchMaxEvents = es.BatchMaxEvents,
        BatchMaxDelay = es.BatchMaxDelay,
        MinBackoff = es.MinBackoff,
        MaxBackoff = es.MaxBackoff,
        RequestTimeout = timeout,
    };

    private static AuditElasticsearchOptions WithBatch(AuditElasticsearchOptions es, int events) => new()
    {
        Url = es.Url,
        BatchMaxEvents = events,
        BatchMaxDelay = es.BatchMaxDelay,
        MinBackoff = es.MinBackoff,
        MaxBackoff = es.MaxBackoff,
        RequestTimeout = es.RequestTimeout,
    };

    private static async Task WaitForFailuresAsync(AuditPipelineHarness pipeline, long failures) =>
        Assert.True(
            await pipeline.State.Shipping.WaitUntilAsync(() => pipeline.State.BulkFailures >= failures, AuditPipelineHarness.Deadline, TimeProvider.System),
            $"{pipeline.State.BulkFailures} failed attempts");
}
