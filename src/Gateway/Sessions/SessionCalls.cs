using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Auditing;
using Microsoft.Extensions.Options;

namespace Gateway.Sessions;

/// <summary>One call of a support session as its audit event tells it.</summary>
internal sealed record SessionCall(
    DateTimeOffset At,
    string Method,
    string Path,
    int? Status,
    string? RouteId,
    string? RouteClass,
    string Decision,
    string? Code);

/// <summary>A page of a session's calls, oldest first; <see cref="NextCursor"/> reads on.</summary>
internal sealed record SessionCallPage(IReadOnlyList<SessionCall> Calls, string? NextCursor, string Source);

/// <summary>Where a session's calls are read back from: the audit events themselves, never a second copy.</summary>
internal interface ISessionCallSource
{
    /// <summary>
    /// The session's calls after <paramref name="offset"/>. Throws <see cref="SessionCallsUnavailableException"/>
    /// when the audit cannot be read now.
    /// </summary>
    Task<SessionCallPage> ReadAsync(string tenant, string sessionId, int offset, int limit, CancellationToken cancellationToken);
}

internal sealed class SessionCallsUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Page cursors over a session's calls: an offset, opaque to clients.</summary>
internal static class CallCursor
{
    /// <summary>Elasticsearch pages with from/size; past this the calls are in Kibana.</summary>
    public const int MaxOffset = 10_000;

    public static string Of(int offset) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"c:{offset.ToString(CultureInfo.InvariantCulture)}"));

    public static bool TryParse(string? cursor, out int offset)
    {
        offset = 0;
        if (string.IsNullOrEmpty(cursor))
        {
            return true;
        }

        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(cursor));
            return text.StartsWith("c:", StringComparison.Ordinal)
                && int.TryParse(text.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out offset)
                && offset <= MaxOffset;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>Reads a call out of one ECS audit event; null when it is not a support call of this session.</summary>
    public static SessionCall? FromEvent(JsonElement e, string tenant, string sessionId)
    {
        if (EcsDocument.Text(e, "event", "action") != "support-request"
            || EcsDocument.Text(e, "gateway", "support", "session_id") != sessionId
            || EcsDocument.Text(e, "organization", "id") != tenant)
        {
            return null;
        }

        return new SessionCall(
            e.TryGetProperty("@timestamp", out var at) && at.TryGetDateTimeOffset(out var time) ? time : DateTimeOffset.MinValue,
            EcsDocument.Text(e, "http", "request", "method") ?? "",
            EcsDocument.Text(e, "url", "path") ?? "",
            e.TryGetProperty("http", out var http) && http.TryGetProperty("response", out var response)
                && response.TryGetProperty("status_code", out var status) && status.TryGetInt32(out var code) ? code : null,
            EcsDocument.Text(e, "gateway", "route", "id"),
            EcsDocument.Text(e, "gateway", "route", "class"),
            EcsDocument.Text(e, "gateway", "support", "decision") ?? "",
            EcsDocument.Text(e, "event", "reason"));
    }
}

/// <summary>
/// The embedded default: the local audit spool, scanned in order. A segment shipped and removed
/// is gone from here (with Elasticsearch configured, <see cref="ElasticsearchSessionCalls"/> reads).
/// </summary>
internal sealed class SpoolSessionCalls(SpoolingAuditSink sink) : ISessionCallSource
{
    public Task<SessionCallPage> ReadAsync(string tenant, string sessionId, int offset, int limit, CancellationToken cancellationToken)
    {
        var calls = new List<SessionCall>(limit);
        var seen = 0;
        var more = false;
        try
        {
            foreach (var json in AuditSpoolReader.ReadJsonLines(sink.Directory))
            {
                cancellationToken.ThrowIfCancellationRequested();
                // Most events are not this session's: a substring test spares parsing them.
                if (!json.Contains(sessionId, StringComparison.Ordinal))
                {
                    continue;
                }

                using var document = JsonDocument.Parse(json);
                if (CallCursor.FromEvent(document.RootElement, tenant, sessionId) is not { } call)
                {
                    continue;
                }

                if (seen++ < offset)
                {
                    continue;
                }

                if (calls.Count == limit)
                {
                    more = true;
                    break;
                }

                calls.Add(call);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new SessionCallsUnavailableException($"The audit spool could not be read ({ex.GetType().Name}).", ex);
        }

        return Task.FromResult(new SessionCallPage(calls, more && offset + limit < CallCursor.MaxOffset ? CallCursor.Of(offset + limit) : null, "spool"));
    }
}

/// <summary>Elasticsearch: a <c>_search</c> on the audit data stream for the session's support calls.</summary>
internal sealed class ElasticsearchSessionCalls : ISessionCallSource, IDisposable
{
    private readonly AuditElasticsearchOptions _es;
    private readonly HttpClient _client;
    private readonly Uri _search;
    private readonly AuthenticationHeaderValue? _authorization;

    public ElasticsearchSessionCalls(IOptions<AuditOptions> options)
    {
        _es = options.Value.Elasticsearch;
        _client = BulkClient.CreateClient(_es);
        _search = new Uri($"{_es.Url!.TrimEnd('/')}/{Uri.EscapeDataString(_es.Index)}/_search?filter_path=hits.hits._source");
        _authorization = BulkClient.Authorization(_es);
    }

    public async Task<SessionCallPage> ReadAsync(string tenant, string sessionId, int offset, int limit, CancellationToken cancellationToken)
    {
        var query = new JsonObject
        {
            ["from"] = offset,
            ["size"] = limit + 1,
            ["sort"] = new JsonArray(new JsonObject { ["@timestamp"] = "asc" }),
            ["query"] = new JsonObject
            {
                ["bool"] = new JsonObject
                {
                    ["filter"] = new JsonArray(
                        Term("gateway.support.session_id", sessionId),
                        Term("organization.id", tenant),
                        Term("event.action", "support-request")),
                },
            },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, _search)
        {
            Content = new StringContent(query.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = _authorization;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_es.RequestTimeout);
        try
        {
            using var response = await _client.SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                throw new SessionCallsUnavailableException($"Elasticsearch answered {(int)response.StatusCode} to the search.");
            }

            using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(timeout.Token), cancellationToken: timeout.Token);
            var calls = new List<SessionCall>();
            if (document.RootElement.TryGetProperty("hits", out var hits) && hits.TryGetProperty("hits", out var list))
            {
                foreach (var hit in list.EnumerateArray())
                {
                    if (hit.TryGetProperty("_source", out var source) && CallCursor.FromEvent(source, tenant, sessionId) is { } call)
                    {
                        calls.Add(call);
                    }
                }
            }

            var more = calls.Count > limit;
            if (more)
            {
                calls.RemoveAt(calls.Count - 1);
            }

            return new SessionCallPage(calls, more && offset + limit < CallCursor.MaxOffset ? CallCursor.Of(offset + limit) : null, "elasticsearch");
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new SessionCallsUnavailableException($"Elasticsearch could not be searched ({ex.GetType().Name}).", ex);
        }
    }

    public void Dispose() => _client.Dispose();

    private static JsonObject Term(string field, string value) => new() { ["term"] = new JsonObject { [field] = value } };
}
