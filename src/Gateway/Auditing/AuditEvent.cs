using System.Security.Cryptography;

namespace Gateway.Auditing;

/// <summary>
/// One audit event, shaped after the Elastic Common Schema (the ECS field each property becomes
/// is in its comment). <see cref="Id"/> is the document's <c>_id</c> in Elasticsearch, so a
/// replayed event never makes a duplicate.
/// </summary>
internal sealed record AuditEvent
{
    /// <summary><c>event.id</c> and the <c>_id</c>: time-ordered, unique (see <see cref="NewId"/>).</summary>
    /// <remarks>Made on first read (by the spool writer) from <see cref="Timestamp"/> unless set, so building an event costs no id.</remarks>
    public string Id
    {
        get => _id ?? (Interlocked.CompareExchange(ref _id, NewId(Timestamp), null) ?? _id);
        init => _id = value;
    }

    /// <summary><c>@timestamp</c>: when the call started, or when the change happened.</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary><c>event.kind</c>.</summary>
    public string Kind { get; init; } = "event";

    /// <summary><c>event.category</c>: <c>web</c>, <c>authentication</c>, <c>configuration</c>, <c>iam</c>.</summary>
    public required string Category { get; init; }

    /// <summary><c>event.action</c>: e.g. <c>proxy-request</c>, <c>support-request</c>, <c>support-login</c>, <c>support-grant-created</c>.</summary>
    public required string Action { get; init; }

    /// <summary>
    /// <c>event.outcome</c>: <c>success</c>, <c>failure</c> or <c>unknown</c>; null (left out) on a
    /// <c>support-request-started</c> record, written before anyone can know.
    /// </summary>
    public string? Outcome { get; init; } = "success";

    /// <summary><c>event.reason</c>: the problem code of a refusal, or why a call aborted.</summary>
    public string? Reason { get; init; }

    /// <summary><c>event.duration</c> (ECS: nanoseconds).</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary><c>http.request.method</c>.</summary>
    public string? HttpMethod { get; init; }

    /// <summary><c>url.path</c>: the raw path as sent.</summary>
    public string? UrlPath { get; init; }

    /// <summary><c>url.query</c> (without the <c>?</c>).</summary>
    public string? UrlQuery { get; init; }

    /// <summary><c>http.response.status_code</c>.</summary>
    public int? StatusCode { get; init; }

    /// <summary><c>http.request.bytes</c> (body bytes read from the client).</summary>
    public long? RequestBytes { get; init; }

    /// <summary><c>http.response.bytes</c> (body bytes written to the client).</summary>
    public long? ResponseBytes { get; init; }

    /// <summary><c>source.ip</c>.</summary>
    public string? SourceIp { get; init; }

    /// <summary><c>user_agent.original</c>.</summary>
    public string? UserAgent { get; init; }

    /// <summary><c>trace.id</c>.</summary>
    public string? TraceId { get; init; }

    /// <summary><c>gateway.route.id</c> (custom).</summary>
    public string? RouteId { get; init; }

    /// <summary><c>gateway.route.class</c> (custom): data, config, open, forbidden.</summary>
    public string? RouteClass { get; init; }

    /// <summary><c>organization.id</c>: the tenant.</summary>
    public string? Tenant { get; init; }

    /// <summary><c>user.name</c>: <c>jill$john</c> for support calls.</summary>
    public string? UserName { get; init; }

    /// <summary><c>user.id</c>: the support user (<c>jill</c>), or the management caller.</summary>
    public string? UserId { get; init; }

    /// <summary><c>user.roles</c>.</summary>
    public IReadOnlyList<string>? UserRoles { get; init; }

    /// <summary><c>user.target.name</c>: the impersonated tenant user.</summary>
    public string? TargetUserName { get; init; }

    /// <summary><c>gateway.support.grant_ids</c> (custom).</summary>
    public IReadOnlyList<string>? GrantIds { get; init; }

    /// <summary><c>gateway.support.isolation</c> (custom): <c>denyData,denyConfig</c>, one of them, or <c>none</c>.</summary>
    public string? Isolation { get; init; }

