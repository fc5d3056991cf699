namespace Gateway.Auditing;

/// <summary>
/// The audit pipeline (section <c>Audit</c>): a bounded in-memory queue, a durable spool on
/// local disk, and an optional shipper to Elasticsearch. See <c>docs/audit.md</c>.
/// </summary>
internal sealed class AuditOptions
{
    public const string SectionName = "Audit";

    /// <summary>
    /// Where spool segments, the shipping checkpoint and dead letters live. Relative paths are
    /// resolved against the process's current directory. Put it on a persistent volume: what is
    /// here and not yet shipped is the only copy of those events.
    /// </summary>
    public string SpoolDirectory { get; init; } = "spool/audit";

    /// <summary>
    /// Events held in memory between the request path and the spool writer (reservations
    /// included). Full: ordinary events are dropped (counted), support calls get 503.
    /// </summary>
    public int QueueCapacity { get; init; } = 10_000;

    /// <summary>A spool segment is closed and a new one started once it would grow past this.</summary>
    public long SegmentMaxBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>
    /// Cap on the spool's size on disk. At the cap, ordinary events are dropped (counted) and
    /// support calls get 503 until the shipper has delivered and deleted segments.
    /// </summary>
    public long SpoolMaxBytes { get; init; } = 1024L * 1024 * 1024;

    /// <summary>
    /// The part of <see cref="SpoolMaxBytes"/> only security events may use (support calls, logins,
    /// grant and configuration changes): ordinary traffic stops at the cap minus this, so it can
    /// never fill the spool for them. Default: an eighth of the cap.
    /// </summary>
    public long? SecurityReserveBytes { get; init; }

    public long EffectiveSecurityReserveBytes => SecurityReserveBytes ?? SpoolMaxBytes / 8;

    /// <summary>Queue slots kept for security events, likewise: a tenth of the queue (at least one).</summary>
    public static int QueueSecurityReserve(int capacity) => Math.Max(1, capacity / 10);

    /// <summary>
    /// Longest value of a free-text field (path, query, user agent) in an ordinary-traffic event;
    /// longer ones keep their start and end with the SHA-256 of the whole value, so an anonymous
    /// client cannot make each of its requests cost kilobytes of spool.
    /// </summary>
    public int OrdinaryFieldMaxLength { get; init; } = 1024;

    /// <summary>When spooled bytes are forced to stable storage (see <see cref="AuditFsyncPolicy"/>).</summary>
    public AuditFsyncPolicy FsyncPolicy { get; init; } = AuditFsyncPolicy.Interval;

    /// <summary>With <see cref="AuditFsyncPolicy.Interval"/>: the longest unsynced data may wait.</summary>
    public TimeSpan FsyncInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Which admitted support requests are recorded durably before they are forwarded (a
    /// <c>support-request-started</c> record, written and fsynced): see <see cref="AuditWriteAhead"/>.
    /// </summary>
    public AuditWriteAhead WriteAhead { get; init; } = AuditWriteAhead.Writes;

    /// <summary>
    /// Longest a support request waits for its write-ahead record to be on disk; past it the
    /// request is refused (503 <c>audit.unavailable</c>), never forwarded unrecorded.
    /// </summary>
    public TimeSpan WriteAheadTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// This instance's name in the hash chain (<c>gateway.chain.instance</c>). Empty: an id
    /// generated once and kept in the spool directory (file <c>instance-id</c>), so it stays the
    /// same across restarts for as long as the spool does.
    /// </summary>
    public string? InstanceId { get; init; }

    /// <summary>Signed digests of the hash chain (section <c>Audit:Integrity</c>).</summary>
    public AuditIntegrityOptions Integrity { get; init; } = new();

    public AuditElasticsearchOptions Elasticsearch { get; init; } = new();
}

/// <summary>Which support requests get a durable <c>support-request-started</c> record before they are forwarded.</summary>
internal enum AuditWriteAhead
{
    /// <summary>Every method but GET, HEAD and OPTIONS, and every upgrade or tunnel (WebSocket, CONNECT).</summary>
    Writes,

    /// <summary>Every admitted support request, reads included.</summary>
    All,

    /// <summary>None: a crash can lose the record of a support request that was forwarded.</summary>
    Off,
}

/// <summary>The audit signing key and how often the chain is signed (section <c>Audit:Integrity</c>).</summary>
internal sealed class AuditIntegrityOptions
{
    /// <summary>
    /// PEM EC P-256 private key that signs the digests. Required in a configuration marked
    /// <c>Gateway:Production</c>; empty elsewhere: a key generated at start.
    /// </summary>
    public string? SigningKeyPem { get; init; }

    /// <summary>The key's <c>kid</c> in the JWKS (must differ from <c>Support:SigningKeyId</c>).</summary>
    public string SigningKeyId { get; init; } = "audit-1";

    /// <summary>
    /// A digest is written this long after the first event no digest covers yet (so every interval
    /// while events flow, none while idle), and at shutdown.
    /// </summary>
    public TimeSpan DigestInterval { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// When the spool writer calls fsync. Every policy hands each written burst to the operating
/// system at once, so a killed <em>process</em> loses only what was still in the in-memory
/// queue; the policy decides what an operating-system crash or power cut can take.
/// </summary>
internal enum AuditFsyncPolicy
{
    /// <summary>fsync after every burst, before its events count as spooled or are shipped.</summary>
    Always,

    /// <summary>fsync at most every <see cref="AuditOptions.FsyncInterval"/> while there is unsynced data.</summary>
    Interval,

    /// <summary>Never fsync (except when closing); the OS writes back when it likes.</summary>
    Never,
}

/// <summary>Shipping to Elasticsearch (section <c>Audit:Elasticsearch</c>). Empty <see cref="Url"/>: nothing is shipped.</summary>
internal sealed class AuditElasticsearchOptions
{
    /// <summary>Base URL of the cluster, e.g. <c>https://es.internal:9200</c>. Empty: events stay in the spool.</summary>
    public string? Url { get; init; }

    /// <summary>The data stream written to, with <c>create</c> actions (so replays are idempotent).</summary>
    public string Index { get; init; } = "gateway-audit";

    /// <summary>Encoded API key (<c>Authorization: ApiKey …</c>); excludes <see cref="Username"/>.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Basic-auth user; needs <see cref="Password"/>.</summary>
    public string? Username { get; init; }

    public string? Password { get; init; }

    public int BatchMaxEvents { get; init; } = 1000;

    /// <summary>Body size of one <c>_bulk</c> request (Elasticsearch refuses over <c>http.max_content_length</c>, 100 MB by default).</summary>
    public long BatchMaxBytes { get; init; } = 5L * 1024 * 1024;

    /// <summary>A partial batch is sent once its first event has waited this long.</summary>
    public TimeSpan BatchMaxDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Budget of one <c>_bulk</c> request, connect to last response byte; past it the batch is retried.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
