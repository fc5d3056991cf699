using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// An HTTP-level stand-in for Elasticsearch 8 (docs/DEPENDENCIES.md: Elasticsearch cannot be
/// installed here): a real Kestrel server on 127.0.0.1 speaking the parts of the REST API the
/// gateway uses — <c>POST /_bulk</c> and <c>POST /{index}/_bulk</c> (NDJSON action/source pairs,
/// documents kept by <c>_index</c> + <c>_id</c>, <c>create</c> of an existing id answered per
/// item with 409 <c>version_conflict_engine_exception</c>), <c>GET /</c>,
/// <c>PUT /_index_template/{name}</c>, <c>PUT /_ilm/policy/{name}</c> — plus Kibana's
/// <c>POST /api/saved_objects/_import</c> for the setup script. Faults are scripted for the next
/// N <c>_bulk</c> requests (<see cref="FailNext"/>) or for a while (<see cref="FailFor"/>); each
/// <see cref="EsFault"/> says which real Elasticsearch behaviour it reproduces.
/// </summary>
internal sealed class ElasticsearchDouble : IAsyncDisposable
{
    /// <summary>Elasticsearch's default <c>http.max_content_length</c>.</summary>
    public const long MaxContentLength = 100L * 1024 * 1024;

    private readonly ConcurrentDictionary<(string Index, string Id), string> _documents = new();
    private readonly ConcurrentDictionary<string, string> _templates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _isDataStream = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _policies = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _importedObjects = new();
    private readonly Lock _faultsGate = new();
    private readonly Queue<(EsFault Fault, int Remaining)> _scripted = new();
    private readonly string _indexUuid = Guid.NewGuid().ToString("N")[..22];
    private (EsFault Fault, DateTimeOffset Until)? _timed;
    private TaskCompletionSource _inserted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication? _app;
    private long _seqNo;
    private int _bulkRequests;
    private int _bulkItems;
    private int _created;
    private int _conflicts;
    private int _faultsServed;
    private int _importRequests;
    private int _searchRequests;

    private ElasticsearchDouble()
    {
    }

    public int Port { get; private set; }

    public Uri Url => new($"http://127.0.0.1:{Port}");

    /// <summary>When set, every request must carry exactly this <c>Authorization</c> header, or gets 401.</summary>
    public string? RequiredAuthorization { get; set; }

    /// <summary>Stored documents by <c>_id</c> (all indices), as the JSON source sent.</summary>
    public IReadOnlyDictionary<string, string> Documents => _documents.ToDictionary(d => d.Key.Id, d => d.Value, StringComparer.Ordinal);

    /// <summary>Stored documents of one index or data stream, by <c>_id</c>.</summary>
    public IReadOnlyDictionary<string, string> DocumentsIn(string index) =>
        _documents.Where(d => d.Key.Index == index).ToDictionary(d => d.Key.Id, d => d.Value, StringComparer.Ordinal);

    public int DocumentCount => _documents.Count;

    public int BulkRequests => Volatile.Read(ref _bulkRequests);

    /// <summary>Actions received over all <c>_bulk</c> requests (retries included).</summary>
    public int BulkItems => Volatile.Read(ref _bulkItems);

    public int Created => Volatile.Read(ref _created);

    /// <summary><c>create</c> actions answered 409 because the id was there already.</summary>
    public int Conflicts => Volatile.Read(ref _conflicts);

    /// <summary>Requests answered with a scripted fault.</summary>
    public int FaultsServed => Volatile.Read(ref _faultsServed);

    public IReadOnlyDictionary<string, string> IndexTemplates => _templates;

    public IReadOnlyDictionary<string, string> LifecyclePolicies => _policies;

    public int ImportRequests => Volatile.Read(ref _importRequests);

    /// <summary>Saved objects received by the Kibana import endpoint, one NDJSON line each.</summary>
    public IReadOnlyCollection<string> ImportedObjects => _importedObjects;

    /// <summary><c>_search</c> requests received.</summary>
    public int SearchRequests => Volatile.Read(ref _searchRequests);

    /// <summary>While set, <c>_search</c> answers 503 (a cluster that cannot serve reads).</summary>
    public bool FailSearches { get; set; }

    public static async Task<ElasticsearchDouble> StartAsync()
    {
        var node = new ElasticsearchDouble();
        await node.StartListeningAsync();
        return node;
    }

