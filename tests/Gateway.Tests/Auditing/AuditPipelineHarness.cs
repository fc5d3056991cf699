using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Auditing;

/// <summary>
/// The real sink and shipper on a private spool directory, started and stopped the way the
/// host does (StartAsync/StopAsync). Waits are on the pipeline's own progress signals, with
/// deadlines; nothing sleeps.
/// </summary>
internal sealed class AuditPipelineHarness : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private bool _stopped = true;

    public AuditPipelineHarness(AuditOptions options, TimeProvider? time = null, CapturingLoggerProvider? logs = null)
    {
        Options = options;
        Time = time ?? TimeProvider.System;
        Logs = logs ?? new CapturingLoggerProvider();
        var loggers = LoggerFactory.Create(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
        State = new AuditSpoolState();
        SigningKey = new AuditSigningKey(Microsoft.Extensions.Options.Options.Create(options), loggers.CreateLogger<AuditSigningKey>());
        Sink = new SpoolingAuditSink(Microsoft.Extensions.Options.Options.Create(options), State, Time, SigningKey, loggers.CreateLogger<SpoolingAuditSink>());
        Shipper = new ElasticsearchShipper(Microsoft.Extensions.Options.Options.Create(options), State, Time, loggers.CreateLogger<ElasticsearchShipper>());
    }

    public AuditOptions Options { get; }

    public TimeProvider Time { get; }

    public CapturingLoggerProvider Logs { get; }

    public AuditSpoolState State { get; }

    public SpoolingAuditSink Sink { get; }

    /// <summary>The key the sink signs its digests with (the configured one, or generated).</summary>
    public AuditSigningKey SigningKey { get; }

    public ElasticsearchShipper Shipper { get; }

    public string Directory => Sink.Directory;

    /// <summary>Options for tests: small, fast batches and backoffs; shipping to <paramref name="elasticsearch"/> if given.</summary>
    public static AuditOptions TestOptions(string directory, Uri? elasticsearch = null, Func<AuditElasticsearchOptions, AuditElasticsearchOptions>? es = null) => new()
    {
        SpoolDirectory = directory,
        QueueCapacity = 10_000,
        FsyncPolicy = AuditFsyncPolicy.Interval,
        Elasticsearch = (es ?? (e => e))(new AuditElasticsearchOptions
        {
            Url = elasticsearch?.ToString(),
            BatchMaxEvents = 100,
            BatchMaxDelay = TimeSpan.FromMilliseconds(20),
            MinBackoff = TimeSpan.FromMilliseconds(10),
            MaxBackoff = TimeSpan.FromMilliseconds(100),
            RequestTimeout = TimeSpan.FromSeconds(5),
        }),
    };

    public static AuditEvent Event(int n, DateTimeOffset? at = null) => new()
    {
        Timestamp = at ?? DateTimeOffset.UtcNow,
        Category = "web",
        Action = "support-request",
        UserName = "jill$john",
        UserId = "jill",
        TargetUserName = "john",
        Tenant = n % 2 == 0 ? "acme" : "globex",
        HttpMethod = "GET",
        UrlPath = $"/api/orders/{n}",
        StatusCode = 200,
        SourceIp = "127.0.0.1",
        Details = new Dictionary<string, string?> { ["n"] = n.ToString(System.Globalization.CultureInfo.InvariantCulture) },
    };

    public async Task StartAsync()
    {
        await StartSinkAsync();
        await StartShipperAsync();
    }

    /// <summary>Only the queue and spool writer: events pile up in the spool until <see cref="StartShipperAsync"/>.</summary>
    public async Task StartSinkAsync()
    {
        _stopped = false;
        await Sink.StartAsync(CancellationToken.None);
        await State.Ready.WaitAsync(Deadline);
    }

    public Task StartShipperAsync() => Shipper.StartAsync(CancellationToken.None);

    /// <summary>As the host stops: the shipper first, then the sink drains into the spool.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        using var timeout = new CancellationTokenSource(Deadline);
        await Shipper.StopAsync(timeout.Token);
        await Sink.StopAsync(timeout.Token);
    }

    /// <summary>Writes <paramref name="count"/> events (ids returned); every write must be accepted.</summary>
    public List<string> Write(int count, int first = 0)
    {
        var ids = new List<string>(count);
        for (var i = first; i < first + count; i++)
        {
            var e = Event(i);
            Assert.True(Sink.TryWrite(e, AuditRoom.Security), $"event {i} refused (dropped {Sink.Dropped}, queue {Sink.QueueLength})");
            ids.Add(e.Id);
        }

        return ids;
    }

    public async Task WaitForSpooledAsync(long count)
    {
        Assert.True(await State.Written.WaitUntilAsync(() => State.Spooled >= count, Deadline, TimeProvider.System),
            $"spooled {State.Spooled} of {count}");
    }

    /// <summary>Until delivered + dead-lettered reach <paramref name="count"/> and the checkpoint has caught up with the spool.</summary>
    public async Task WaitForShippedAsync(long count, long deadLettered = 0)
    {
        Assert.True(
            await State.Shipping.WaitUntilAsync(() => State.Shipped >= count && State.DeadLettered >= deadLettered && CaughtUp(), Deadline, TimeProvider.System),
            $"shipped {State.Shipped} of {count}, dead-lettered {State.DeadLettered} of {deadLettered}, checkpoint {Shipper.Checkpoint}, committed {State.Committed}; last error: {State.LastShipError?.Message}");
    }

    public bool CaughtUp()
    {
        var (segment, length) = State.Committed;
        return Shipper.Checkpoint.CompareTo(new SpoolCheckpoint(segment, length)) >= 0;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Shipper.Dispose();
        Sink.Dispose();
        SigningKey.Dispose();
    }
}

/// <summary>A private temporary directory, deleted afterwards.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Directory.CreateTempSubdirectory("gateway-audit-").FullName;
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
