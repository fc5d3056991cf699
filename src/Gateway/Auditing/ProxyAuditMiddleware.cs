using Gateway.Policy;
using Gateway.Problems;
using Gateway.Routing;
using Gateway.SupportSessions;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Auditing;

/// <summary>
/// The audit record of one proxied call, a typed per-request feature owned by
/// <see cref="ProxyAuditMiddleware"/>: it creates the record before anything else runs and writes
/// the call's one event from it when the response completes or aborts. Later steps only tell it
/// what they learned, through the methods below; nothing else writes it.
/// </summary>
internal sealed class ProxyCallRecord(long started)
{
    public long Started { get; } = started;

    /// <summary>True once the support pipeline took the request as a support request.</summary>
    public bool IsSupportRequest { get; private set; }

    public SupportRoutePolicy? Route { get; private set; }

    /// <summary>The login name the request claimed, before it was verified (refused probes are audited with it).</summary>
    public string? ClaimedWho { get; private set; }

    public SupportSessionFeature? Session { get; private set; }

    /// <summary>The problem code the gateway refused the call with, if it did.</summary>
    public string? Refusal { get; private set; }

    /// <summary>Room held in the audit trail for this call (admitted support calls); completed with its event.</summary>
    public IAuditReservation? Reservation { get; private set; }

    /// <summary>The <c>event.id</c> of this call's write-ahead record, once one was written (or taken for writing).</summary>
    public string? StartedId { get; private set; }

    public CountingStream? RequestBody { get; set; }

    public CountingStream? ResponseBody { get; set; }

    public void SupportRequest(SupportRoutePolicy? route, string? claimedWho)
    {
        IsSupportRequest = true;
        Route = route;
        ClaimedWho = claimedWho;
    }

    public void Refused(ProblemCode problem) => Refusal = problem.Value;

    /// <summary>The support session the call belongs to, known before its decision (so refusals within a session are found with it).</summary>
    public string? SessionId { get; private set; }

    public void InSession(string sessionId) => SessionId = sessionId;

    /// <summary>The isolation a refused call was decided under (an admitted one's is its session's), so a replay can decide it again.</summary>
    public string? Isolation { get; private set; }

    public void DecidedUnder(string isolation) => Isolation = isolation;

    /// <summary>The path as the client sent it (raw, without the query), as records keep it.</summary>
    public string PathForRecords(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";
        var query = raw.IndexOf('?', StringComparison.Ordinal);
        return AuditValues.Cap(query < 0 ? raw : raw[..query], 1024);
    }

    public void Admitted(SupportSessionFeature session, IAuditReservation reservation)
    {
        Session = session;
        Reservation = reservation;
    }

    public void WriteAheadStarted(string startedId) => StartedId = startedId;
}

/// <summary>
/// First in the proxy pipeline: every proxied call produces exactly one audit event when its
/// response completes or aborts (502s and client aborts included). Body bytes are counted as
/// they stream; nothing is buffered.
/// </summary>
internal sealed class ProxyAuditMiddleware(RequestDelegate next, IAuditSink audit, TimeProvider time, IOptions<AuditOptions> options)
{
    private readonly int _ordinaryFieldMaxLength = options.Value.OrdinaryFieldMaxLength;

    public async Task InvokeAsync(HttpContext context)
    {
        var record = new ProxyCallRecord(time.GetTimestamp());
        context.Features.Set(record);

        record.RequestBody = new CountingStream(context.Request.Body);
        context.Request.Body = record.RequestBody;
        var responseBody = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        record.ResponseBody = new CountingStream(responseBody.Stream);
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(record.ResponseBody, responseBody));

