using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authentication;

namespace Gateway.Authentication;

/// <summary>
/// Remembers session tokens whose signature JwtBearer has already verified, until they expire,
/// so a session's requests do not each pay for an ECDSA verification. Keyed by the token's
/// SHA-256 (the token itself is not kept). Only the signature check is cached: every request
/// still re-checks the directory, the tenant, the grant and logout.
/// </summary>
internal sealed class SessionTokenCache(TimeProvider time)
{
    private const int MaxEntries = 10_000;
    private readonly ConcurrentDictionary<string, (ClaimsPrincipal Principal, DateTimeOffset Expires)> _verified = new(StringComparer.Ordinal);
    private long _verifications;

    /// <summary>Signature verifications performed (cache misses), for tests and metrics.</summary>
    public long Verifications => Interlocked.Read(ref _verifications);

    /// <summary>The verified principal of the request's session token, or null when it does not verify.</summary>
    public async Task<ClaimsPrincipal?> AuthenticateAsync(HttpContext context, string? token)
    {
        var key = token is null ? null : Key(token);
        var now = time.GetUtcNow();
        if (key is not null && _verified.TryGetValue(key, out var hit))
        {
            if (hit.Expires > now)
            {
                return hit.Principal;
            }

            _verified.TryRemove(key, out _);
        }

        Interlocked.Increment(ref _verifications);
        var result = await context.AuthenticateAsync(SupportSessionAuthentication.Scheme);
        if (!result.Succeeded || result.Principal is null)
        {
            return null;
        }

        if (key is not null && long.TryParse(result.Principal.FindFirst("exp")?.Value, out var exp))
        {
            if (_verified.Count >= MaxEntries)
            {
                foreach (var stale in _verified.Where(e => e.Value.Expires <= now).Select(e => e.Key).ToList())
                {
                    _verified.TryRemove(stale, out _);
                }
            }

            if (_verified.Count < MaxEntries)
            {
                _verified[key] = (result.Principal, DateTimeOffset.FromUnixTimeSeconds(exp));
            }
        }

        return result.Principal;
    }

    private static string Key(string token) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
