using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
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
/// </summary>
internal sealed partial class ElasticsearchShipper : BackgroundService
{
    private static readonly MediaTypeHeaderValue NdJson = new("application/x-ndjson");

    private readonly AuditOptions _options;
    private readonly AuditElasticsearchOptions _es;
    private readonly AuditSpoolState _state;
    private readonly TimeProvider _time;
    private readonly ILogger<ElasticsearchShipper> _logger;
    private readonly string _directory;
    private readonly byte[] _actionPrefix;
    private readonly byte[] _actionSuffix = "\"}}\n"u8.ToArray();
    private HttpClient? _client;
    private Uri? _bulkUri;
    private AuthenticationHeaderValue? _authorization;
    private SpoolSegmentReader? _reader;
    private SpoolCheckpoint _checkpoint;
    private object _publishedCheckpoint = default(SpoolCheckpoint);

    public ElasticsearchShipper(IOptions<AuditOptions> options, AuditSpoolState state, TimeProvider time, ILogger<ElasticsearchShipper> logger)
    {
        _options = options.Value;
        _es = _options.Elasticsearch;
        _state = state;
        _time = time;
        _logger = logger;
        _directory = Path.GetFullPath(_options.SpoolDirectory);
        _actionPrefix = Encoding.UTF8.GetBytes($"{{\"create\":{{\"_index\":{JsonSerializer.Serialize(_es.Index)},\"_id\":\"");
    }

    public bool Enabled => !string.IsNullOrWhiteSpace(_es.Url);

    /// <summary>Where shipping stands: every record before it is delivered or dead-lettered.</summary>
    public SpoolCheckpoint Checkpoint => (SpoolCheckpoint)Volatile.Read(ref _publishedCheckpoint);

    public override void Dispose()
    {
        base.Dispose();
        if (ExecuteTask is null || ExecuteTask.IsCompleted)
        {
            _reader?.Dispose();
            _client?.Dispose();
        }
    }

    /// <summary>Full-jitter exponential backoff: uniform between the minimum and min(max, minimum·2^(attempt-1)).</summary>
    internal static TimeSpan Backoff(int attempt, TimeSpan min, TimeSpan max, double random)
    {
        var ceiling = min.Ticks * Math.Pow(2, Math.Clamp(attempt - 1, 0, 30));
        var cap = Math.Min(max.Ticks, ceiling);
        return TimeSpan.FromTicks(min.Ticks + (long)((cap - min.Ticks) * random));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            LogDisabled(_logger, _directory);
            return;
        }

