using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Authentication;

/// <summary>
/// The gateway's ES256 key: signs session and backend identity tokens; its public half is the JWKS,
/// which also publishes the audit signing key (its own <c>kid</c>) that signs the audit digests.
/// </summary>
internal sealed partial class GatewaySigningKey : IDisposable
{
    private readonly ECDsa _key;

    public GatewaySigningKey(IOptions<SupportOptions> options, Auditing.AuditSigningKey auditKey, ILogger<GatewaySigningKey> logger)
    {
        var o = options.Value;
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (string.IsNullOrWhiteSpace(o.SigningKeyPem))
        {
            LogEphemeralKey(logger);
        }
        else
        {
            _key.ImportFromPem(o.SigningKeyPem);
        }

        SecurityKey = new ECDsaSecurityKey(_key) { KeyId = o.SigningKeyId };
        Credentials = new SigningCredentials(SecurityKey, SecurityAlgorithms.EcdsaSha256);
        var parameters = _key.ExportParameters(includePrivateParameters: false);
        Jwks = JsonSerializer.SerializeToUtf8Bytes(new
        {
            keys = new object[]
            {
                new
                {
                    kty = "EC",
                    crv = "P-256",
                    x = Base64UrlEncoder.Encode(parameters.Q.X),
                    y = Base64UrlEncoder.Encode(parameters.Q.Y),
                    kid = o.SigningKeyId,
                    use = "sig",
                    alg = "ES256",
                },
                auditKey.PublicJwk,
            },
        });
    }

    public ECDsaSecurityKey SecurityKey { get; }

    public SigningCredentials Credentials { get; }

    /// <summary>The JWKS document (public key only), ready to send.</summary>
    public byte[] Jwks { get; }

    public void Dispose() => _key.Dispose();

    [LoggerMessage(EventId = 1600, Level = LogLevel.Warning,
        Message = "Support:SigningKeyPem is not set: using a key generated at start. Support tokens will not survive a restart and other instances will not accept them.")]
    private static partial void LogEphemeralKey(ILogger logger);
}
