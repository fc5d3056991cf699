using Microsoft.Extensions.Time.Testing;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gateway.Tests.Auditing;

public sealed class AuditHealthCheckTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Healthy_WithTheCounters()
    {
        await using var pipeline = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(_temp.Path));
        await pipeline.StartSinkAsync();
        pipeline.Write(3);
        await pipeline.WaitForSpooledAsync(3);

        var result = await CheckAsync(pipeline);

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal(3L, result.Data["accepted"]);
        Assert.Equal(3L, result.Data["spooled"]);
        Assert.Equal(0L, result.Data["dropped"]);
        Assert.Equal("disabled", result.Data["shipping"]);
        Assert.True((long)result.Data["spoolBytes"] > 0);
        Assert.Equal(true, result.Data["writerHealthy"]);
        // The longest write and fsync so far (real milliseconds; a local disk answers well within a second).
        Assert.InRange((long)result.Data["writeMaxMs"], 0, 60_000);
        Assert.InRange((long)result.Data["fsyncMaxMs"], 0, 60_000);
    }

    [Fact]
    public void LongestWriteAndFsync_AreKeptApart_AndOnlyEverGrow()
    {
        var state = new AuditSpoolState();

        state.RecordWrite(TimeSpan.FromMilliseconds(40), fsync: false);
        state.RecordWrite(TimeSpan.FromMilliseconds(700), fsync: true);
        state.RecordWrite(TimeSpan.FromMilliseconds(10), fsync: false);
        state.RecordWrite(TimeSpan.FromMilliseconds(300), fsync: true);

        Assert.Equal(40, state.WriteMaxMs);
        Assert.Equal(700, state.FsyncMaxMs);
    }

    [Fact]
    public async Task Drops_AreDegraded_ForTheRecentWindow()
    {
        var time = new FakeTimeProvider(TestClock.Start);
        await using var pipeline = new AuditPipelineHarness(AuditSpoolTests.With(AuditPipelineHarness.TestOptions(_temp.Path), queueCapacity: 1), time);
        pipeline.Sink.TryWrite(AuditPipelineHarness.Event(1), AuditRoom.Security);
        pipeline.Sink.TryWrite(AuditPipelineHarness.Event(2), AuditRoom.Security);

        var degraded = await CheckAsync(pipeline, time);
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Contains("1 event(s) dropped", degraded.Description, StringComparison.Ordinal);
        Assert.Contains("queue full", degraded.Description, StringComparison.Ordinal);

        await pipeline.StartSinkAsync();
        await pipeline.WaitForSpooledAsync(1);
        time.Advance(AuditHealthCheck.RecentWindow);
        var later = await CheckAsync(pipeline, time);
        Assert.Equal(HealthStatus.Healthy, later.Status);
        Assert.Equal(1L, later.Data["dropped"]);
    }

    [Fact]
    public async Task ShippingFailing_IsDegraded_WithTheError()
    {
        await using var es = await ElasticsearchDouble.StartAsync();
        await es.StopListeningAsync();
        await using var pipeline = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(_temp.Path, es.Url));
        await pipeline.StartAsync();
        pipeline.Write(1);
        Assert.True(await pipeline.State.Shipping.WaitUntilAsync(() => pipeline.State.LastShipError is not null, AuditPipelineHarness.Deadline, TimeProvider.System));

        var result = await CheckAsync(pipeline);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("shipping to Elasticsearch failing", result.Description, StringComparison.Ordinal);
        Assert.Contains("connection failed", (string)result.Data["lastShipError"], StringComparison.Ordinal);
        Assert.Equal("elasticsearch", result.Data["shipping"]);
    }

    [Fact]
    public async Task WriterThatCannotWrite_IsUnhealthy_AndSupportCallsAreRefused()
    {
        var blocker = _temp.Sub("not-a-directory");
        await File.WriteAllTextAsync(blocker, "");
        await using var pipeline = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(Path.Combine(blocker, "spool")));

        await pipeline.Sink.StartAsync(CancellationToken.None);
        Assert.True(await pipeline.State.Written.WaitUntilAsync(() => !pipeline.State.IsWriterHealthy, AuditPipelineHarness.Deadline, TimeProvider.System));

        var result = await CheckAsync(pipeline);
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("cannot open the spool", (string)result.Data["writerError"], StringComparison.Ordinal);
        Assert.Null(pipeline.Sink.TryReserve());
    }

    private static Task<HealthCheckResult> CheckAsync(AuditPipelineHarness pipeline, TimeProvider? time = null) =>
        new AuditHealthCheck(pipeline.Sink, Microsoft.Extensions.Options.Options.Create(pipeline.Options), time ?? TimeProvider.System)
            .CheckHealthAsync(new HealthCheckContext());
}
