using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Gateway.Auditing;

/// <summary>
/// Writes an <see cref="AuditEvent"/> as one Elastic Common Schema document (nested objects,
/// nulls omitted), with a <see cref="Utf8JsonWriter"/> and pre-encoded names: no reflection
/// per event. The field table is in docs/audit.md; config/elasticsearch/index-template.json
/// maps every field written here (a test walks a fully populated event to check).
/// </summary>
internal static class EcsAuditSerializer
{
    public const string EcsVersion = "8.11.0";

    /// <summary>
    /// Longest string value written, in UTF-16 code units; longer ones are cut and end in "…".
    /// Keeps every keyword under Lucene's 32766-byte term limit, which would otherwise get the
    /// whole document refused by Elasticsearch.
    /// </summary>
    public const int MaxStringLength = 8192;

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Audit fields hold user input: escape as little as JSON needs, never HTML-escape,
        // and keep non-ASCII readable in the spool.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = true,
    };

    private static readonly JsonEncodedText Timestamp = JsonEncodedText.Encode("@timestamp");
    private static readonly JsonEncodedText Event = JsonEncodedText.Encode("event");
    private static readonly JsonEncodedText Id = JsonEncodedText.Encode("id");
    private static readonly JsonEncodedText Kind = JsonEncodedText.Encode("kind");
    private static readonly JsonEncodedText Category = JsonEncodedText.Encode("category");
    private static readonly JsonEncodedText Action = JsonEncodedText.Encode("action");
    private static readonly JsonEncodedText Outcome = JsonEncodedText.Encode("outcome");
    private static readonly JsonEncodedText Reason = JsonEncodedText.Encode("reason");
    private static readonly JsonEncodedText Duration = JsonEncodedText.Encode("duration");
    private static readonly JsonEncodedText Http = JsonEncodedText.Encode("http");
    private static readonly JsonEncodedText Request = JsonEncodedText.Encode("request");
    private static readonly JsonEncodedText Response = JsonEncodedText.Encode("response");
    private static readonly JsonEncodedText Method = JsonEncodedText.Encode("method");
    private static readonly JsonEncodedText Bytes = JsonEncodedText.Encode("bytes");
    private static readonly JsonEncodedText StatusCode = JsonEncodedText.Encode("status_code");
    private static readonly JsonEncodedText Url = JsonEncodedText.Encode("url");
    private static readonly JsonEncodedText UrlPath = JsonEncodedText.Encode("path");
    private static readonly JsonEncodedText Query = JsonEncodedText.Encode("query");
    private static readonly JsonEncodedText Source = JsonEncodedText.Encode("source");
    private static readonly JsonEncodedText Ip = JsonEncodedText.Encode("ip");
    private static readonly JsonEncodedText Address = JsonEncodedText.Encode("address");
    private static readonly JsonEncodedText UserAgent = JsonEncodedText.Encode("user_agent");
    private static readonly JsonEncodedText Original = JsonEncodedText.Encode("original");
    private static readonly JsonEncodedText Trace = JsonEncodedText.Encode("trace");
    private static readonly JsonEncodedText User = JsonEncodedText.Encode("user");
    private static readonly JsonEncodedText Name = JsonEncodedText.Encode("name");
    private static readonly JsonEncodedText Roles = JsonEncodedText.Encode("roles");
    private static readonly JsonEncodedText Target = JsonEncodedText.Encode("target");
    private static readonly JsonEncodedText Organization = JsonEncodedText.Encode("organization");
    private static readonly JsonEncodedText Gateway = JsonEncodedText.Encode("gateway");
    private static readonly JsonEncodedText Route = JsonEncodedText.Encode("route");
    private static readonly JsonEncodedText Class = JsonEncodedText.Encode("class");
    private static readonly JsonEncodedText Support = JsonEncodedText.Encode("support");
    private static readonly JsonEncodedText GrantIds = JsonEncodedText.Encode("grant_ids");
    private static readonly JsonEncodedText Isolation = JsonEncodedText.Encode("isolation");
    private static readonly JsonEncodedText Decision = JsonEncodedText.Encode("decision");
    private static readonly JsonEncodedText SessionId = JsonEncodedText.Encode("session_id");
    private static readonly JsonEncodedText StartedId = JsonEncodedText.Encode("started_id");
    private static readonly JsonEncodedText Chain = JsonEncodedText.Encode("chain");
    private static readonly JsonEncodedText Instance = JsonEncodedText.Encode("instance");
    private static readonly JsonEncodedText Seq = JsonEncodedText.Encode("seq");
    private static readonly JsonEncodedText Hash = JsonEncodedText.Encode("hash");
    private static readonly JsonEncodedText Digest = JsonEncodedText.Encode("digest");
    private static readonly JsonEncodedText FirstSeq = JsonEncodedText.Encode("first_seq");
    private static readonly JsonEncodedText LastSeq = JsonEncodedText.Encode("last_seq");
    private static readonly JsonEncodedText ChainHead = JsonEncodedText.Encode("chain_head");
    private static readonly JsonEncodedText PrevDigest = JsonEncodedText.Encode("prev_digest");
    private static readonly JsonEncodedText KeyId = JsonEncodedText.Encode("key_id");
    private static readonly JsonEncodedText Jws = JsonEncodedText.Encode("jws");
    private static readonly JsonEncodedText HashPlaceholder = JsonEncodedText.Encode(AuditChainHasher.GenesisHex);
    private static readonly JsonEncodedText Details = JsonEncodedText.Encode("details");
    private static readonly JsonEncodedText Ecs = JsonEncodedText.Encode("ecs");
    private static readonly JsonEncodedText Version = JsonEncodedText.Encode("version");
    private static readonly JsonEncodedText EcsVersionValue = JsonEncodedText.Encode(EcsVersion);

    /// <summary>The document as UTF-8 bytes (one line: no newline inside or at the end).</summary>
    public static byte[] Serialize(AuditEvent auditEvent)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        Write(buffer, auditEvent);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(IBufferWriter<byte> output, AuditEvent auditEvent)
    {
        using var json = CreateWriter(output);
        Write(json, auditEvent);
    }

    /// <summary>A writer with the options documents are written with; reuse it with <see cref="Utf8JsonWriter.Reset(IBufferWriter{byte})"/>.</summary>
    public static Utf8JsonWriter CreateWriter(IBufferWriter<byte> output) => new(output, WriterOptions);

    public static void Write(Utf8JsonWriter json, AuditEvent e) => Write(json, e, null);

    /// <summary>
    /// Writes the document; with <paramref name="chain"/>, also <c>gateway.chain</c> with a hash of
    /// 64 zeros, whose position (the offset of its first digit from where the writer started) is
    /// returned so the spool writer can put the real chain hash there once the canonical bytes
    /// (which leave <c>gateway.chain</c> out) are hashed. -1 without a chain.
    /// </summary>
    public static long Write(Utf8JsonWriter json, AuditEvent e, AuditChainStamp? chain)
    {
        json.WriteStartObject();
        WriteTimestamp(json, e.Timestamp);

        json.WriteStartObject(Event);
        WriteString(json, Id, e.Id);
        WriteString(json, Kind, e.Kind);
        if (e.Category is not null)
        {
            json.WriteStartArray(Category);
            WriteStringValue(json, e.Category);
            json.WriteEndArray();
        }

        WriteString(json, Action, e.Action);
        WriteString(json, Outcome, e.Outcome);
        WriteString(json, Reason, e.Reason);
        if (e.Duration is { } duration)
        {
            // ECS: event.duration is in nanoseconds; a tick is 100 ns.
            json.WriteNumber(Duration, duration.Ticks * 100);
        }

        json.WriteEndObject();

        if (e.HttpMethod is not null || e.RequestBytes is not null || e.StatusCode is not null || e.ResponseBytes is not null)
        {
            json.WriteStartObject(Http);
            if (e.HttpMethod is not null || e.RequestBytes is not null)
            {
                json.WriteStartObject(Request);
                WriteString(json, Method, e.HttpMethod);
                WriteNumber(json, Bytes, e.RequestBytes);
                json.WriteEndObject();
            }

            if (e.StatusCode is not null || e.ResponseBytes is not null)
            {
                json.WriteStartObject(Response);
                WriteNumber(json, StatusCode, e.StatusCode);
                WriteNumber(json, Bytes, e.ResponseBytes);
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        if (e.UrlPath is not null || e.UrlQuery is not null)
        {
            json.WriteStartObject(Url);
            WriteString(json, UrlPath, e.UrlPath);
            WriteString(json, Query, e.UrlQuery);
            json.WriteEndObject();
        }

        if (!string.IsNullOrEmpty(e.SourceIp))
        {
            json.WriteStartObject(Source);
            if (NormalizeIp(e.SourceIp) is { } ip)
            {
                json.WriteString(Ip, ip);
            }
            else
            {
                // source.ip is mapped as `ip`: a value that is not an address would get the whole
                // document refused, so it is kept as source.address instead.
                WriteString(json, Address, e.SourceIp);
            }

            json.WriteEndObject();
        }

        if (e.UserAgent is not null)
        {
            json.WriteStartObject(UserAgent);
            WriteString(json, Original, e.UserAgent);
            json.WriteEndObject();
        }

        if (e.TraceId is not null)
        {
            json.WriteStartObject(Trace);
            WriteString(json, Id, e.TraceId);
            json.WriteEndObject();
        }

        if (e.UserName is not null || e.UserId is not null || e.UserRoles is not null || e.TargetUserName is not null)
        {
            json.WriteStartObject(User);
            WriteString(json, Name, e.UserName);
            WriteString(json, Id, e.UserId);
            WriteArray(json, Roles, e.UserRoles);
            if (e.TargetUserName is not null)
            {
                json.WriteStartObject(Target);
                WriteString(json, Name, e.TargetUserName);
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        if (e.Tenant is not null)
        {
            json.WriteStartObject(Organization);
            WriteString(json, Id, e.Tenant);
            json.WriteEndObject();
        }

        var hashAt = WriteGateway(json, e, chain);

        json.WriteStartObject(Ecs);
        json.WriteString(Version, EcsVersionValue);
        json.WriteEndObject();

        json.WriteEndObject();
        json.Flush();
        return hashAt;
    }

    private static long WriteGateway(Utf8JsonWriter json, AuditEvent e, AuditChainStamp? chain)
    {
        var hasRoute = e.RouteId is not null || e.RouteClass is not null;
        var hasSupport = e.GrantIds is not null || e.Isolation is not null || e.Decision is not null || e.SessionId is not null || e.StartedId is not null;
        var hasDetails = false;
        if (e.Details is not null)
        {
            foreach (var detail in e.Details)
            {
                if (detail.Value is not null)
                {
                    hasDetails = true;
                    break;
                }
            }
        }
        if (!hasRoute && !hasSupport && !hasDetails && chain is null && e.Digest is null)
        {
            return -1;
        }

        json.WriteStartObject(Gateway);
        var hashAt = -1L;
        if (chain is { } stamp)
        {
            json.WriteStartObject(Chain);
            json.WriteString(Instance, stamp.Instance);
            json.WriteNumber(Seq, stamp.Seq);
            json.WritePropertyName(Hash);
            // The value's first digit comes after its opening quote.
            hashAt = json.BytesCommitted + json.BytesPending + 1;
            json.WriteStringValue(HashPlaceholder);
            json.WriteEndObject();
        }

        if (hasRoute)
        {
            json.WriteStartObject(Route);
            WriteString(json, Id, e.RouteId);
            WriteString(json, Class, e.RouteClass);
            json.WriteEndObject();
        }

        if (hasSupport)
        {
            json.WriteStartObject(Support);
            WriteArray(json, GrantIds, e.GrantIds);
            WriteString(json, Isolation, e.Isolation);
            WriteString(json, Decision, e.Decision);
            WriteString(json, SessionId, e.SessionId);
            WriteString(json, StartedId, e.StartedId);
            json.WriteEndObject();
        }

        if (e.Digest is { } digest)
        {
            json.WriteStartObject(Digest);
            json.WriteNumber(FirstSeq, digest.FirstSeq);
            json.WriteNumber(LastSeq, digest.LastSeq);
            json.WriteString(ChainHead, digest.ChainHead);
            WriteString(json, PrevDigest, digest.PreviousDigest);
            json.WriteString(KeyId, digest.KeyId);
            json.WriteString(Jws, digest.Jws);
            json.WriteEndObject();
        }

        if (hasDetails)
        {
            // Free-form keys: mapped as one `flattened` field, so they cannot explode the mapping.
            json.WriteStartObject(Details);
            foreach (var (key, value) in e.Details!)
            {
                if (value is not null)
                {
                    json.WritePropertyName(Clean(key));
                    WriteStringValue(json, value);
                }
            }

            json.WriteEndObject();
        }

        json.WriteEndObject();
        return hashAt;
    }

    private static void WriteTimestamp(Utf8JsonWriter json, DateTimeOffset at)
    {
        // Millisecond precision (what an Elasticsearch `date` keeps), always UTC with "Z".
        Span<char> text = stackalloc char[24];
        at.UtcDateTime.TryFormat(text, out var written, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        json.WriteString(Timestamp, text[..written]);
    }

    private static void WriteString(Utf8JsonWriter json, JsonEncodedText name, string? value)
    {
        if (value is not null)
        {
            json.WritePropertyName(name);
            WriteStringValue(json, value);
        }
    }

    private static void WriteNumber(Utf8JsonWriter json, JsonEncodedText name, long? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
    }

    private static void WriteArray(Utf8JsonWriter json, JsonEncodedText name, IReadOnlyList<string>? values)
    {
        if (values is null)
        {
            return;
        }

        json.WriteStartArray(name);
        foreach (var value in values)
        {
            if (value is not null)
            {
                WriteStringValue(json, value);
            }
        }

        json.WriteEndArray();
    }

    private static void WriteStringValue(Utf8JsonWriter json, string value) => json.WriteStringValue(Clean(value));

    /// <summary>
    /// Cuts over-long values and replaces lone surrogates (which <see cref="Utf8JsonWriter"/>
    /// refuses to encode) with U+FFFD, so no input can make an event unwritable.
    /// </summary>
    private static ReadOnlySpan<char> Clean(string value)
    {
        var span = value.AsSpan();
        var cut = span.Length > MaxStringLength;
        if (!cut && span.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            return span;
        }

        if (cut)
        {
            span = span[..(MaxStringLength - 1)];
        }

        var chars = new char[span.Length + (cut ? 1 : 0)];
        for (var i = 0; i < span.Length; i++)
        {
            var c = span[i];
            if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                chars[i] = c;
                chars[i + 1] = span[i + 1];
                i++;
            }
            else
            {
                chars[i] = char.IsSurrogate(c) ? '\uFFFD' : c;
            }
        }

        if (cut)
        {
            chars[^1] = '…';
        }

        return chars;
    }

    /// <summary>The address in canonical form (IPv4-mapped IPv6 as IPv4), or null if it is not one.</summary>
    private static string? NormalizeIp(string value)
    {
        if (!IPAddress.TryParse(value, out var address))
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            // Elasticsearch's ip type has no zone index.
            address.ScopeId = 0;
        }

        return address.ToString();
    }
}
