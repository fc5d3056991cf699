using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Gateway.SupportSessions;

/// <summary>
/// What every request of a session needs from its verified token, read once when JwtBearer
/// verifies it: the impersonated user (<c>sub</c>), the tenant, the session id (<c>sid</c>) and
/// the support user (<c>act.sub</c>). A null field means the token lacks it (refused later).
/// </summary>
internal sealed record SessionTokenClaims(string? TargetUser, string? Tenant, string? SessionId, string? SupportUser, DateTimeOffset Expires, string? CredentialFingerprint = null)
{
    public static SessionTokenClaims From(ClaimsPrincipal principal, DateTimeOffset expires) => new(
        principal.FindFirst("sub")?.Value,
        principal.FindFirst("tenant")?.Value,
        principal.FindFirst("sid")?.Value,
        ActorSubject(principal.FindFirst("act")?.Value),
        expires,
        principal.FindFirst("cfp")?.Value);

    /// <summary>The RFC 8693 <c>act</c> claim is a JSON object; its <c>sub</c> is the support user.</summary>
    public static string? ActorSubject(string? act)
    {
        if (string.IsNullOrEmpty(act))
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(act);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("sub", out var sub) && sub.ValueKind == JsonValueKind.String
                ? sub.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A session token's SHA-256, as a value: a dictionary key without a string or an array per lookup.</summary>
internal readonly record struct TokenHash(ulong A, ulong B, ulong C, ulong D)
{
    /// <summary>Tokens longer than this are not hashed (and so never cached).</summary>
    public const int MaxTokenBytes = 8 * 1024;

    public static bool TryCompute(ReadOnlySpan<char> token, out TokenHash hash)
    {
        hash = default;
        var length = Encoding.UTF8.GetByteCount(token);
        if (length > MaxTokenBytes)
        {
            return false;
        }

        // On the stack: no copy of the token outlives the call.
        Span<byte> utf8 = stackalloc byte[length];
        Encoding.UTF8.GetBytes(token, utf8);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(utf8, digest);
        hash = new TokenHash(
            BitConverter.ToUInt64(digest),
            BitConverter.ToUInt64(digest[8..]),
            BitConverter.ToUInt64(digest[16..]),
            BitConverter.ToUInt64(digest[24..]));
        return true;
    }
}

/// <summary>
/// Remembers session tokens whose signature JwtBearer has already verified, until they expire,
/// so a session's requests pay neither for an ECDSA verification nor for parsing the token.
/// Keyed by the token's SHA-256 (the token itself is not kept), computed once per request.
/// Only the signature check and the claims are cached: every request is still decided against
/// the directory, the tenant, the grants and the session's state.
/// </summary>
internal sealed class SessionTokenCache(TimeProvider time)
{
    private const int MaxEntries = 10_000;

    private readonly ConcurrentDictionary<TokenHash, SessionTokenClaims> _verified = new();
    private long _verifications;

    /// <summary>Signature verifications performed (cache misses), for tests and metrics.</summary>
    public long Verifications => Interlocked.Read(ref _verifications);

    /// <summary>The claims of a token verified earlier and not yet expired; false when it must be verified.</summary>
    public bool TryGet(in TokenHash hash, out SessionTokenClaims claims)
    {
        claims = null!;
        if (!_verified.TryGetValue(hash, out var hit))
        {
            return false;
        }

        if (hit.Expires > time.GetUtcNow())
        {
            claims = hit;
            return true;
        }

        _verified.TryRemove(hash, out _);
        return false;
    }

    /// <summary>Counts a signature verification (a cache miss that went to JwtBearer).</summary>
    public void CountVerification() => Interlocked.Increment(ref _verifications);

    /// <summary>Keeps a verified token's claims until the token expires; when full of live entries, does not add.</summary>
    public void Remember(in TokenHash hash, SessionTokenClaims claims)
    {
        var now = time.GetUtcNow();
        if (_verified.Count >= MaxEntries)
        {
            foreach (var stale in _verified.Where(e => e.Value.Expires <= now).Select(e => e.Key).ToList())
            {
                _verified.TryRemove(stale, out _);
            }
        }

        if (_verified.Count < MaxEntries)
        {
            _verified[hash] = claims;
        }
    }
}