    /// <summary>The next <paramref name="requests"/> <c>_bulk</c> requests get <paramref name="fault"/> (queued after earlier scripts).</summary>
    public void FailNext(int requests, EsFault fault)
    {
        lock (_faultsGate)
        {
            _scripted.Enqueue((fault, requests));
        }
    }

    /// <summary>Every <c>_bulk</c> request for <paramref name="duration"/> (real time) gets <paramref name="fault"/>.</summary>
    public void FailFor(TimeSpan duration, EsFault fault)
    {
        lock (_faultsGate)
        {
            _timed = (fault, DateTimeOffset.UtcNow + duration);
        }
    }

    public void ClearFaults()
    {
        lock (_faultsGate)
        {
            _scripted.Clear();
            _timed = null;
        }
    }

    /// <summary>
    /// Closes the listening socket: connections are refused (ECONNREFUSED), as when the node is
    /// down or restarting. Stored documents survive; <see cref="StartListeningAsync"/> reopens the same port.
    /// </summary>
    public async Task StopListeningAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    public async Task StartListeningAsync()
    {
        if (_app is not null)
        {
            return;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(IPAddress.Loopback, Port, listen => listen.Protocols = HttpProtocols.Http1);
        });
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            // Every Elasticsearch 8 response says what it is; clients check it.
            context.Response.Headers["X-elastic-product"] = "Elasticsearch";
            if (RequiredAuthorization is { } required && context.Request.Headers.Authorization.ToString() != required)
            {
                // security_exception: what a secured cluster answers without valid credentials.
                context.Response.Headers.WWWAuthenticate = "ApiKey, Basic realm=\"security\" charset=\"UTF-8\"";
                await WriteErrorAsync(context, 401, "security_exception", "missing authentication credentials for REST request [" + context.Request.Path + "]");
                return;
            }

