using System.Diagnostics;
using System.Text.Json;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Gateway.Tests.Auditing;

/// <summary>
/// Durable writes and recovery on the real spool writer: group commit (one fsync for every durable
/// write pending together), the budget, the refusal when there is no room, the segments kept while
/// a call is open, and the outcome-unknown event a restart writes for a call left unfinished —
/// once, however often the gateway restarts.
/// </summary>
public sealed class AuditWriteAheadTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task DurableWritesPendingTogether_ShareOneFsync()
    {
        await using var pipeline = new AuditPipelineHarness(AuditIntegrityTests.Options(_temp.Path));
        // The writer is not running yet: all 100 are pending when it takes its first burst.
        var writes = Enumerable.Range(0, 100).Select(i => pipeline.Sink.TryWriteDurableAsync(Started(i), Budget, CancellationToken.None).AsTask()).ToList();
        Assert.All(writes, w => Assert.False(w.IsCompleted));

        await pipeline.StartSinkAsync();
        var outcomes = await Task.WhenAll(writes);

        Assert.All(outcomes, o => Assert.Equal(DurableWrite.Durable, o));
        Assert.Equal(100, pipeline.State.WriteAheadRecords);
        Assert.Equal(1, pipeline.State.WriteAheadSyncs);
        output.WriteLine($"100 durable writes pending together: {pipeline.State.WriteAheadSyncs} fsync");
    }

    [Fact]
    public async Task ConcurrentDurableWrites_AreGroupCommitted()
    {
        const int Writers = 32;
        const int Each = 25;
        await using var pipeline = new AuditPipelineHarness(AuditIntegrityTests.Options(_temp.Path));
        await pipeline.StartSinkAsync();
        var clock = Stopwatch.StartNew();

        // Each writer waits for its write to be durable before the next, as a request would.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var results = new List<DurableWrite>();
            for (var i = 0; i < Each; i++)
            {
                results.Add(await pipeline.Sink.TryWriteDurableAsync(Started((w * 1000) + i), Budget, CancellationToken.None));
            }

            return results;
        })));

        var records = pipeline.State.WriteAheadRecords;
        var syncs = pipeline.State.WriteAheadSyncs;
        Assert.All(outcomes.SelectMany(o => o), o => Assert.Equal(DurableWrite.Durable, o));
        Assert.Equal(Writers * Each, records);
        Assert.True(syncs * 2 <= records, $"{syncs} fsyncs for {records} durable writes: no group commit");
        output.WriteLine($"{records} durable writes from {Writers} concurrent writers in {clock.ElapsedMilliseconds} ms: {syncs} fsyncs " +
            $"({(double)records / syncs:F1} writes per fsync), longest wait {pipeline.State.WriteAheadWaitMaxMs} ms, longest fsync {pipeline.State.FsyncMaxMs} ms");
    }

    [Fact]
    public async Task DurableWrite_NotConfirmedWithinTheBudget_TimesOut_OnTheInjectedClock()
    {
        var clock = new FakeTimeProvider(TestClock.Start);
        await using var pipeline = new AuditPipelineHarness(AuditIntegrityTests.Options(_temp.Path), clock);
        var pending = pipeline.Sink.TryWriteDurableAsync(Started(1), TimeSpan.FromSeconds(2), CancellationToken.None).AsTask();

        clock.Advance(TimeSpan.FromSeconds(1.9));
        Assert.False(pending.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(0.1));

        Assert.Equal(DurableWrite.TimedOut, await pending.WaitAsync(Budget));
    }

    [Fact]
    public async Task DurableWrite_WithNoRoomInTheQueue_IsRefusedAtOnce()
    {
        var options = AuditIntegrityTests.Options(_temp.Path);
        await using var pipeline = new AuditPipelineHarness(AuditSpoolTests.With(options, queueCapacity: 1));
        Assert.NotNull(pipeline.Sink.TryReserve());

        Assert.Equal(DurableWrite.Refused, await pipeline.Sink.TryWriteDurableAsync(Started(1), Budget, CancellationToken.None));
    }

    [Fact]
    public async Task Restart_RecordsACallLeftUnfinished_AsUnknown_OnceOnly()
    {
        var open = Started(1);
        var completed = Started(2);
        await using (var first = new AuditPipelineHarness(AuditIntegrityTests.Options(_temp.Path)))
        {
            await first.StartSinkAsync();
            Assert.Equal(DurableWrite.Durable, await first.Sink.TryWriteDurableAsync(open, Budget, CancellationToken.None));
            Assert.Equal(DurableWrite.Durable, await first.Sink.TryWriteDurableAsync(completed, Budget, CancellationToken.None));
            first.Sink.TryWrite(Completion(completed), AuditRoom.Security);
            await first.WaitForSpooledAsync(3);
        }

        var logs = new CapturingLoggerProvider();
        await using (var second = new AuditPipelineHarness(AuditIntegrityTests.Options(_temp.Path), logs: logs))
        {
            await second.StartSinkAsync();
            await second.WaitForSpooledAsync(1);
        }

        var crashed = Assert.Single(Events(), e => AuditTrail.Get(e, "event.reason") == AuditActions.CrashedReason);
        Assert.Equal(AuditEvent.DerivedId(open.Id, AuditActions.CrashedReason), AuditTrail.Get(crashed, "event.id"));
        Assert.Equal(open.Id, AuditTrail.Get(crashed, "gateway.support.started_id"));
        Assert.Equal(AuditActions.SupportRequest, AuditTrail.Get(crashed, "event.action"));
        Assert.Equal("unknown", AuditTrail.Get(crashed, "event.outcome"));
        foreach (var field in new[] { "@timestamp", "user.name", "user.id", "user.target.name", "organization.id", "http.request.method", "url.path", "url.query",
                     "source.ip", "trace.id", "gateway.route.id", "gateway.route.class", "gateway.support.grant_ids", "gateway.support.session_id" })
        {
            Assert.Equal(AuditTrail.Get(Started(open), field), AuditTrail.Get(crashed, field));
        }

        Assert.Single(logs.Entries, l => l.EventId.Id == 1919);
        Assert.Single(logs.Entries, l => l.EventId.Id == 1918 && l.Message.Contains(open.Id, StringComparison.Ordinal));

        var again = new CapturingLoggerProvider();
        await using (var third = new AuditPipelineHarness(AuditIntegrityTests.Options(_temp.Path), logs: again))
        {
            await third.StartSinkAsync();
            third.Write(1);
            await third.WaitForSpooledAsync(1);
        }

        Assert.DoesNotContain(again.Entries, l => l.EventId.Id is 1918 or 1919);
        Assert.Single(Events(), e => AuditTrail.Get(e, "event.reason") == AuditActions.CrashedReason);
    }

    [Fact]
    public async Task OpenCall_KeepsItsRecordsSegment_ThroughShipping_AndRecoveryFindsItThere()
    {
        await using var es = await ElasticsearchDouble.StartAsync();
        var options = AuditSpoolTests.With(AuditIntegrityTests.Options(_temp.Path, elasticsearch: es.Url), segmentMaxBytes: 4096);
        var open = Started(1);
        long pinned;
        await using (var first = new AuditPipelineHarness(options))
        {
            await first.StartAsync();
            Assert.Equal(DurableWrite.Durable, await first.Sink.TryWriteDurableAsync(open, Budget, CancellationToken.None));
            pinned = AuditSpoolReader.ReadEntries(_temp.Path).Single(e => e.Json.Contains(open.Id, StringComparison.Ordinal)).Segment;
            first.Write(100);
            await first.WaitForSpooledAsync(101);
            await first.WaitForShippedAsync(101);

            // Shipped segments are deleted, but not the one holding the open call's record.
            var segments = SpoolFormat.ListSegments(_temp.Path);
            Assert.Contains(pinned, segments);
            Assert.DoesNotContain(pinned + 1, segments);
            Assert.True(first.State.IsPinned(pinned));
        }

        // The call never completed: the next start reads the record from the kept segment.
        await using (var second = new AuditPipelineHarness(options))
        {
            await second.StartAsync();
            var crashed = await WaitForDocumentAsync(es, d => AuditTrail.Get(d, "gateway.support.started_id") == open.Id);
            Assert.Equal("/api/settings/theme", AuditTrail.Get(crashed, "url.path"));
            Assert.Equal("unknown", AuditTrail.Get(crashed, "event.outcome"));

            // Once its event is written the segment is released, and goes with the next shipped batch.
            second.Write(60, first: 1000);
            await second.WaitForShippedAsync(60);
            Assert.False(second.State.IsPinned(pinned));
            second.Write(60, first: 2000);
            await second.WaitForShippedAsync(120);
            Assert.DoesNotContain(pinned, SpoolFormat.ListSegments(_temp.Path));
        }
    }

    [Fact]
    public async Task CompletedCall_ReleasesItsSegment()
    {
        await using var pipeline = new AuditPipelineHarness(AuditIntegrityTests.Options(_temp.Path));
        await pipeline.StartSinkAsync();
        var started = Started(1);
        Assert.Equal(DurableWrite.Durable, await pipeline.Sink.TryWriteDurableAsync(started, Budget, CancellationToken.None));
        var segment = pipeline.State.Committed.Segment;
        Assert.True(pipeline.State.IsPinned(segment));

        pipeline.Sink.TryWrite(Completion(started), AuditRoom.Security);
        await pipeline.WaitForSpooledAsync(2);

        Assert.False(pipeline.State.IsPinned(segment));
    }

    private IReadOnlyList<JsonElement> Events() => new AuditTrail(_temp.Path).Events();

    private static async Task<JsonElement> WaitForDocumentAsync(ElasticsearchDouble es, Func<JsonElement, bool> match)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var found = es.Documents.Values.Select(d => JsonDocument.Parse(d).RootElement).FirstOrDefault(match);
            if (found.ValueKind == JsonValueKind.Object)
            {
                return found;
            }

            Assert.True(deadline.Elapsed < Budget, "no such document was shipped");
            await es.WaitForDocumentsAsync(es.DocumentCount + 1, Budget);
        }
    }

    /// <summary>A write-ahead record as the gateway writes it for a support PUT.</summary>
    internal static AuditEvent Started(int n) => new()
    {
        Timestamp = DateTimeOffset.UtcNow,
        Category = "web",
        Action = AuditActions.SupportRequestStarted,
        Outcome = null,
        HttpMethod = "PUT",
        UrlPath = "/api/settings/theme",
        UrlQuery = "n=" + n,
        SourceIp = "127.0.0.1",
        TraceId = "4bf92f3577b34da6a3ce929d0e0e4736",
        RouteId = "acme-settings",
        RouteClass = "config",
        Tenant = "acme",
        UserName = "jill$john",
        UserId = "jill",
        TargetUserName = "john",
        GrantIds = ["g1"],
        Isolation = "denyData",
        Decision = "allowed",
        SessionId = "s" + n,
    };

    private static AuditEvent Completion(AuditEvent started) => started with
    {
        Id = AuditEvent.NewId(started.Timestamp),
        Action = AuditActions.SupportRequest,
        Outcome = "success",
        StatusCode = 200,
        StartedId = started.Id,
    };

    private static JsonElement Started(AuditEvent e) => JsonDocument.Parse(EcsAuditSerializer.Serialize(e)).RootElement;
}
