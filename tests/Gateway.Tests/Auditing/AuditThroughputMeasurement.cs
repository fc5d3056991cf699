using System.Diagnostics;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Gateway.Tests.Auditing;

/// <summary>
/// A measurement, not a test (no timing assertions; it checks only that nothing was lost).
/// With the default options (fsync every 200 ms, batches of 1000 events) it reports:
/// <list type="number">
/// <item>the spool writer alone: a queue preloaded with events, drained to disk;</item>
/// <item>the shipper alone: a spool preloaded with events, shipped to the Elasticsearch double;</item>
/// <item>end to end: <c>TryWrite</c> to acknowledged <c>_bulk</c>, sustained for two seconds.</item>
/// </list>
/// Run: <c>dotnet test -c Release --filter Category=Measure --logger "console;verbosity=detailed"</c>.
/// The double shares the machine's cores and parses every document, so shipping figures are
/// a floor, not what a real cluster takes.
/// </summary>
[Trait("Category", "Measure")]
public sealed class AuditThroughputMeasurement(ITestOutputHelper output)
{
    private const int Preloaded = 50_000;
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Throughput_SpoolWriter_Shipper_AndEndToEnd()
    {
        using var temp = new TempDirectory();
        await using var es = await ElasticsearchDouble.StartAsync();
        var events = Enumerable.Range(0, Preloaded).Select(i => AuditPipelineHarness.Event(i)).ToList();

        // The writer's code (serializer, canonical bytes, chain hash) compiled first: a cold start
        // drains its first 50 000 events at about a quarter of the steady rate while the JIT works.
        await using (var warmUp = new AuditPipelineHarness(Production(temp.Sub("warm-up"), null, queueCapacity: Preloaded)))
        {
            foreach (var e in events)
            {
                Assert.True(warmUp.Sink.TryWrite(e with { Id = AuditEvent.NewId(e.Timestamp) }, AuditRoom.Security));
            }

            await warmUp.StartSinkAsync();
            await warmUp.WaitForSpooledAsync(Preloaded);
        }

        // 1 + 2: preload the queue, time the writer; then time the shipper over that spool.
        var options = Production(temp.Sub("preloaded"), es.Url, queueCapacity: Preloaded);
        await using (var pipeline = new AuditPipelineHarness(options))
        {
            foreach (var e in events)
            {
                Assert.True(pipeline.Sink.TryWrite(e, AuditRoom.Security));
            }

            var clock = Stopwatch.StartNew();
            await pipeline.StartSinkAsync();
            await pipeline.WaitForSpooledAsync(Preloaded);
            Report("spool writer (queue -> segment, fsync interval)", Preloaded, clock.Elapsed);

            clock.Restart();
            await pipeline.StartShipperAsync();
            await pipeline.WaitForShippedAsync(Preloaded);
            Report($"shipper (spool -> acknowledged _bulk, {es.BulkRequests} requests)", Preloaded, clock.Elapsed);
            Assert.Equal(Preloaded, es.DocumentCount);
        }

        // 3: sustained, the producer never more than 20 000 events ahead of what is shipped.
        await using var live = new AuditPipelineHarness(Production(temp.Sub("live"), es.Url));
        await live.StartAsync();
        var before = es.DocumentCount;
        var (shipped, took) = await DriveAsync(live, 20_000);
        Report("end to end (TryWrite -> acknowledged _bulk)", shipped, took);
        await live.WaitForShippedAsync(live.Sink.Accepted);
        Assert.Equal(live.Sink.Accepted, es.DocumentCount - before);
        Assert.Equal(0, live.Sink.Dropped);
    }

    private void Report(string what, long events, TimeSpan elapsed) =>
        output.WriteLine($"{what}: {events / elapsed.TotalSeconds:N0} events/s ({events} in {elapsed.TotalSeconds:N2} s, {Environment.ProcessorCount} cores)");

    private static AuditOptions Production(string directory, Uri? url, int queueCapacity = 10_000) => new()
    {
        SpoolDirectory = directory,
        QueueCapacity = queueCapacity,
        FsyncPolicy = AuditFsyncPolicy.Interval,
        Elasticsearch = new AuditElasticsearchOptions { Url = url?.ToString() },
    };

    /// <summary>
    /// Writes as fast as the pipeline keeps up — at most <paramref name="backlog"/> events ahead
    /// of what is shipped, never past half the queue, so nothing is dropped — for the window;
    /// returns how many were shipped in what time.
    /// </summary>
    private static async Task<(long Events, TimeSpan Elapsed)> DriveAsync(AuditPipelineHarness pipeline, long backlog)
    {
        var half = pipeline.Options.QueueCapacity / 2;
        var n = 0;
        var start = pipeline.State.Shipped;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Window)
        {
            var moved = pipeline.State.Shipping.WhenPulsed;
            while (pipeline.Sink.QueueLength < half && pipeline.Sink.Accepted - pipeline.State.Shipped < backlog)
            {
                Assert.True(pipeline.Sink.TryWrite(AuditPipelineHarness.Event(n++), AuditRoom.Security));
            }

            await moved.WaitAsync(AuditPipelineHarness.Deadline);
        }

        return (pipeline.State.Shipped - start, clock.Elapsed);
    }
}