        try
        {
            await _state.Ready.WaitAsync(stoppingToken);
            _client = CreateClient();
            _bulkUri = new Uri(_es.Url!.TrimEnd('/') + "/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason");
            _authorization = Authorization(_es);
            _checkpoint = StartPosition();
            Volatile.Write(ref _publishedCheckpoint, _checkpoint);
            LogStarted(_logger, new Uri(_es.Url!).GetLeftPart(UriPartial.Path), _es.Index, SpoolFormat.SegmentFileName(_checkpoint.Segment), _checkpoint.Offset);
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
                    _reader?.Dispose();
                    _reader = null;
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
            _reader?.Dispose();
            _reader = null;
        }
    }

    private SpoolCheckpoint StartPosition()
    {
        var stored = SpoolCheckpoint.Load(_directory, out _);
        if (stored is { } checkpoint)
        {
            return checkpoint;
        }

        var segments = SpoolFormat.ListSegments(_directory);
        return new SpoolCheckpoint(segments.Count > 0 ? segments[0] : _state.Committed.Segment, 0);
    }

    private async Task ShipOneBatchAsync(CancellationToken stopping)
    {
        var batch = new Batch();
        var position = _checkpoint;
        long? firstSeen = null;
        while (true)
        {
            var written = _state.Written.WhenPulsed;
            position = Fill(batch, position);
            if (batch.Items.Count >= _es.BatchMaxEvents || batch.Bytes >= _es.BatchMaxBytes)
            {
                break;
            }

            if (batch.Items.Count == 0)
            {
                if (position != _checkpoint || batch.Corrupt.Count > 0)
                {
                    // Progress without events: crossed into the next segment, or skipped corrupt bytes.
                    Complete(batch, position);
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
        Complete(batch, position);
    }

    /// <summary>Reads records into <paramref name="batch"/> from <paramref name="position"/> while they fit; returns the new read position.</summary>
    private SpoolCheckpoint Fill(Batch batch, SpoolCheckpoint position)
    {
        while (batch.Items.Count < _es.BatchMaxEvents && batch.Bytes < _es.BatchMaxBytes)
        {
            var (active, committed) = _state.Committed;
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
                    if (!batch.Items.TryAdd(read, position, _actionPrefix.Length + _actionSuffix.Length, out var size))
                    {
                        batch.Corrupt.Add(new DeadLetterFile.Corrupt(position, read.NextOffset - read.Offset, "the record holds no event.id"));
                    }
                    else
                    {
                        batch.Bytes += size;
                    }

                    position = new SpoolCheckpoint(position.Segment, read.NextOffset);
                    break;

                case SpoolReadStatus.Corrupt:
                    var bytes = read.NextOffset - read.Offset;
                    LogCorrupt(_logger, SpoolFormat.SegmentFileName(position.Segment), read.Offset, bytes);
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

    private bool EnsureReader(long segment)
    {
        if (_reader?.Segment == segment)
        {
            return true;
        }

        _reader?.Dispose();
        _reader = null;
        try
        {
            _reader = SpoolSegmentReader.Open(_directory, segment);
            return true;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
    }

    private long NextSegment(long after, long active)
    {
        foreach (var segment in SpoolFormat.ListSegments(_directory))
        {
            if (segment > after)
            {
                return Math.Min(segment, active);
            }
        }

        return active;
    }

    /// <summary>Dead letters first (synced), then the checkpoint, then the segments wholly before it.</summary>
    private void Complete(Batch batch, SpoolCheckpoint position)
    {
        var now = _time.GetUtcNow();
        DeadLetterFile.Append(_directory, now, batch.Rejected, batch.Corrupt);
        var deadLettered = batch.Rejected.Count + batch.Corrupt.Count;
        if (deadLettered > 0)
        {
            _state.CountDeadLettered(now, deadLettered);
        }

        if (position != _checkpoint)
        {
            position.Save(_directory);
            _checkpoint = position;
            Volatile.Write(ref _publishedCheckpoint, position);
            DeleteShippedSegments(position.Segment);
        }

        _state.Shipping.Pulse();
    }

    private void DeleteShippedSegments(long before)
    {
        foreach (var segment in SpoolFormat.ListSegments(_directory))
        {
            if (segment >= before)
            {
                break;
            }

            if (_reader?.Segment == segment)
            {
                _reader.Dispose();
                _reader = null;
            }

            var path = SpoolFormat.SegmentPath(_directory, segment);
            try
            {
                var bytes = new FileInfo(path).Length;
                File.Delete(path);
                _state.SegmentDeleted(bytes);
            }
            catch (IOException ex)
            {
                LogDeleteFailed(_logger, ex, path);
            }
        }
    }

    /// <summary>Sends the batch until every item is delivered or dead-lettered (or the shipper stops).</summary>
    private async Task DeliverAsync(Batch batch, CancellationToken stopping)
    {
        var pending = batch.Items.All();
        var attempt = 0;
        var sendLimit = pending.Count;
        while (pending.Count > 0)
        {
            var sending = pending.Count <= sendLimit ? pending : pending.GetRange(0, sendLimit);
            var outcome = await SendAsync(batch.Items, sending, stopping);
            if (outcome.Kind == SendOutcomeKind.TooLarge)
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

            if (outcome.Kind != SendOutcomeKind.Answered)
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

    private async Task<SendOutcome> SendAsync(BatchItems items, List<int> sending, CancellationToken stopping)
    {
        var body = new ArrayBufferWriter<byte>((int)Math.Min(int.MaxValue, items.BytesOf(sending, _actionPrefix.Length + _actionSuffix.Length)));
        foreach (var index in sending)
        {
            body.Write(_actionPrefix);
            body.Write(items.Id(index));
            body.Write(_actionSuffix);
            body.Write(items.Payload(index).Span);
            body.Write("\n"u8);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, _bulkUri) { Content = new ReadOnlyMemoryContent(body.WrittenMemory) };
        request.Content.Headers.ContentType = NdJson;
        request.Headers.Authorization = _authorization;
        using var timeout = new CancellationTokenSource(_es.RequestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, timeout.Token);
        try
        {
            using var response = await _client!.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            if (response.StatusCode == HttpStatusCode.OK)
            {
                await using var stream = await response.Content.ReadAsStreamAsync(linked.Token);
                using var json = await JsonDocument.ParseAsync(stream, default, linked.Token);
                return ParseBulkResponse(json.RootElement, sending.Count);
            }

            var error = await ErrorOf(response, linked.Token);
            return new SendOutcome(
                status == 413 ? SendOutcomeKind.TooLarge : SendOutcomeKind.Failed,
                $"HTTP {status}{(error is null ? "" : ": " + error)}",
                null);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            return new SendOutcome(SendOutcomeKind.Failed, $"no answer within {_es.RequestTimeout} (Audit:Elasticsearch:RequestTimeout)", null);
        }
        catch (HttpRequestException ex)
        {
            return new SendOutcome(SendOutcomeKind.Failed, $"connection failed: {Describe(ex)}", null);
        }
        catch (IOException ex)
        {
            return new SendOutcome(SendOutcomeKind.Failed, $"connection broken: {ex.Message}", null);
        }
        catch (JsonException ex)
        {
            return new SendOutcome(SendOutcomeKind.Failed, $"unreadable _bulk response: {ex.Message}", null);
        }
    }

    private static SendOutcome ParseBulkResponse(JsonElement root, int expected)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("items", out var items) || items.ValueKind != JsonValueKind.Array)
        {
            return new SendOutcome(SendOutcomeKind.Failed, "the _bulk response has no items", null);
        }

        if (items.GetArrayLength() != expected)
        {
            return new SendOutcome(SendOutcomeKind.Failed, $"the _bulk response has {items.GetArrayLength()} items for {expected} actions", null);
        }

        var results = new List<(int Status, string? Type, string? Reason)>(expected);
        foreach (var item in items.EnumerateArray())
        {
            // Each item is {"<action>": {"status": …, "error": {"type": …, "reason": …}}}.
            var result = item.EnumerateObject().FirstOrDefault().Value;
            if (result.ValueKind != JsonValueKind.Object || !result.TryGetProperty("status", out var status) || !status.TryGetInt32(out var code))
            {
                return new SendOutcome(SendOutcomeKind.Failed, "a _bulk response item has no status", null);
            }

            string? type = null, reason = null;
            if (result.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                type = error.TryGetProperty("type", out var t) ? t.GetString() : null;
                reason = error.TryGetProperty("reason", out var r) ? r.GetString() : null;
            }

            results.Add((code, type, reason));
        }

        return new SendOutcome(SendOutcomeKind.Answered, null, results);
    }

    /// <summary>Elasticsearch's <c>error.type: error.reason</c> of a refused request, if it sent one.</summary>
    private static async Task<string?> ErrorOf(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (text.Length == 0)
            {
                return null;
            }

            using var json = JsonDocument.Parse(text);
            if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("error", out var error))
            {
                return error.ValueKind == JsonValueKind.Object
                    ? $"{(error.TryGetProperty("type", out var t) ? t.GetString() : null)}: {(error.TryGetProperty("reason", out var r) ? r.GetString() : null)}"
                    : error.ToString();
            }

            return text.Length > 200 ? text[..200] : text;
        }
        catch (Exception ex) when (ex is JsonException or IOException or HttpRequestException)
        {
            return null;
        }
    }

    private static string Describe(HttpRequestException ex) =>
        ex.InnerException is { } inner && inner.Message != ex.Message ? $"{ex.Message} ({inner.Message})" : ex.Message;

    private HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        ConnectTimeout = _es.RequestTimeout,
        // Re-resolve DNS now and then (cluster nodes behind a name come and go).
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private static AuthenticationHeaderValue? Authorization(AuditElasticsearchOptions es)
    {
        if (!string.IsNullOrEmpty(es.ApiKey))
        {
            return new AuthenticationHeaderValue("ApiKey", es.ApiKey);
        }

        return string.IsNullOrEmpty(es.Username)
            ? null
            : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{es.Username}:{es.Password}")));
    }

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

    [LoggerMessage(EventId = 1935, Level = LogLevel.Error, Message = "Audit spool segment {Segment}: {Bytes} corrupt byte(s) at offset {Offset} skipped; noted in dead-letter.ndjson")]
    private static partial void LogCorrupt(ILogger logger, string segment, long offset, long bytes);

    [LoggerMessage(EventId = 1936, Level = LogLevel.Warning, Message = "Could not delete shipped audit segment {Path}")]
    private static partial void LogDeleteFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(EventId = 1937, Level = LogLevel.Critical, Message = "The audit shipper stopped; events stay in the spool until restart")]
    private static partial void LogCrashed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1938, Level = LogLevel.Error, Message = "Audit shipper could not read or write the spool (attempt {Attempt}); retrying")]
    private static partial void LogSpoolIoFailed(ILogger logger, Exception exception, int attempt);

    private enum SendOutcomeKind
    {
        Answered,
        Failed,
        TooLarge,
    }

    private sealed record SendOutcome(SendOutcomeKind Kind, string? Error, List<(int Status, string? Type, string? Reason)>? Items);

    private sealed class Batch
    {
        public BatchItems Items { get; } = new();

        public long Bytes { get; set; }

        public List<DeadLetterFile.Rejected> Rejected { get; } = [];

        public List<DeadLetterFile.Corrupt> Corrupt { get; } = [];
    }

    /// <summary>The records of a batch: payloads copied out of the read window, with where their id sits.</summary>
    private sealed class BatchItems
    {
        private readonly List<(byte[] Payload, int IdStart, int IdLength, SpoolCheckpoint At)> _items = [];

        public int Count => _items.Count;

        public List<int> All() => Enumerable.Range(0, _items.Count).ToList();

        public ReadOnlySpan<byte> Id(int index) => _items[index].Payload.AsSpan(_items[index].IdStart, _items[index].IdLength);

        public ReadOnlyMemory<byte> Payload(int index) => _items[index].Payload;

        public long BytesOf(List<int> indexes, int actionOverhead) =>
            indexes.Sum(i => (long)_items[i].Payload.Length + _items[i].IdLength + actionOverhead + 1);

        public DeadLetterFile.Rejected Rejected(int index, int status, string? type, string? reason) =>
            new(_items[index].At, _items[index].Payload, status, type, reason);

        public bool TryAdd(SpoolRead read, SpoolCheckpoint at, int actionOverhead, out long size)
        {
            size = 0;
            var payload = read.Payload.ToArray();
            if (!TryFindEventId(payload, out var start, out var length))
            {
                return false;
            }

            _items.Add((payload, start, length, at));
            size = payload.Length + length + actionOverhead + 1;
            return true;
        }

        /// <summary>Finds <c>event.id</c>'s raw (still JSON-escaped) bytes, so it can be copied into the action line as is.</summary>
        private static bool TryFindEventId(byte[] payload, out int start, out int length)
        {
            start = length = 0;
            var reader = new Utf8JsonReader(payload);
            try
            {
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                {
                    return false;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (!reader.ValueTextEquals("event"u8))
                    {
                        reader.Read();
                        reader.Skip();
                        continue;
                    }

                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        return false;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var isId = reader.ValueTextEquals("id"u8);
                        reader.Read();
                        if (isId && reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > 0)
                        {
                            start = (int)reader.TokenStartIndex + 1;
                            length = reader.ValueSpan.Length;
                            return true;
                        }

                        reader.Skip();
                    }

                    return false;
                }
            }
            catch (JsonException)
            {
                return false;
            }

            return false;
        }
    }
}
