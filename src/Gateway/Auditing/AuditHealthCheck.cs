using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Gateway.Auditing;

/// <summary>
/// Health check "audit". Unhealthy when the spool cannot be written (every support call gets
/// 503 and ordinary events are lost, counted). Degraded when shipping is failing, the spool or
/// the queue is full, or events were dropped or dead-lettered within the last
/// <see cref="RecentWindow"/>. The counters are always in the data.
/// </summary>
internal sealed class AuditHealthCheck(SpoolingAuditSink sink, IOptions<AuditOptions> options, TimeProvider time) : IHealthCheck
{
    public const string Name = "audit";

    /// <summary>How long a drop or a dead letter keeps the check degraded.</summary>
    public static readonly TimeSpan RecentWindow = TimeSpan.FromMinutes(5);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var o = options.Value;
        var state = sink.State;
        var now = time.GetUtcNow();
        var shipping = !string.IsNullOrWhiteSpace(o.Elasticsearch.Url);
        var data = new Dictionary<string, object>
        {
            ["accepted"] = state.Accepted,
            ["dropped"] = state.Dropped,
            ["spooled"] = state.Spooled,
            ["shipped"] = state.Shipped,
            ["deadLettered"] = state.DeadLettered,
            ["queueLength"] = state.QueueLength,
            ["queueCapacity"] = o.QueueCapacity,
            ["spoolBytes"] = state.SpoolBytes,
            ["spoolMaxBytes"] = o.SpoolMaxBytes,
            ["writerHealthy"] = state.IsWriterHealthy,
            ["shipping"] = shipping ? "elasticsearch" : "disabled",
            ["bulkRequests"] = state.BulkRequests,
            ["bulkFailures"] = state.BulkFailures,
            ["writeMaxMs"] = state.WriteMaxMs,
            ["fsyncMaxMs"] = state.FsyncMaxMs,
            ["writeAhead"] = o.WriteAhead.ToString().ToLowerInvariant(),
            ["writeAheadRecords"] = state.WriteAheadRecords,
            ["writeAheadSyncs"] = state.WriteAheadSyncs,
            ["writeAheadRefused"] = state.WriteAheadRefused,
            ["writeAheadWaitMaxMs"] = state.WriteAheadWaitMaxMs,
            ["chainSeq"] = state.ChainSeq,
            ["lastDigestSeq"] = state.LastDigestSeq,
        };
        if (state.InstanceId is { } instance)
        {
            data["instanceId"] = instance;
        }

        if (state.WriterError is { } writerError)
        {
            data["writerError"] = writerError;
        }

        if (state.LastShipError is { } shipError)
        {
            data["lastShipError"] = shipError.Message;
            data["shipFailingSince"] = shipError.Since;
        }

        if (!state.IsWriterHealthy)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy(
                $"The audit spool cannot be written ({state.WriterError}): support calls get 503, other events are dropped.", data: data));
        }

        var problems = new List<string>();
        if (state.LastShipError is { } error)
        {
            problems.Add($"shipping to Elasticsearch failing since {error.Since:O}: {error.Message}");
        }

        if (state.SpoolBytes >= o.SpoolMaxBytes)
        {
            problems.Add($"spool full ({state.SpoolBytes} of {o.SpoolMaxBytes} bytes): support calls get 503");
        }

        if (state.QueueLength >= o.QueueCapacity)
        {
            problems.Add($"queue full ({state.QueueLength} of {o.QueueCapacity})");
        }

        if (state.LastDropAt is { } dropAt && now - dropAt < RecentWindow)
        {
            problems.Add($"{state.Dropped} event(s) dropped in total, the last at {dropAt:O}");
        }

        if (state.LastWriteAheadRefusedAt is { } refusedAt && now - refusedAt < RecentWindow)
        {
            problems.Add($"{state.WriteAheadRefused} support call(s) refused in total because their write-ahead record was not durable in time, the last at {refusedAt:O}");
        }

        if (state.LastDeadLetterAt is { } deadAt && now - deadAt < RecentWindow)
        {
            problems.Add($"{state.DeadLettered} event(s) dead-lettered in total, the last at {deadAt:O} (see dead-letter.ndjson)");
        }

        return Task.FromResult(problems.Count == 0
            ? HealthCheckResult.Healthy(shipping ? "Audit spool writable; shipping to Elasticsearch." : "Audit spool writable; shipping disabled (events stay in the spool).", data)
            : HealthCheckResult.Degraded(string.Join("; ", problems) + ".", data: data));
    }
}