        try
        {
            await next(context);
        }
        finally
        {
            var auditEvent = Build(context, record);
            if (record.Reservation is { } reservation)
            {
                reservation.Complete(auditEvent);
                reservation.Dispose();
            }
            else
            {
                // Ordinary traffic (and refused support attempts, which anyone can send) is never
                // refused for audit's sake: past its room the event is dropped, counted and reported.
                audit.TryWrite(auditEvent, AuditRoom.Ordinary);
            }
        }
    }

    // Shared, read-only: every support event says which credential it came with.
    private static readonly IReadOnlyDictionary<string, string?> BasicDetails =
        new Dictionary<string, string?> { ["credential"] = "basic" }.AsReadOnly();

    private static readonly IReadOnlyDictionary<string, string?> SessionTokenDetails =
        new Dictionary<string, string?> { ["credential"] = "sessiontoken" }.AsReadOnly();

    // A refused support request's user.name is what it claimed: marked as not verified.
    private static readonly IReadOnlyDictionary<string, string?> UnverifiedDetails =
        new Dictionary<string, string?> { ["userNameVerified"] = "false" }.AsReadOnly();

    private static readonly string[] SecretParameters =
        ["token", "access_token", "id_token", "refresh_token", "code", "key", "api_key", "apikey", "password", "secret", "sig", "signature"];

    /// <summary>
    /// The audit trail is searched by many people: credential-like query parameters keep their
    /// name and lose their value. Everything else is recorded as sent.
    /// </summary>
    internal static string RedactQuery(string query)
    {
        // Fast path: no candidate name, and no percent-encoding that could hide one.
        if (!query.Contains('%', StringComparison.Ordinal) && !MayNameASecret(query))
        {
            return query;
        }

        // '&' and ';' both separate parameters (some frameworks split on either): each part is
        // judged on its own, and the separators are kept as they were.
        var result = new System.Text.StringBuilder(query.Length);
        var start = 0;
        while (start <= query.Length)
        {
            var end = query.IndexOfAny(['&', ';'], start);
            var part = end < 0 ? query[start..] : query[start..end];
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            var name = UnescapeLeniently((equals < 0 ? part : part[..equals]).Replace('+', ' ')).Trim();
            result.Append(equals >= 0 && SecretParameters.Contains(name, StringComparer.OrdinalIgnoreCase) ? part[..(equals + 1)] + "REDACTED" : part);
            if (end < 0)
            {
                break;
            }

            result.Append(query[end]);
            start = end + 1;
        }

        return result.ToString();
    }

    private static string UnescapeLeniently(string value)
    {
        try
        {
            return Uri.UnescapeDataString(value);
        }
        catch (UriFormatException)
        {
            return value;
        }
    }

    private static bool MayNameASecret(string query)
    {
        foreach (var name in SecretParameters)
        {
            if (query.Contains(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The write-ahead record of an admitted support call (<c>support-request-started</c>): everything
    /// its event will say that is known before forwarding; no outcome, status, sizes or duration.
    /// </summary>
    internal static AuditEvent Started(HttpContext context, ProxyCallRecord record, TimeProvider time)
    {
        var session = record.Session!;
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";
        var query = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var userAgent = context.Request.Headers.UserAgent.ToString();
        return new AuditEvent
        {
            Timestamp = time.GetUtcNow() - time.GetElapsedTime(record.Started),
            Category = "web",
            Action = AuditActions.SupportRequestStarted,
            Outcome = null,
            HttpMethod = context.Request.Method,
            UrlPath = query < 0 ? rawTarget : rawTarget[..query],
            UrlQuery = query < 0 ? null : RedactQuery(rawTarget[(query + 1)..]),
            SourceIp = context.Connection.RemoteIpAddress?.ToString(),
            UserAgent = userAgent.Length > 0 ? userAgent : null,
            TraceId = System.Diagnostics.Activity.Current?.TraceId.ToString(),
            RouteId = context.GetReverseProxyFeature().Route.Config.RouteId,
            RouteClass = record.Route?.Class.ToConfigName(),
            Tenant = context.Features.Get<TenantFeature>()?.Tenant.Value,
            Details = session.Credential == SupportCredentialKind.Basic ? BasicDetails : SessionTokenDetails,
            UserName = session.Who,
            UserId = session.SupportUser,
            TargetUserName = session.TargetUser,
            GrantIds = session.AdmittedBy.Ids,
            Isolation = session.Isolation,
            Decision = "allowed",
            SessionId = session.SessionId,
        };
    }

    private AuditEvent Build(HttpContext context, ProxyCallRecord record)
    {
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";
        var query = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var session = record.Session;
        var forwarderError = context.Features.Get<IForwarderErrorFeature>()?.Error;
        var aborted = context.RequestAborted.IsCancellationRequested;
        // A client that went away is the story even when the forwarder then reports a failed copy.
        var reason = record.Refusal
            ?? (aborted ? "aborted" : null)
            ?? (forwarderError is { } error and not ForwarderError.None ? "forwarder." + error.ToString() : null);
        var status = context.Response.StatusCode;
        // An admitted support call is evidence and keeps its fields whole (up to the serializer's
        // limit); anything anyone can send has its free-text fields capped.
        var cap = record.Reservation is null ? _ordinaryFieldMaxLength : int.MaxValue;
        var userAgent = context.Request.Headers.UserAgent.ToString();
        return new AuditEvent
        {
            Timestamp = time.GetUtcNow() - time.GetElapsedTime(record.Started),
            Category = "web",
            Action = record.IsSupportRequest ? AuditActions.SupportRequest : "proxy-request",
            Outcome = reason is null && status < 400 ? "success" : "failure",
            Reason = reason,
            Duration = time.GetElapsedTime(record.Started),
            HttpMethod = context.Request.Method,
            UrlPath = AuditValues.Cap(query < 0 ? rawTarget : rawTarget[..query], cap),
            UrlQuery = query < 0 ? null : AuditValues.Cap(RedactQuery(rawTarget[(query + 1)..]), cap),
            StatusCode = status,
            RequestBytes = record.RequestBody?.BytesTransferred,
            ResponseBytes = record.ResponseBody?.BytesTransferred,
            SourceIp = context.Connection.RemoteIpAddress?.ToString(),
            UserAgent = userAgent.Length > 0 ? AuditValues.Cap(userAgent, cap) : null,
            TraceId = System.Diagnostics.Activity.Current?.TraceId.ToString(),
            RouteId = context.GetReverseProxyFeature().Route.Config.RouteId,
            RouteClass = record.Route?.Class.ToConfigName(),
            Tenant = context.Features.Get<TenantFeature>()?.Tenant.Value,
            Details = session is null
                ? record.ClaimedWho is null ? null : UnverifiedDetails
                : session.Credential == SupportCredentialKind.Basic ? BasicDetails : SessionTokenDetails,
            UserName = session?.Who ?? record.ClaimedWho,
            UserId = session?.SupportUser,
            TargetUserName = session?.TargetUser,
            GrantIds = session?.AdmittedBy.Ids,
            Isolation = session?.Isolation ?? record.Isolation,
            Decision = record.IsSupportRequest ? (record.Refusal is null ? "allowed" : "denied") : null,
            SessionId = session?.SessionId ?? record.SessionId,
            StartedId = record.StartedId,
        };
    }
}

/// <summary>Passes reads and writes through, counting the bytes.</summary>
internal sealed class CountingStream(Stream inner) : Stream
{
    private long _bytes;

    public long BytesTransferred => Interlocked.Read(ref _bytes);

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        Count(count);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken);
        Count(buffer.Length);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private int Count(int bytes)
    {
        Interlocked.Add(ref _bytes, bytes);
        return bytes;
    }
}
