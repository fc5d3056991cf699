using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Gateway.Auditing;

/// <summary>
/// Sends one <c>_bulk</c> request to Elasticsearch and says how it went: every record as a
/// <c>create</c> action with its event id as <c>_id</c> (so a replay gets 409 per item, never a
/// duplicate), the configured API key or basic credentials, the status of each item, and 413
/// apart so the caller can split the request. Whether and when to send again is the caller's.
/// </summary>
internal sealed class BulkClient : IDisposable
{
    private static readonly MediaTypeHeaderValue NdJson = new("application/x-ndjson");
    private static readonly byte[] ActionSuffix = "\"}}\n"u8.ToArray();

    private readonly AuditElasticsearchOptions _es;
    private readonly TimeProvider _time;
    private readonly HttpClient _client;
    private readonly Uri _bulkUri;
    private readonly AuthenticationHeaderValue? _authorization;
    private readonly byte[] _actionPrefix;

    public BulkClient(AuditElasticsearchOptions es, TimeProvider time)
    {
        _es = es;
        _time = time;
        _bulkUri = new Uri(es.Url!.TrimEnd('/') + "/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason");
        _authorization = Authorization(es);
        _actionPrefix = Encoding.UTF8.GetBytes($"{{\"create\":{{\"_index\":{JsonSerializer.Serialize(es.Index)},\"_id\":\"");
        _client = CreateClient(es);
    }

    /// <summary>The bytes an item's action line adds besides its id.</summary>
    public int ActionOverhead => _actionPrefix.Length + ActionSuffix.Length;

    /// <summary>Sends the items at <paramref name="sending"/> as one request, bounded by <c>RequestTimeout</c>.</summary>
    public async Task<BulkOutcome> SendAsync(SpoolBatchItems items, List<int> sending, CancellationToken stopping)
    {
        var body = new ArrayBufferWriter<byte>((int)Math.Min(int.MaxValue, items.BytesOf(sending)));
        foreach (var index in sending)
        {
            body.Write(_actionPrefix);
            body.Write(items.Id(index));
            body.Write(ActionSuffix);
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
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            if (response.StatusCode == HttpStatusCode.OK)
            {
                await using var stream = await response.Content.ReadAsStreamAsync(linked.Token);
                using var json = await JsonDocument.ParseAsync(stream, default, linked.Token);
                return ParseBulkResponse(json.RootElement, sending.Count);
            }

            var error = await ErrorOf(response, linked.Token);
            return new BulkOutcome(
                status == 413 ? BulkOutcomeKind.TooLarge : BulkOutcomeKind.Failed,
                $"HTTP {status}{(error is null ? "" : ": " + error)}",
                null);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            return new BulkOutcome(BulkOutcomeKind.Failed, $"no answer within {_es.RequestTimeout} (Audit:Elasticsearch:RequestTimeout)", null);
        }
        catch (HttpRequestException ex)
        {
            return new BulkOutcome(BulkOutcomeKind.Failed, $"connection failed: {Describe(ex)}", null);
        }
        catch (IOException ex)
        {
            return new BulkOutcome(BulkOutcomeKind.Failed, $"connection broken: {ex.Message}", null);
        }
        catch (JsonException ex)
        {
            return new BulkOutcome(BulkOutcomeKind.Failed, $"unreadable _bulk response: {ex.Message}", null);
        }
    }

    public void Dispose() => _client.Dispose();

    /// <summary>Finds <c>event.id</c>'s raw (still JSON-escaped) bytes, so it can be copied into the action line as is.</summary>
    public static bool TryFindEventId(byte[] payload, out int start, out int length)
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

    private static BulkOutcome ParseBulkResponse(JsonElement root, int expected)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("items", out var items) || items.ValueKind != JsonValueKind.Array)
        {
            return new BulkOutcome(BulkOutcomeKind.Failed, "the _bulk response has no items", null);
        }

        if (items.GetArrayLength() != expected)
        {
            return new BulkOutcome(BulkOutcomeKind.Failed, $"the _bulk response has {items.GetArrayLength()} items for {expected} actions", null);
        }

        var results = new List<(int Status, string? Type, string? Reason)>(expected);
        foreach (var item in items.EnumerateArray())
        {
            // Each item is {"<action>": {"status": …, "error": {"type": …, "reason": …}}}.
            var result = item.EnumerateObject().FirstOrDefault().Value;
            if (result.ValueKind != JsonValueKind.Object || !result.TryGetProperty("status", out var status) || !status.TryGetInt32(out var code))
            {
                return new BulkOutcome(BulkOutcomeKind.Failed, "a _bulk response item has no status", null);
            }

            string? type = null, reason = null;
            if (result.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                type = error.TryGetProperty("type", out var t) ? t.GetString() : null;
                reason = error.TryGetProperty("reason", out var r) ? r.GetString() : null;
            }

            results.Add((code, type, reason));
        }

        return new BulkOutcome(BulkOutcomeKind.Answered, null, results);
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

    /// <summary>The HTTP client for the cluster (also used to read the audit back: sessions' calls).</summary>
    internal static HttpClient CreateClient(AuditElasticsearchOptions es) => new(new SocketsHttpHandler
    {
        ConnectTimeout = es.RequestTimeout,
        // Re-resolve DNS now and then (cluster nodes behind a name come and go).
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    internal static AuthenticationHeaderValue? Authorization(AuditElasticsearchOptions es)
    {
        if (!string.IsNullOrEmpty(es.ApiKey))
        {
            return new AuthenticationHeaderValue("ApiKey", es.ApiKey);
        }

        return string.IsNullOrEmpty(es.Username)
            ? null
            : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{es.Username}:{es.Password}")));
    }
}

internal enum BulkOutcomeKind
{
    /// <summary>Elasticsearch answered 200 with a status per item.</summary>
    Answered,

    /// <summary>The request as a whole failed (status, timeout, connection, unreadable answer): send it again later.</summary>
    Failed,

    /// <summary>413: the request is too large; a smaller one may pass.</summary>
    TooLarge,
}

/// <summary>How one <c>_bulk</c> request went: per-item results when answered, else an error.</summary>
internal sealed record BulkOutcome(BulkOutcomeKind Kind, string? Error, List<(int Status, string? Type, string? Reason)>? Items);
