using System.Collections.Concurrent;
using System.Security.Cryptography;
using Gateway.Grants;
using Gateway.SupportSessions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Authentication;

/// <summary>A minted session token and what it says.</summary>
internal sealed record SessionToken(string Token, string SessionId, DateTimeOffset ExpiresAt);

/// <summary>
/// Mints the gateway's tokens: session tokens for support logins, and the short-lived identity
/// token forwarded to tenant apps (<c>sub</c> = impersonated user, <c>act.sub</c> = support
/// user, RFC 8693). Identity tokens are reused while more than a quarter of their life
/// remains, so steady-state requests sign nothing.
/// </summary>
internal sealed class SupportTokens(GatewaySigningKey key, IOptions<SupportOptions> options, TimeProvider time)
{
    private readonly JsonWebTokenHandler _handler = new();
    private readonly RequestBoundTokenWriter _requestBound = new(key.SecurityKey.ECDsa, key.SecurityKey.KeyId, options.Value.Issuer, options.Value.BackendAudience);
    private readonly ConcurrentDictionary<(string Tenant, string SupportUser, string TargetUser, string Isolation, string SessionId, string Grants), (string Token, DateTimeOffset ExpiresAt)> _backendTokens = new();

    private SupportOptions Options => options.Value;

    public SessionToken MintSession(string tenant, SupportUser supportUser, string targetUser, DateTimeOffset? grantEnds)
    {
        var now = time.GetUtcNow();
        var expires = now + Options.SessionLifetime;
        if (grantEnds is { } end && end < expires)
        {
            expires = end;
        }

        var sessionId = NewSessionId();
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Options.Issuer,
            Audience = Options.SessionAudience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Claims = new Dictionary<string, object>
            {
                ["sub"] = targetUser,
                ["act"] = new Dictionary<string, object> { ["sub"] = supportUser.Name },
                ["tenant"] = tenant,
                ["sid"] = sessionId,
                ["jti"] = sessionId,
                ["cfp"] = supportUser.CredentialFingerprint,
            },
            SigningCredentials = key.Credentials,
        });
        return new SessionToken(token, sessionId, expires);
    }

    /// <summary>
    /// The identity token for the backend. Bound to its request by default
    /// (<see cref="IdentityTokenBinding.Request"/>): a unique <c>jti</c>, and <c>htm</c>/<c>htu</c> naming
    /// the method and target it was minted for (as DPoP does), so a token an app leaks (an open route
    /// that echoes it, a log line) cannot be replayed against another route or method. With
    /// <see cref="IdentityTokenBinding.Session"/> one token per identity is reused while more than a
    /// quarter of its life remains: no signature per request, replayable within its lifetime.
    /// </summary>
    public string BackendToken(SupportSessionFeature session, string method, string target)
    {
        var now = time.GetUtcNow();
        if (Options.IdentityTokenBinding == IdentityTokenBinding.Request)
        {
            return _requestBound.Write(session, method, target, now, now + Options.BackendTokenLifetime);
        }

        var cacheKey = (session.Tenant.Value, session.SupportUser, session.TargetUser, session.Isolation, session.SessionId ?? "", session.AdmittedBy.List);
        if (_backendTokens.TryGetValue(cacheKey, out var cached) && cached.ExpiresAt - now > Options.BackendTokenLifetime / 4)
        {
            return cached.Token;
        }

        var expires = now + Options.BackendTokenLifetime;
        var token = Sign(IdentityClaims(session), now, expires);
        if (_backendTokens.Count > 10_000)
        {
            _backendTokens.Clear();
        }

        _backendTokens[cacheKey] = (token, expires);
        return token;
    }

    private static Dictionary<string, object> IdentityClaims(SupportSessionFeature session)
    {
        var claims = new Dictionary<string, object>
        {
            ["sub"] = session.TargetUser,
            ["act"] = new Dictionary<string, object> { ["sub"] = session.SupportUser },
            ["tenant"] = session.Tenant.Value,
            ["isolation"] = session.Isolation,
            ["grants"] = session.AdmittedBy.Ids.ToArray(),
        };
        if (session.SessionId is not null)
        {
            claims["sid"] = session.SessionId;
        }

        return claims;
    }

    private string Sign(Dictionary<string, object> claims, DateTimeOffset now, DateTimeOffset expires) =>
        _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Options.Issuer,
            Audience = Options.BackendAudience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Claims = claims,
            SigningCredentials = key.Credentials,
        });

    private static string NewSessionId() => "s_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
