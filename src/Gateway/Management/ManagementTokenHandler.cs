using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Management;

/// <summary>
/// The token handler of the <c>Management</c> JwtBearer scheme. It reads the (not yet trusted)
/// <c>iss</c> only to pick that issuer's settings, then has <see cref="JsonWebTokenHandler"/>
/// validate the token against that issuer alone: its exact issuer name, its audience, its keys
/// and its algorithms. A token can therefore never be accepted on another issuer's key, and a
/// discovery issuer's keys are fetched and refreshed for its own tokens only. A valid token's
/// identity is replaced by the caller its issuer's claim mapping makes of it.
/// </summary>
internal sealed class ManagementTokenHandler(ManagementIssuers issuers) : TokenHandler
{
    private readonly JsonWebTokenHandler _jwt = new() { MapInboundClaims = false };

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        if (!_jwt.CanReadToken(token))
        {
            return Invalid(new SecurityTokenMalformedException("The token is not a JWS in compact form."));
        }

        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(token);
        }
        catch (ArgumentException)
        {
            return Invalid(new SecurityTokenMalformedException("The token cannot be read."));
        }

        if (jwt.IsEncrypted)
        {
            return Invalid(new SecurityTokenMalformedException("Encrypted tokens are not accepted."));
        }

        if (!issuers.TryGet(jwt.Issuer, out var issuer))
        {
            return Invalid(new SecurityTokenInvalidIssuerException("The token's issuer is not a configured management issuer."));
        }

        // JwtBearer gives a token handler no CancellationToken; a metadata fetch is bounded by
        // Management:MetadataTimeout and shared by every request waiting for the same issuer.
        var keys = await issuer.GetSigningKeysAsync(jwt.Kid, CancellationToken.None);
        if (keys.Count == 0)
        {
            return Invalid(new SecurityTokenSignatureKeyNotFoundException($"No signing keys are available for management issuer '{issuer.Name}'."));
        }

        var parameters = validationParameters.Clone();
        parameters.ValidIssuer = issuer.Options.Issuer;
        parameters.ValidIssuers = null;
        parameters.ValidAudience = issuer.Options.Audience;
        parameters.ValidAudiences = null;
        parameters.IssuerSigningKey = null;
        parameters.IssuerSigningKeys = keys;
        parameters.ValidAlgorithms = issuer.Algorithms;

        var result = await _jwt.ValidateTokenAsync(jwt, parameters);
        if (!result.IsValid)
        {
            return result;
        }

        using var payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
        if (ManagementClaimMapper.Map(issuer.Options, payload.RootElement) is not { } caller)
        {
            return Invalid(new SecurityTokenValidationException(
                $"The token carries no subject at '{issuer.Options.Claims.Subject}' (Management:Issuers:{issuer.Name}:Claims:Subject)."));
        }

        result.ClaimsIdentity = caller.ToIdentity(issuer.Options.Issuer);
        return result;
    }

    private static TokenValidationResult Invalid(Exception exception) => new() { IsValid = false, Exception = exception };
}
