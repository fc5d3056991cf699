using System.Text;
using Microsoft.Extensions.Options;

namespace Gateway.Auditing;

/// <summary>
/// Ships the spool to Elasticsearch with the <c>_bulk</c> API (docs/audit.md, "Shipping"):
/// reads records from the durable checkpoint on, sends batches bounded by count, bytes and
/// time as <c>create</c> actions with the event id as <c>_id</c> (a replay gets 409, which
/// counts as delivered), retries whole requests on 429/5xx/timeouts/connection errors and
/// single items on per-item 429/5xx, with exponential backoff and full jitter, dead-letters
/// items refused for good, and moves the checkpoint only past records that are done. Does
/// nothing when <c>Audit:Elasticsearch:Url</c> is empty.
/// The pieces: <see cref="SpoolCursor"/> reads the spool and moves the checkpoint,
/// <see cref="BulkClient"/> sends one <c>_bulk</c> request; this loop batches, retries and decides
/// what is dead-lettered.
/// </summary>
internal sealed partial class ElasticsearchShipper : BackgroundService
{
    private readonly AuditElasticsearchOptions _es;
    private readonly AuditSpoolState _state;
    private readonly TimeProvider _time;
    private readonly ILogger<ElasticsearchShipper> _logger;
    private readonly SpoolCursor _cursor;
    private readonly Telemetry.GatewayMetrics? _metrics;
    private BulkClient? _bulk;

    public ElasticsearchShipper(IOptions<AuditOptions> options, AuditSpoolState state, TimeProvider time, ILogger<ElasticsearchShipper> logger, Telemetry.GatewayMetrics? metrics = null)
    {
        _metrics = metrics;
        _es = options.Value.Elasticsearch;
        _state = state;
        _time = time;
        _logger = logger;
        _cursor = new SpoolCursor(Path.GetFullPath(options.Value.SpoolDirectory), state, time, logger);
    }

    public bool Enabled => !string.IsNullOrWhiteSpace(_es.Url);

    /// <summary>Where shipping stands: every record before it is delivered or dead-lettered.</summary>
    public SpoolCheckpoint Checkpoint => _cursor.Published;

    public override void Dispose()
    {
        base.Dispose();
        if (ExecuteTask is null || ExecuteTask.IsCompleted)
        {
            _cursor.Dispose();
            _bulk?.Dispose();
        }
    }

    /// <summary>Full-jitter exponential backoff: uniform between the minimum and min(max, minimum·2^(attempt-1)).</summary>
    internal static TimeSpan Backoff(int attempt, TimeSpan min, TimeSpan max, double random)
    {
        var ceiling = min.Ticks * Math.Pow(2, Math.Clamp(attempt - 1, 0, 30));
        var cap = Math.Min(max.Ticks, ceiling);
        return TimeSpan.FromTicks(min.Ticks + (long)((cap - min.Ticks) * random));
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Said here rather than in ExecuteAsync: .NET 10 runs ExecuteAsync on the thread pool, and a
        // host stopped at once may cancel it before it runs, leaving the operator without the warning.
        if (!Enabled)
        {
            LogDisabled(_logger, _cursor.Directory);
            return Task.CompletedTask;
        }

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }

        try
        {
            await _state.Ready.WaitAsync(stoppingToken);
            _bulk = new BulkClient(_es, _time);
            _cursor.Start();
            var start = _cursor.Checkpoint;
            LogStarted(_logger, new Uri(_es.Url!).GetLeftPart(UriPartial.Path), _es.Index, SpoolFormat.SegmentFileName(start.Segment), start.Offset);
            var failures = 0;
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await ShipOneBatchAsync(stoppingToken);
                    failures = 0;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // The spool, checkpoint or dead-letter file could not be read or written:
                    // nothing moved, so the batch is simply read again after a pause.
                    failures++;
                    _cursor.CloseReader();
                    _state.SetShipError($"spool I/O failed: {ex.Message}", _time.GetUtcNow());
                    LogSpoolIoFailed(_logger, ex, failures);
                    await BackoffAsync(failures, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: an unacknowledged batch is sent again after restart (409s for what arrived).
        }
        catch (Exception ex)
        {
            _state.SetShipError($"shipper stopped: {ex.Message}", _time.GetUtcNow());
            LogCrashed(_logger, ex);
        }
        finally
        {
            _cursor.CloseReader();
        }
    }

    /// <summary>
    /// Reads a batch (until it is full, or <c>BatchMaxDelay</c> after its first record), delivers
    /// it and completes it. Progress without events (into the next segment, past corrupt bytes)
    /// completes at once.
    /// </summary>
    private async Task ShipOneBatchAsync(CancellationToken stopping)
    {
        var batch = new SpoolBatch(_es.BatchMaxEvents, _es.BatchMaxBytes, _bulk!.ActionOverhead);
        var position = _cursor.Checkpoint;
        long? firstSeen = null;
        while (true)
        {
            var written = _state.Written.WhenPulsed;
            position = _cursor.Fill(batch, position);
            if (batch.IsFull)
            {
                break;
            }

            if (batch.Items.Count == 0)
            {
                if (position != _cursor.Checkpoint || batch.Corrupt.Count > 0)
                {
                    // Progress without events: crossed into the next segment, or skipped corrupt bytes.
                    _cursor.Complete(batch, position);
                    return;
                }

                await written.WaitAsync(stopping);
                continue;
            }

            firstSeen ??= _time.GetTimestamp();
            var remaining = _es.BatchMaxDelay - _time.GetElapsedTime(firstSeen.Value);
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            try
            {
                await written.WaitAsync(remaining, _time, stopping);
            }
            catch (TimeoutException)
            {
                // BatchMaxDelay reached: send what there is.
            }
        }

        await DeliverAsync(batch, stopping);
        _cursor.Complete(batch, position);
    }

