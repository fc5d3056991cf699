using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;

namespace Gateway.Authentication;

/// <summary>
/// What every request of a session needs from its verified token, read once when JwtBearer
/// verifies it: the impersonated user (<c>sub</c>), the tenant, the session id (<c>sid</c>) and
/// the support user (<c>act.sub</c>). A null field means the token lacks it (refused later).
/// </summary>
internal sealed record SessionTokenClaims(string? TargetUser, string? Tenant, string? SessionId, string? SupportUser, DateTimeOffset Expires)
{
    public static SessionTokenClaims From(ClaimsPrincipal principal, DateTimeOffset expires) => new(
        principal.FindFirst("sub")?.Value,
        principal.FindFirst("tenant")?.Value,
        principal.FindFirst("sid")?.Value,
        ActorSubject(principal.FindFirst("act")?.Value),
        expires);

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

/// <summary>
/// Remembers session tokens whose signature JwtBearer has already verified, until they expire,
/// so a session's requests pay neither for an ECDSA verification nor for parsing the token.
/// Keyed by the token's SHA-256 (the token itself is not kept). Only the signature check and
/// the claims are cached: every request still re-checks the directory, the tenant, the grant
/// and logout.
/// </summary>
internal sealed class SessionTokenCache(TimeProvider time)
{
    private const int MaxEntries = 10_000;

    /// <summary>Tokens longer than this are not cached (and not hashed on the stack).</summary>
    private const int MaxCachedTokenBytes = 8 * 1024;

    private readonly ConcurrentDictionary<TokenHash, SessionTokenClaims> _verified = new();
    private long _verifications;

    /// <summary>Signature verifications performed (cache misses), for tests and metrics.</summary>
    public long Verifications => Interlocked.Read(ref _verifications);

    /// <summary>The claims of a token verified earlier and not yet expired; false when it must be verified.</summary>
    public bool TryGetVerified(ReadOnlySpan<char> token, out SessionTokenClaims claims)
    {
        claims = null!;
        if (!TryHash(token, out var key) || !_verified.TryGetValue(key, out var hit))
        {
            return false;
        }

        if (hit.Expires > time.GetUtcNow())
        {
            claims = hit;
            return true;
        }

        _verified.TryRemove(key, out _);
        return false;
    }

    /// <summary>The verified claims of the request's session token, or null when it does not verify.</summary>
    public async Task<SessionTokenClaims?> AuthenticateAsync(HttpContext context, string? token)
    {
        if (token is not null && TryGetVerified(token, out var cached))
        {
            return cached;
        }

        Interlocked.Increment(ref _verifications);
        var result = await context.AuthenticateAsync(SupportSessionAuthentication.Scheme);
        if (!result.Succeeded || result.Principal is null || !long.TryParse(result.Principal.FindFirst("exp")?.Value, out var exp))
        {
            return null;
        }

        var claims = SessionTokenClaims.From(result.Principal, DateTimeOffset.FromUnixTimeSeconds(exp));
        if (token is not null && TryHash(token, out var key))
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
                _verified[key] = claims;
            }
        }

        return claims;
    }

    private static bool TryHash(ReadOnlySpan<char> token, out TokenHash hash)
    {
        hash = default;
        var length = Encoding.UTF8.GetByteCount(token);
        if (length > MaxCachedTokenBytes)
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

    /// <summary>A SHA-256 digest as a value: a dictionary key without a string or an array per lookup.</summary>
    private readonly record struct TokenHash(ulong A, ulong B, ulong C, ulong D);
}