            await next(context);
        });
        app.MapGet("/", ClusterInfo);
        app.MapPost("/_bulk", context => BulkAsync(context, null));
        app.MapPost("/{index}/_bulk", context => BulkAsync(context, (string)context.Request.RouteValues["index"]!));
        app.MapPut("/_index_template/{name}", async context =>
        {
            await PutJsonAsync(context, _templates, "index_patterns");
            _isDataStream.Clear();
        });
        app.MapGet("/_index_template/{name}", context => GetJsonAsync(context, _templates));
        app.MapPut("/_ilm/policy/{name}", context => PutJsonAsync(context, _policies, "policy"));
        app.MapGet("/_ilm/policy/{name}", context => GetJsonAsync(context, _policies));
        app.MapPost("/api/saved_objects/_import", KibanaImportAsync);
        app.MapPost("/{index}/_search", context => SearchAsync(context, (string)context.Request.RouteValues["index"]!));
        await app.StartAsync();
        Port = new Uri(app.Urls.First()).Port;
        _app = app;
    }

    /// <summary>Waits (on insert signals, not by polling or sleeping) until at least <paramref name="count"/> documents are stored.</summary>
    public async Task WaitForDocumentsAsync(int count, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        while (true)
        {
            var inserted = Volatile.Read(ref _inserted).Task;
            if (_documents.Count >= count)
            {
                return;
            }

            try
            {
                await inserted.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"The Elasticsearch double holds {_documents.Count} of {count} documents after {deadline} ({BulkRequests} _bulk requests, {FaultsServed} faults served).");
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopListeningAsync();

    private EsFault? TakeFault()
    {
        lock (_faultsGate)
        {
            while (_scripted.TryPeek(out var head))
            {
                _scripted.Dequeue();
                if (head.Remaining > 0)
                {
                    if (head.Remaining > 1)
                    {
                        // Put the rest back at the head, keeping order.
                        var rest = _scripted.ToArray();
                        _scripted.Clear();
                        _scripted.Enqueue((head.Fault, head.Remaining - 1));
                        foreach (var item in rest)
                        {
                            _scripted.Enqueue(item);
                        }
                    }

                    return head.Fault;
                }
            }

            if (_timed is { } timed)
            {
                if (DateTimeOffset.UtcNow < timed.Until)
                {
                    return timed.Fault;
                }

                _timed = null;
            }

            return null;
        }
    }

    private static Task ClusterInfo(HttpContext context) => WriteJsonAsync(context, 200, new JsonObject
    {
        ["name"] = "es-double",
        ["cluster_name"] = "docker-cluster",
        ["cluster_uuid"] = "dOuBlEdOuBlEdOuBlE0001",
        ["version"] = new JsonObject
        {
            ["number"] = "8.15.0",
            ["build_flavor"] = "default",
            ["build_type"] = "docker",
            ["lucene_version"] = "9.11.1",
            ["minimum_wire_compatibility_version"] = "7.17.0",
            ["minimum_index_compatibility_version"] = "7.0.0",
        },
        ["tagline"] = "You Know, for Search",
    });

    /// <summary>
    /// The part of <c>_search</c> the gateway uses: <c>from</c>/<c>size</c>, a sort on one field
    /// ascending, and a <c>bool.filter</c> of <c>term</c> queries on dotted paths of the source.
    /// </summary>
    private async Task SearchAsync(HttpContext context, string index)
    {
        Interlocked.Increment(ref _searchRequests);
        if (FailSearches)
        {
            await WriteErrorAsync(context, 503, "search_phase_execution_exception", "all shards failed");
            return;
        }

        using var query = await JsonDocument.ParseAsync(context.Request.Body);
        var root = query.RootElement;
        var from = root.TryGetProperty("from", out var f) ? f.GetInt32() : 0;
        var size = root.TryGetProperty("size", out var z) ? z.GetInt32() : 10;
        var terms = new List<(string Field, string Value)>();
        if (root.TryGetProperty("query", out var q) && q.TryGetProperty("bool", out var b) && b.TryGetProperty("filter", out var filters))
        {
            foreach (var filter in filters.EnumerateArray())
            {
                foreach (var term in filter.GetProperty("term").EnumerateObject())
                {
                    terms.Add((term.Name, term.Value.GetString()!));
                }
            }
        }

        var sortField = root.TryGetProperty("sort", out var sort) ? sort[0].EnumerateObject().First().Name : null;
        var hits = _documents.Where(d => d.Key.Index == index).Select(d => JsonDocument.Parse(d.Value).RootElement)
            .Where(source => terms.All(t => ValueAt(source, t.Field) == t.Value))
            .OrderBy(source => sortField is null ? "" : ValueAt(source, sortField), StringComparer.Ordinal)
            .Skip(from).Take(size)
            .Select(source => new { _source = source })
            .ToList();
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new { hits = new { hits } }));
    }

    private static string? ValueAt(JsonElement source, string dottedPath)
    {
        foreach (var name in dottedPath.Split('.'))
        {
            if (source.ValueKind != JsonValueKind.Object || !source.TryGetProperty(name, out source))
            {
                return null;
            }
        }

        return source.ValueKind == JsonValueKind.String ? source.GetString() : source.GetRawText();
    }

    private async Task BulkAsync(HttpContext context, string? defaultIndex)
    {
        Interlocked.Increment(ref _bulkRequests);
        var fault = TakeFault();
        if (fault is not null)
        {
            Interlocked.Increment(ref _faultsServed);
        }

        switch (fault)
        {
            case EsFault.Down:
                // The node went away mid-connection: no status line at all, the socket just closes.
                context.Abort();
                return;

            case EsFault.ResetMidBody reset:
                // The connection dies while the request body is still arriving (node crash, a proxy
                // or load balancer cutting it): nothing of it was indexed.
                await ReadSomeAsync(context.Request.Body, reset.AfterBytes, context.RequestAborted);
                context.Abort();
                return;

            case EsFault.Status status:
                await ReadAllAsync(context.Request.Body, context.RequestAborted);
                await WriteStatusFaultAsync(context, status.Code);
                return;
        }

        var contentType = context.Request.ContentType ?? "";
        if (!contentType.StartsWith("application/x-ndjson", StringComparison.OrdinalIgnoreCase)
            && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            // Elasticsearch answers 406 with a bare string error for an unsupported Content-Type.
            await WriteJsonAsync(context, 406, new JsonObject { ["error"] = $"Content-Type header [{contentType}] is not supported", ["status"] = 406 });
            return;
        }

        if (context.Request.ContentLength > MaxContentLength)
        {
            // http.max_content_length exceeded: 413 before anything is read.
            context.Response.StatusCode = 413;
            return;
        }

        var body = await ReadAllAsync(context.Request.Body, context.RequestAborted);
        if (body.Length == 0)
        {
            await WriteErrorAsync(context, 400, "action_request_validation_exception", "Validation Failed: 1: no requests added;");
            return;
        }

        if (body[^1] != (byte)'\n')
        {
            await WriteErrorAsync(context, 400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]");
            return;
        }

        var lines = Encoding.UTF8.GetString(body).Split('\n');
        var items = new JsonArray();
        var errors = false;
        var itemIndex = 0;
        for (var line = 0; line < lines.Length - 1; line++)
        {
            if (lines[line].Length == 0)
            {
                continue;
            }

            string op;
            string? metaIndex = null, metaId = null;
            try
            {
                using var action = JsonDocument.Parse(lines[line]);
                if (action.RootElement.ValueKind != JsonValueKind.Object || action.RootElement.GetPropertyCount() != 1)
                {
                    await WriteErrorAsync(context, 400, "illegal_argument_exception", $"Malformed action/metadata line [{line + 1}], expected a single action");
                    return;
                }

                var property = action.RootElement.EnumerateObject().First();
                op = property.Name;
                if (property.Value.ValueKind == JsonValueKind.Object)
                {
                    metaIndex = property.Value.TryGetProperty("_index", out var i) ? i.GetString() : null;
                    metaId = property.Value.TryGetProperty("_id", out var d) ? d.GetString() : null;
                }
            }
            catch (JsonException)
            {
                await WriteErrorAsync(context, 400, "illegal_argument_exception",
                    $"Malformed action/metadata line [{line + 1}], expected START_OBJECT but found [{lines[line][..Math.Min(20, lines[line].Length)]}]");
                return;
            }

            if (op is not ("create" or "index"))
            {
                await WriteErrorAsync(context, 400, "illegal_argument_exception", $"Malformed action/metadata line [{line + 1}], the double only knows create and index, got [{op}]");
                return;
            }

            if (line + 1 >= lines.Length - 1)
            {
                await WriteErrorAsync(context, 400, "illegal_argument_exception", $"Validation Failed: 1: source is missing for action [{op}] on line [{line + 1}];");
                return;
            }

            var source = lines[++line];
            var index = metaIndex ?? defaultIndex;
            var id = metaId ?? Guid.NewGuid().ToString("N");
            Interlocked.Increment(ref _bulkItems);
            var item = Index(op, index, id, source, (fault as EsFault.ItemErrors)?.StatusFor(itemIndex++));
            errors |= item[op]!["error"] is not null;
            items.Add(item);
        }

        if (fault is EsFault.Slow slow)
        {
            // The cluster did the work but answers late (long GC pause, overloaded coordinating
            // node): the client may time out and retry what is already indexed.
            try
            {
                await Task.Delay(slow.Delay, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // The client timed out and closed the connection; the documents stay indexed.
                return;
            }
        }

        await WriteJsonAsync(context, 200, new JsonObject { ["errors"] = errors, ["took"] = 3, ["items"] = items });
    }

    private JsonObject Index(string op, string? index, string id, string source, int? injected)
    {
        if (index is null)
        {
            return Item(op, "", id, 400, Error("action_request_validation_exception", "Validation Failed: 1: index is missing;"));
        }

        var concrete = IsDataStream(index) ? $".ds-{index}-{DateTime.UtcNow:yyyy.MM.dd}-000001" : index;
        switch (injected)
        {
            case 429:
                // A shard's write queue is full (indexing pressure): Elasticsearch rejects that one item.
                return Item(op, concrete, id, 429, Error("es_rejected_execution_exception",
                    "rejected execution of primary operation [shard_detail=[" + concrete + "][0][P], shard_operation_bytes=512b] (indexing pressure)"));
            case 503:
                // The target shard has no active primary (node lost, relocation): per-item 503.
                return Item(op, concrete, id, 503, Error("unavailable_shards_exception",
                    $"[{concrete}][0] primary shard is not active Timeout: [1m]"));
            case 400:
                // The document does not fit the mapping (a string where a long is mapped): refused for good.
                var parsing = Error("mapper_parsing_exception",
                    $"failed to parse field [http.response.status_code] of type [long] in document with id '{id}'. Preview of field's value: 'abc'");
                parsing["caused_by"] = new JsonObject { ["type"] = "illegal_argument_exception", ["reason"] = "For input string: \"abc\"" };
                return Item(op, concrete, id, 400, parsing);
        }

        try
        {
            using var _ = JsonDocument.Parse(source);
        }
        catch (JsonException ex)
        {
            return Item(op, concrete, id, 400, Error("document_parsing_exception", $"[1:1] failed to parse: {ex.Message}"));
        }

        if (op == "index" && IsDataStream(index))
        {
            // Data streams are append-only: Elasticsearch refuses op_type index on them.
            return Item(op, concrete, id, 400, Error("illegal_argument_exception",
                $"only write ops with an op_type of create are allowed in data streams"));
        }

        if (op == "create" && !_documents.TryAdd((index, id), source))
        {
            // The id exists already: a create is refused per item, and the stored copy is kept.
            Interlocked.Increment(ref _conflicts);
            var conflict = Error("version_conflict_engine_exception", $"[{id}]: version conflict, document already exists (current version [1])");
            conflict["index_uuid"] = _indexUuid;
            conflict["shard"] = "0";
            conflict["index"] = concrete;
            return Item(op, concrete, id, 409, conflict);
        }

        if (op == "index")
        {
            _documents[(index, id)] = source;
        }

        Interlocked.Increment(ref _created);
        Interlocked.Exchange(ref _inserted, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        var created = Item(op, concrete, id, 201, null);
        var result = (JsonObject)created[op]!;
        result["_version"] = 1;
        result["result"] = "created";
        result["_shards"] = new JsonObject { ["total"] = 2, ["successful"] = 1, ["failed"] = 0 };
        result["_seq_no"] = Interlocked.Increment(ref _seqNo) - 1;
        result["_primary_term"] = 1;
        return created;
    }

    private bool IsDataStream(string index) => _isDataStream.GetOrAdd(index, i => _templates.Values.Any(t =>
        {
            var template = JsonNode.Parse(t)!.AsObject();
            if (template["data_stream"] is null)
            {
                return false;
            }

            var patterns = template["index_patterns"] switch
            {
                JsonArray array => array.Select(p => p!.GetValue<string>()),
                JsonValue one => [one.GetValue<string>()],
                _ => [],
            };
            return patterns.Any(p => Matches(p, i));
        }));

    private static bool Matches(string pattern, string value) =>
        System.Text.RegularExpressions.Regex.IsMatch(value, "^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal) + "$");

    private static JsonObject Item(string op, string index, string id, int status, JsonObject? error)
    {
        var result = new JsonObject { ["_index"] = index, ["_id"] = id, ["status"] = status };
        if (error is not null)
        {
            result["error"] = error;
        }

        return new JsonObject { [op] = result };
    }

    private static JsonObject Error(string type, string reason) => new() { ["type"] = type, ["reason"] = reason };

    private static Task WriteStatusFaultAsync(HttpContext context, int code) => code switch
    {
        // The coordinating node's write queue is full (es_rejected_execution_exception) or a
        // circuit breaker tripped: the whole request is refused, nothing indexed.
        429 => WriteErrorAsync(context, 429, "es_rejected_execution_exception",
            "rejected execution of coordinating operation [coordinating_and_primary_bytes=104857600, replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes=52428800, max_coordinating_and_primary_bytes=107374182]"),
        // No elected master (cluster forming, master failover): the cluster blocks writes.
        503 => WriteErrorAsync(context, 503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];"),
        // An unexpected failure on the coordinating node.
        500 => WriteErrorAsync(context, 500, "illegal_state_exception", "unexpected failure while processing the bulk request"),
        _ => WriteErrorAsync(context, code, "status_exception", $"scripted status {code}"),
    };

    private static Task WriteErrorAsync(HttpContext context, int status, string type, string reason)
    {
        var cause = Error(type, reason);
        var error = Error(type, reason);
        error["root_cause"] = new JsonArray(cause);
        return WriteJsonAsync(context, status, new JsonObject { ["error"] = error, ["status"] = status });
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        context.Response.ContentLength = bytes.Length;
        try
        {
            await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client gave up (timeout): it will retry.
        }
    }

    private static async Task PutJsonAsync(HttpContext context, ConcurrentDictionary<string, string> store, string requiredField)
    {
        var name = (string)context.Request.RouteValues["name"]!;
        var body = Encoding.UTF8.GetString(await ReadAllAsync(context.Request.Body, context.RequestAborted));
        JsonObject json;
        try
        {
            json = JsonNode.Parse(body) as JsonObject ?? throw new JsonException("the body is not a JSON object");
        }
        catch (JsonException ex)
        {
            // A body that is not JSON: Elasticsearch's parser refuses it.
            await WriteErrorAsync(context, 400, "x_content_parse_exception", ex.Message);
            return;
        }

        if (json[requiredField] is null)
        {
            await WriteErrorAsync(context, 400, "action_request_validation_exception", $"Validation Failed: 1: {requiredField} is missing;");
            return;
        }

        store[name] = body;
        await WriteJsonAsync(context, 200, new JsonObject { ["acknowledged"] = true });
    }

    private static Task GetJsonAsync(HttpContext context, ConcurrentDictionary<string, string> store)
    {
        var name = (string)context.Request.RouteValues["name"]!;
        return store.TryGetValue(name, out var body)
            ? WriteJsonAsync(context, 200, new JsonObject { [name] = JsonNode.Parse(body) })
            : WriteErrorAsync(context, 404, "resource_not_found_exception", $"[{name}] not found");
    }

    /// <summary>
    /// Kibana's saved-objects import: multipart form with a <c>file</c> part of NDJSON, refused
    /// without the <c>kbn-xsrf</c> header (Kibana's CSRF protection).
    /// </summary>
    private async Task KibanaImportAsync(HttpContext context)
    {
        Interlocked.Increment(ref _importRequests);
        if (!context.Request.Headers.ContainsKey("kbn-xsrf"))
        {
            await WriteJsonAsync(context, 400, new JsonObject { ["statusCode"] = 400, ["error"] = "Bad Request", ["message"] = "Request must contain a kbn-xsrf header." });
            return;
        }

        if (!context.Request.HasFormContentType || (await context.Request.ReadFormAsync(context.RequestAborted)).Files["file"] is not { } file)
        {
            await WriteJsonAsync(context, 415, new JsonObject { ["statusCode"] = 415, ["error"] = "Unsupported Media Type", ["message"] = "expected a multipart form with a file part" });
            return;
        }

        using var reader = new StreamReader(file.OpenReadStream());
        var count = 0;
        while (await reader.ReadLineAsync(context.RequestAborted) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            try
            {
                using var _ = JsonDocument.Parse(line);
            }
            catch (JsonException ex)
            {
                await WriteJsonAsync(context, 400, new JsonObject { ["statusCode"] = 400, ["error"] = "Bad Request", ["message"] = $"Unexpected token in JSON: {ex.Message}" });
                return;
            }

            _importedObjects.Enqueue(line);
            count++;
        }

        await WriteJsonAsync(context, 200, new JsonObject { ["success"] = true, ["successCount"] = count, ["successResults"] = new JsonArray() });
    }

    private static async Task<byte[]> ReadAllAsync(Stream body, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await body.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    private static async Task ReadSomeAsync(Stream body, int bytes, CancellationToken cancellationToken)
    {
        var buffer = new byte[Math.Max(1, bytes)];
        var read = 0;
        while (read < bytes)
        {
            var n = await body.ReadAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0)
            {
                return;
            }

            read += n;
        }
    }
}

/// <summary>A scripted misbehaviour of the Elasticsearch double for one <c>_bulk</c> request.</summary>
internal abstract record EsFault
{
    private EsFault()
    {
    }

    /// <summary>
    /// The node is gone: the connection is closed without an answer (a crashed or restarting
    /// node, a dropped connection). For refused connections use <see cref="ElasticsearchDouble.StopListeningAsync"/>.
    /// </summary>
    public sealed record Down : EsFault;

    /// <summary>
    /// A whole-request error: 429 <c>es_rejected_execution_exception</c> (write thread pool /
    /// indexing pressure full), 503 <c>cluster_block_exception</c> (no master), 500 (unexpected failure).
    /// Nothing of the request is indexed.
    /// </summary>
    public sealed record Status(int Code) : EsFault;

    /// <summary>
    /// HTTP 200 with <c>errors: true</c>: item i gets <c>Pattern[i % Pattern.Length]</c> —
    /// 201 indexed, 429 <c>es_rejected_execution_exception</c> (that shard's queue full; not
    /// indexed), 503 <c>unavailable_shards_exception</c>, 400 <c>mapper_parsing_exception</c>
    /// (the document does not fit the mapping; refused for good).
    /// </summary>
    public sealed record ItemErrors(params int[] Pattern) : EsFault
    {
        public int? StatusFor(int item) => Pattern[item % Pattern.Length] is var status && status == 201 ? null : status;
    }

    /// <summary>Indexes the documents, then answers only after <see cref="Delay"/> (a long GC pause, an overloaded node).</summary>
    public sealed record Slow(TimeSpan Delay) : EsFault;

    /// <summary>Reads the first <see cref="AfterBytes"/> of the body, then resets the connection; nothing is indexed.</summary>
    public sealed record ResetMidBody(int AfterBytes = 1024) : EsFault;
}