    /// <summary><c>gateway.support.decision</c> (custom): <c>allowed</c> or <c>denied</c>.</summary>
    public string? Decision { get; init; }

    /// <summary><c>gateway.support.session_id</c> (custom).</summary>
    public string? SessionId { get; init; }

    /// <summary>
    /// <c>gateway.support.started_id</c> (custom): the <c>event.id</c> of the <c>support-request-started</c>
    /// record this event completes (the call's own event, or the one recovery writes after a crash).
    /// </summary>
    public string? StartedId { get; init; }

    /// <summary><c>gateway.digest.*</c> (custom): the signed statement of an <c>audit-digest</c> event.</summary>
    public AuditDigest? Digest { get; init; }

    /// <summary>Further fields under <c>gateway.details.*</c> (custom), e.g. the settings that changed.</summary>
    public IReadOnlyDictionary<string, string?>? Details { get; init; }

    /// <summary>
    /// A 26-character id: 48 bits of milliseconds (so ids sort by time) and 80 random bits, in
    /// Crockford base32. Unique across instances without coordination. The random bits come from
    /// the system's CSPRNG, drawn in blocks per thread so that an event does not cost a call into it.
    /// </summary>
    public static string NewId(DateTimeOffset at)
    {
        var ms = (ulong)Math.Max(0, at.ToUnixTimeMilliseconds()) & 0xFFFF_FFFF_FFFF;
        var random = RandomBits80();
        var value = ((UInt128)ms << 80) | random;
        return string.Create(26, value, static (chars, v) =>
        {
            for (var i = 25; i >= 0; i--)
            {
                chars[i] = IdAlphabet[(int)(ulong)(v & 31)];
                v >>= 5;
            }
        });
    }

    /// <summary>
    /// An id derived from another one and a purpose: the same time part (so it sorts beside it) and
    /// 80 bits of SHA-256(purpose ‖ id). Recovery names its event after the record it completes,
    /// so writing it again after a second crash makes no second document.
    /// </summary>
    public static string DerivedId(string id, string purpose)
    {
        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(purpose + ":" + id));
        var random = ((UInt128)System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(hash) << 64)
            | System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash.AsSpan(2));
        var time = id.Length >= 10 ? id[..10] : id.PadLeft(10, '0');
        return string.Create(26, (time, random), static (chars, state) =>
        {
            state.time.AsSpan().CopyTo(chars);
            var v = state.random;
            for (var i = 25; i >= 10; i--)
            {
                chars[i] = IdAlphabet[(int)(ulong)(v & 31)];
                v >>= 5;
            }
        });
    }

    private const string IdAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";
    private const int RandomBlockIds = 64;

    [ThreadStatic]
    private static byte[]? _randomBlock;

    [ThreadStatic]
    private static int _randomUsed;

    private string? _id;

    private static UInt128 RandomBits80()
    {
        var block = _randomBlock ??= new byte[RandomBlockIds * 10];
        if (_randomUsed == 0 || _randomUsed >= block.Length)
        {
            RandomNumberGenerator.Fill(block);
            _randomUsed = 0;
        }

        var bits = block.AsSpan(_randomUsed, 10);
        _randomUsed += 10;
        return ((UInt128)System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(bits) << 64)
            | System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bits[2..]);
    }
}

/// <summary><c>event.action</c> and <c>event.reason</c> values the audit pipeline itself relies on.</summary>
internal static class AuditActions
{
    /// <summary>A support call, written when its response completes or aborts.</summary>
    public const string SupportRequest = "support-request";

    /// <summary>The write-ahead record of a support call, durable before the call is forwarded.</summary>
    public const string SupportRequestStarted = "support-request-started";

    /// <summary>A signed digest of the instance's hash chain.</summary>
    public const string AuditDigest = "audit-digest";

    /// <summary><c>event.reason</c> of the event recovery writes for a call the gateway did not live to complete.</summary>
    public const string CrashedReason = "gateway.crashed";
}
