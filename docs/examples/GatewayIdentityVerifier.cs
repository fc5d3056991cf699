// How a tenant app verifies the identity the support-session gateway forwards (docs/backend-identity.md).
// Needs the NuGet package Microsoft.IdentityModel.JsonWebTokens. The gateway's own tests compile and
// run this file against a live gateway, so it stays correct.
using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GatewayIdentityExample;

/// <summary>Checks an <c>X-Gateway-Identity</c> token against the gateway's published keys and the request it came with.</summary>
public sealed class GatewayIdentityVerifier(
    HttpClient http,
    Uri jwksUri,
    string issuer = "urn:support-gateway",
    string audience = "urn:support-gateway:tenant-apps")
{
    private readonly JsonWebTokenHandler _handler = new();
    private readonly ConcurrentDictionary<string, DateTime> _seen = new();
    private JsonWebKeySet? _keys;

    /// <summary>The verified identity: <c>sub</c> is the tenant user acted as, <c>act.sub</c> the support engineer.</summary>
    /// <param name="method">The request's method, as the app received it.</param>
    /// <param name="path">The request's path, as the app received it (no query).</param>
    public async Task<ClaimsIdentity> VerifyAsync(string token, string method, string path, CancellationToken cancellationToken = default)
    {
        var result = await ValidateAsync(token, refreshKeys: false, cancellationToken);
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException)
        {
            result = await ValidateAsync(token, refreshKeys: true, cancellationToken); // the gateway rotated its key
        }

        if (!result.IsValid)
        {
            throw new SecurityTokenValidationException("The gateway identity token is not valid.", result.Exception);
        }

        var jwt = (JsonWebToken)result.SecurityToken;

        // Bound to one request: the method and target it was minted for...
        if (!jwt.TryGetPayloadValue<string>("htm", out var htm) || htm != method)
        {
            throw new SecurityTokenValidationException("The token was minted for another method.");
        }

        if (!jwt.TryGetPayloadValue<string>("htu", out var htu) || !Uri.TryCreate(htu, UriKind.Absolute, out var target) || target.AbsolutePath != path)
        {
            throw new SecurityTokenValidationException("The token was minted for another target.");
        }

        // ...and used once: remember each jti until the token expires.
        var now = DateTime.UtcNow;
        foreach (var (id, expires) in _seen)
        {
            if (expires < now)
            {
                _seen.TryRemove(id, out _);
            }
        }

        if (!_seen.TryAdd(jwt.Id, jwt.ValidTo))
        {
            throw new SecurityTokenReplayDetectedException("The token was already used.");
        }

        return result.ClaimsIdentity;
    }

    private async Task<TokenValidationResult> ValidateAsync(string token, bool refreshKeys, CancellationToken cancellationToken)
    {
        if (_keys is null || refreshKeys)
        {
            _keys = new JsonWebKeySet(await http.GetStringAsync(jwksUri, cancellationToken));
        }

        return await _handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = issuer,
            ValidAudience = audience,
            IssuerSigningKeys = _keys.GetSigningKeys(),
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            ClockSkew = TimeSpan.FromSeconds(30),
        });
    }
}