    /// <summary>Sends the batch until every item is delivered or dead-lettered (or the shipper stops).</summary>
    private async Task DeliverAsync(SpoolBatch batch, CancellationToken stopping)
    {
        var pending = batch.Items.All();
        var attempt = 0;
        var sendLimit = pending.Count;
        while (pending.Count > 0)
        {
            var sending = pending.Count <= sendLimit ? pending : pending.GetRange(0, sendLimit);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var outcome = await _bulk!.SendAsync(batch.Items, sending, stopping);
            if (outcome.Kind != BulkOutcomeKind.Answered)
            {
                _metrics?.AuditBulkRequest(outcome.Kind == BulkOutcomeKind.TooLarge ? "too_large" : "failed", started);
            }
            if (outcome.Kind == BulkOutcomeKind.TooLarge)
            {
                _state.CountBulkRequest(failed: true);
                if (sending.Count > 1)
                {
                    sendLimit = Math.Max(1, sending.Count / 2);
                    continue;
                }

                batch.Rejected.Add(batch.Items.Rejected(sending[0], 413, "request_entity_too_large", outcome.Error));
                pending.RemoveAt(0);
                continue;
            }

            if (outcome.Kind != BulkOutcomeKind.Answered)
            {
                _state.CountBulkRequest(failed: true);
                attempt++;
                Failed(outcome.Error!, attempt, sending.Count);
                await BackoffAsync(attempt, stopping);
                continue;
            }

            var retry = new List<int>();
            int delivered = 0, rejected = 0;
            for (var i = 0; i < sending.Count; i++)
            {
                var (status, type, reason) = outcome.Items![i];
                if (status is >= 200 and < 300 or 409)
                {
                    delivered++;
                }
                else if (status is 429 or >= 500)
                {
                    retry.Add(sending[i]);
                }
                else
                {
                    rejected++;
                    batch.Rejected.Add(batch.Items.Rejected(sending[i], status, type, reason));
                    LogRejected(_logger, Encoding.UTF8.GetString(batch.Items.Id(sending[i])), status, type, reason);
                }
            }

            _state.CountShipped(delivered);
            _state.CountBulkRequest(failed: retry.Count > 0);
            // After the count: whoever sees the measurement sees what it shipped.
            _metrics?.AuditBulkRequest("ok", started);
            var rest = sending.Count < pending.Count ? pending.GetRange(sending.Count, pending.Count - sending.Count) : [];
            if (retry.Count > 0)
            {
                attempt++;
                var first = outcome.Items!.First(i => i.Status is 429 or >= 500);
                Failed($"{retry.Count} of {sending.Count} item(s) refused for now (status {first.Status} {first.Type}: {first.Reason})", attempt, retry.Count);
                retry.AddRange(rest);
                pending = retry;
                await BackoffAsync(attempt, stopping);
                continue;
            }

            if (attempt > 0 || _state.LastShipError is not null)
            {
                LogRecovered(_logger, attempt);
            }

            attempt = 0;
            _state.ClearShipError();
            pending = rest;
        }
    }

    private void Failed(string error, int attempt, int items)
    {
        _state.SetShipError(error, _time.GetUtcNow());
        _state.Shipping.Pulse();
        if (attempt == 1 || attempt % 10 == 0)
        {
            LogShipFailed(_logger, items, attempt, error);
        }
    }

    private Task BackoffAsync(int attempt, CancellationToken stopping) =>
        Task.Delay(Backoff(attempt, _es.MinBackoff, _es.MaxBackoff, Random.Shared.NextDouble()), _time, stopping);

    [LoggerMessage(EventId = 1930, Level = LogLevel.Information, Message = "Audit shipping to {Url} (data stream {Index}) from {Segment} offset {Offset}")]
    private static partial void LogStarted(ILogger logger, string url, string index, string segment, long offset);

    [LoggerMessage(EventId = 1931, Level = LogLevel.Warning,
        Message = "Audit spool is not shipped: Audit:Elasticsearch:Url is empty. Events accumulate in {Directory} up to Audit:SpoolMaxBytes; then support calls get 503")]
    private static partial void LogDisabled(ILogger logger, string directory);

    [LoggerMessage(EventId = 1932, Level = LogLevel.Warning, Message = "Audit shipping of {Items} event(s) failed (attempt {Attempt}); retrying with backoff: {Error}")]
    private static partial void LogShipFailed(ILogger logger, int items, int attempt, string error);

    [LoggerMessage(EventId = 1933, Level = LogLevel.Information, Message = "Audit shipping recovered after {Attempts} failed attempt(s)")]
    private static partial void LogRecovered(ILogger logger, int attempts);

    [LoggerMessage(EventId = 1934, Level = LogLevel.Error, Message = "Elasticsearch refused audit event {EventId} with {Status} {ErrorType}: {Reason}; written to dead-letter.ndjson")]
    private static partial void LogRejected(ILogger logger, string eventId, int status, string? errorType, string? reason);

    [LoggerMessage(EventId = 1937, Level = LogLevel.Critical, Message = "The audit shipper stopped; events stay in the spool until restart")]
    private static partial void LogCrashed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1938, Level = LogLevel.Error, Message = "Audit shipper could not read or write the spool (attempt {Attempt}); retrying")]
    private static partial void LogSpoolIoFailed(ILogger logger, Exception exception, int attempt);
}
