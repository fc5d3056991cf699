using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Gateway.Auditing;

/// <summary>
/// What the spool writer must know when it starts again and that the segments alone may no longer
/// hold (the shipper deletes shipped segments): the head of this instance's hash chain, its last
/// digest, and the write-ahead records still open (a support call forwarded and not yet
/// completed), each with the segment that holds it — those segments are kept (pinned) until the
/// call's completion is in the spool. Saved as <c>writer-state</c> in the spool directory just
/// before each new segment is created (at start and when a segment is full), atomically (temp
/// file, rename): everything written after it is in that segment or a later one, which is never
/// deleted while it is being written.
/// </summary>
internal sealed record SpoolWriterState(
    string Instance,
    long Seq,
    string Hash,
    long DigestSeq,
    string? DigestHash,
    long Segment,
    IReadOnlyList<SpoolOpenWrite> Open)
{
    public const string FileName = "writer-state";

    public static SpoolWriterState? Load(string directory, out string? problem)
    {
        problem = null;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(Path.Combine(directory, FileName));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(bytes);
            var root = json.RootElement;
            var open = new List<SpoolOpenWrite>();
            foreach (var entry in root.GetProperty("open").EnumerateArray())
            {
                open.Add(new SpoolOpenWrite(entry.GetProperty("id").GetString()!, entry.GetProperty("segment").GetInt64()));
            }

            var state = new SpoolWriterState(
                root.GetProperty("instance").GetString()!,
                root.GetProperty("seq").GetInt64(),
                root.GetProperty("hash").GetString()!,
                root.GetProperty("digestSeq").GetInt64(),
                root.TryGetProperty("digestHash", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null,
                root.GetProperty("segment").GetInt64(),
                open);
            Span<byte> hash = stackalloc byte[AuditChainHasher.HashBytes];
            if (state.Seq < 0 || !AuditChainHasher.TryParseHex(state.Hash, hash))
            {
                throw new FormatException("seq or hash out of range");
            }

            return state;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            problem = ex.Message;
            return null;
        }
    }

    /// <param name="directory">The spool directory.</param>
    /// <param name="durable">fsync before the rename (at start). When a segment rolls it is not: a killed
    /// process loses nothing the kernel has, and ext4 and xfs write a renamed-over file's data before the
    /// rename; an operating-system crash can at worst leave an older state, from which recovery reads
    /// more segments (and may record a call that had completed as unknown, never the reverse).</param>
    public void Save(string directory, bool durable)
    {
        var path = Path.Combine(directory, FileName);
        var staging = path + ".tmp";
        using (var file = new FileStream(staging, FileMode.Create, FileAccess.Write, FileShare.None, 4096))
        {
            using (var json = new Utf8JsonWriter(file))
            {
                json.WriteStartObject();
                json.WriteString("instance", Instance);
                json.WriteNumber("seq", Seq);
                json.WriteString("hash", Hash);
                json.WriteNumber("digestSeq", DigestSeq);
                json.WriteString("digestHash", DigestHash);
                json.WriteNumber("segment", Segment);
                json.WriteStartArray("open");
                foreach (var open in Open)
                {
                    json.WriteStartObject();
                    json.WriteString("id", open.Id);
                    json.WriteNumber("segment", open.Segment);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            file.WriteByte((byte)'\n');
            file.Flush(flushToDisk: durable);
        }

        File.Move(staging, path, overwrite: true);
    }
}

/// <summary>A write-ahead record not yet completed: its event id and the segment holding it.</summary>
internal sealed record SpoolOpenWrite(string Id, long Segment);

/// <summary>What the start-up scan found: the chain to continue, and the calls a crash left unfinished.</summary>
internal sealed record SpoolRecoveryResult(
    long Seq,
    byte[] Head,
    long DigestSeq,
    string? DigestHash,
    IReadOnlyList<(SpoolOpenWrite Open, AuditEvent Crashed)> Unfinished);

/// <summary>
/// The spool writer's start-up scan (docs/audit.md, "Write-ahead" and "Integrity"): from the
/// <see cref="SpoolWriterState"/> and the segments written since it was saved, the chain head and
/// last digest of this instance, and every write-ahead record without a completion — for each, the
/// event recovery writes: the same call, <c>event.outcome: unknown</c>,
/// <c>event.reason: gateway.crashed</c>, with an id derived from the record's, so a second
/// restart cannot make a second document.
/// </summary>
internal static class SpoolRecovery
{
    public const string InstanceIdFileName = "instance-id";

    private static readonly byte[] StartedMarker = Encoding.UTF8.GetBytes("\"" + AuditActions.SupportRequestStarted + "\"");
    private static readonly byte[] CompletionMarker = "\"started_id\""u8.ToArray();
    private static readonly byte[] DigestMarker = Encoding.UTF8.GetBytes("\"" + AuditActions.AuditDigest + "\"");

    /// <summary>The id in <c>instance-id</c>, or a new one written there (it names this spool's chain from now on).</summary>
    public static string LoadOrCreateInstanceId(string directory)
    {
        var path = Path.Combine(directory, InstanceIdFileName);
        if (File.Exists(path))
        {
            var text = File.ReadAllText(path).Trim();
            if (text.Length is > 0 and <= 64 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return text;
            }
        }

        var id = "gw-" + AuditEvent.NewId(DateTimeOffset.UtcNow);
        var staging = path + ".tmp";
        using (var file = new FileStream(staging, FileMode.Create, FileAccess.Write, FileShare.None, 256))
        {
            file.Write(Encoding.ASCII.GetBytes(id + "\n"));
            file.Flush(flushToDisk: true);
        }

        File.Move(staging, path, overwrite: true);
        return id;
    }

    /// <param name="directory">The spool directory.</param>
    /// <param name="instance">This instance's chain id.</param>
    /// <param name="state">The saved writer state, if any.</param>
    /// <param name="segments">The segments present, ascending (the last one's torn tail already cut).</param>
    /// <param name="now">When the recovery runs (noted on the events it makes).</param>
    public static SpoolRecoveryResult Recover(string directory, string instance, SpoolWriterState? state, IReadOnlyList<long> segments, DateTimeOffset now)
    {
        var open = new Dictionary<string, (long Segment, string? Json)>(StringComparer.Ordinal);
        foreach (var entry in state?.Open ?? [])
        {
            open[entry.Id] = (entry.Segment, null);
        }

        // Without a saved state (a spool from before the chain, or the file lost) every segment is
        // read; with one, only those written since it was saved.
        var from = state?.Segment ?? 0;
        (long Segment, long Offset)? last = null, lastDigest = null;
        foreach (var segment in segments.Where(s => s >= from))
        {
            // Only records that can matter are parsed (a substring test first): the scan may cover
            // a whole spool of unshipped events.
            Scan(directory, segment, (offset, span) =>
            {
                if (span.IndexOf(StartedMarker) >= 0 && Facts(span) is { Action: AuditActions.SupportRequestStarted, Id: { } id })
                {
                    open[id] = (segment, Encoding.UTF8.GetString(span));
                }
                else if (span.IndexOf(CompletionMarker) >= 0 && Facts(span) is { StartedId: { } completed })
                {
                    open.Remove(completed);
                }

                if (span.IndexOf(DigestMarker) >= 0)
                {
                    lastDigest = (segment, offset);
                }

                last = (segment, offset);
            });
        }

        // The chain: whichever is later of the saved state and the last record written since.
        var seq = 0L;
        var head = new byte[AuditChainHasher.HashBytes];
        var digestSeq = 0L;
        string? digestHash = null;
        if (state is not null && state.Instance == instance && AuditChainHasher.TryParseHex(state.Hash, head))
        {
            (seq, digestSeq, digestHash) = (state.Seq, state.DigestSeq, state.DigestHash);
        }

        if (last is { } l && FactsAt(directory, l) is { Instance: { } lastInstance, Seq: { } lastSeq, Hash: { } lastHash }
            && lastInstance == instance && lastSeq > seq && AuditChainHasher.TryParseHex(lastHash, head))
        {
            seq = lastSeq;
        }

        if (lastDigest is { } d && FactsAt(directory, d) is { Instance: { } digestInstance, Seq: { } lastDigestSeq, Jws: { } jws }
            && digestInstance == instance && lastDigestSeq > digestSeq)
        {
            (digestSeq, digestHash) = (lastDigestSeq, AuditDigest.HashOf(jws));
        }

        var unfinished = new List<(SpoolOpenWrite, AuditEvent)>();
        foreach (var (id, (segment, json)) in open)
        {
            var started = json ?? Find(directory, segment, id);
            unfinished.Add((new SpoolOpenWrite(id, segment), Crashed(id, started, now)));
        }

        return new SpoolRecoveryResult(seq, head, digestSeq, digestHash, unfinished);
    }

    /// <summary>
    /// The event written for a support call the gateway did not live to complete: the facts of its
    /// write-ahead record (<paramref name="startedJson"/>; if that is gone, only the reference).
    /// </summary>
    public static AuditEvent Crashed(string startedId, string? startedJson, DateTimeOffset now)
    {
        var details = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["recoveredAt"] = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        };
        var id = AuditEvent.DerivedId(startedId, AuditActions.CrashedReason);
        if (startedJson is null)
        {
            return new AuditEvent
            {
                Id = id,
                Timestamp = now,
                Category = "web",
                Action = AuditActions.SupportRequest,
                Outcome = "unknown",
                Reason = AuditActions.CrashedReason,
                StartedId = startedId,
                Details = details,
            };
        }

        using var json = JsonDocument.Parse(startedJson);
        var e = json.RootElement;
        if (e.TryGetProperty("gateway", out var gateway) && gateway.TryGetProperty("details", out var startedDetails) && startedDetails.ValueKind == JsonValueKind.Object)
        {
            foreach (var detail in startedDetails.EnumerateObject())
            {
                details.TryAdd(detail.Name, detail.Value.ValueKind == JsonValueKind.String ? detail.Value.GetString() : detail.Value.GetRawText());
            }
        }

        var timestamp = DateTimeOffset.TryParse(Text(e, "@timestamp"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : now;
        return new AuditEvent
        {
            Id = id,
            Timestamp = timestamp,
            Category = "web",
            Action = AuditActions.SupportRequest,
            Outcome = "unknown",
            Reason = AuditActions.CrashedReason,
            HttpMethod = Text(e, "http", "request", "method"),
            UrlPath = Text(e, "url", "path"),
            UrlQuery = Text(e, "url", "query"),
            SourceIp = Text(e, "source", "ip") ?? Text(e, "source", "address"),
            UserAgent = Text(e, "user_agent", "original"),
            TraceId = Text(e, "trace", "id"),
            RouteId = Text(e, "gateway", "route", "id"),
            RouteClass = Text(e, "gateway", "route", "class"),
            Tenant = Text(e, "organization", "id"),
            UserName = Text(e, "user", "name"),
            UserId = Text(e, "user", "id"),
            TargetUserName = Text(e, "user", "target", "name"),
            GrantIds = Strings(e, "gateway", "support", "grant_ids"),
            Isolation = Text(e, "gateway", "support", "isolation"),
            Decision = Text(e, "gateway", "support", "decision"),
            SessionId = Text(e, "gateway", "support", "session_id"),
            StartedId = startedId,
            Details = details,
        };
    }

    /// <summary>The fields of one record the recovery looks at (null when absent or unreadable).</summary>
    internal sealed record RecordFacts(string? Id, string? Action, string? StartedId, string? Instance, long? Seq, string? Hash, string? Jws);

    internal static RecordFacts? Facts(ReadOnlySpan<byte> payload)
    {
        try
        {
            var reader = new Utf8JsonReader(payload);
            using var json = JsonDocument.ParseValue(ref reader);
            var e = json.RootElement;
            return new RecordFacts(
                Text(e, "event", "id"),
                Text(e, "event", "action"),
                Text(e, "gateway", "support", "started_id"),
                Text(e, "gateway", "chain", "instance"),
                Element(e, "gateway", "chain", "seq") is { ValueKind: JsonValueKind.Number } seq && seq.TryGetInt64(out var n) ? n : null,
                Text(e, "gateway", "chain", "hash"),
                Text(e, "gateway", "digest", "jws"));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Find(string directory, long segment, string id)
    {
        var marker = Encoding.UTF8.GetBytes("\"" + id + "\"");
        string? found = null;
        Scan(directory, segment, (_, span) =>
        {
            if (found is null && span.IndexOf(marker) >= 0 && Facts(span) is { Id: { } candidate } && candidate == id)
            {
                found = Encoding.UTF8.GetString(span);
            }
        });
        return found;
    }

    private static RecordFacts? FactsAt(string directory, (long Segment, long Offset) at)
    {
        using var reader = SpoolSegmentReader.Open(directory, at.Segment);
        var read = reader.Read(at.Offset, reader.Length);
        return read.Status == SpoolReadStatus.Record ? Facts(read.Payload.Span) : null;
    }

    private delegate void RecordVisitor(long offset, ReadOnlySpan<byte> payload);

    /// <summary>Shows every whole record of one segment to <paramref name="visit"/> (valid only during the call); skips what is not a whole record.</summary>
    private static void Scan(string directory, long segment, RecordVisitor visit)
    {
        SpoolSegmentReader reader;
        try
        {
            reader = SpoolSegmentReader.Open(directory, segment);
        }
        catch (FileNotFoundException)
        {
            return;
        }

        using (reader)
        {
            var length = reader.Length;
            var offset = 0L;
            while (true)
            {
                var read = reader.Read(offset, length);
                if (read.Status == SpoolReadStatus.End)
                {
                    return;
                }

                if (read.Status == SpoolReadStatus.Record)
                {
                    visit(offset, read.Payload.Span);
                }

                offset = read.NextOffset;
            }
        }
    }

    private static JsonElement? Element(JsonElement e, params string[] path)
    {
        var current = e;
        foreach (var part in path)
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(part, out current))
            {
                return null;
            }
        }

        return current;
    }

    private static string? Text(JsonElement e, params string[] path) =>
        Element(e, path) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    private static string[]? Strings(JsonElement e, params string[] path) =>
        Element(e, path) is { ValueKind: JsonValueKind.Array } values
            ? [.. values.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!)]
            : null;
}
