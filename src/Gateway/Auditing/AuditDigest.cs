using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Auditing;

/// <summary>
/// A signed statement about an instance's hash chain (<c>gateway.digest.*</c> of an
/// <c>audit-digest</c> event): the events <see cref="FirstSeq"/>..<see cref="LastSeq"/> end in
/// the chain hash <see cref="ChainHead"/>, and the digest before this one was
/// <see cref="PreviousDigest"/> (SHA-256 of its <see cref="Jws"/>, hex; null for an instance's
/// first). <see cref="Jws"/> is a compact JWS (ES256) over the same facts, verifiable with the
/// gateway's JWKS by <see cref="KeyId"/>.
/// </summary>
internal sealed record AuditDigest(long FirstSeq, long LastSeq, string ChainHead, string? PreviousDigest, string KeyId, string Jws)
{
    /// <summary>The JWS header's <c>typ</c>: this is an audit digest, never a token.</summary>
    public const string JwsType = "gateway-audit-digest";

    /// <summary>The hash later digests name as <c>prev_digest</c>: SHA-256 of the JWS text, lowercase hex.</summary>
    public static string HashOf(string jws) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(jws)));

    /// <summary>
    /// The JWS payload: the facts as canonical JSON (members sorted, no whitespace):
    /// <c>{"chain_head":…,"first_seq":…,"instance":…,"last_seq":…,"prev_digest":…,"time":…}</c>
    /// (<c>prev_digest</c> left out for an instance's first digest).
    /// </summary>
    public static byte[] Payload(string instance, long firstSeq, long lastSeq, string chainHead, string? previousDigest, string time)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("chain_head", chainHead);
            json.WriteNumber("first_seq", firstSeq);
            json.WriteString("instance", instance);
            json.WriteNumber("last_seq", lastSeq);
            if (previousDigest is not null)
            {
                json.WriteString("prev_digest", previousDigest);
            }

            json.WriteString("time", time);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The protected header: <c>{"alg":"ES256","kid":…,"typ":"gateway-audit-digest"}</c>.</summary>
    public static byte[] Header(string keyId)
    {
        var buffer = new ArrayBufferWriter<byte>(96);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("alg", "ES256");
            json.WriteString("kid", keyId);
            json.WriteString("typ", JwsType);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>
/// The audit signing key (ES256): signs the digests of the hash chain. Its public half is in the
/// gateway's JWKS under its own <c>kid</c> (<c>Audit:Integrity:SigningKeyId</c>), beside the
/// session key. <c>Audit:Integrity:SigningKeyPem</c> is required in production; without it a key
/// is generated at start, and digests signed before a restart can only be verified with the
/// public key that was published then.
/// </summary>
internal sealed partial class AuditSigningKey : IDisposable
{
    private readonly ECDsa _key;

    public AuditSigningKey(IOptions<AuditOptions> options, ILogger<AuditSigningKey> logger)
    {
        var o = options.Value.Integrity;
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (string.IsNullOrWhiteSpace(o.SigningKeyPem))
        {
            Ephemeral = true;
            LogEphemeralKey(logger);
        }
        else
        {
            _key.ImportFromPem(o.SigningKeyPem);
        }

        KeyId = o.SigningKeyId;
        var parameters = _key.ExportParameters(includePrivateParameters: false);
        PublicJwk = new Dictionary<string, string>
        {
            ["kty"] = "EC",
            ["crv"] = "P-256",
            ["x"] = Base64UrlEncoder.Encode(parameters.Q.X),
            ["y"] = Base64UrlEncoder.Encode(parameters.Q.Y),
            ["kid"] = KeyId,
            ["use"] = "sig",
            ["alg"] = "ES256",
        };
    }

    public string KeyId { get; }

    /// <summary>True when no key was configured and this one was generated at start.</summary>
    public bool Ephemeral { get; }

    /// <summary>The public key as a JWK (for the gateway's JWKS).</summary>
    public IReadOnlyDictionary<string, string> PublicJwk { get; }

    /// <summary>The public key as PEM (SubjectPublicKeyInfo), for <c>audit verify --key</c>.</summary>
    public string PublicKeyPem => _key.ExportSubjectPublicKeyInfoPem();

    /// <summary>A compact JWS (ES256) of <paramref name="payload"/>.</summary>
    public string SignCompact(ReadOnlySpan<byte> payload)
    {
        var signingInput = Base64UrlEncoder.Encode(AuditDigest.Header(KeyId)) + "." + Base64UrlEncoder.Encode(payload.ToArray());
        // IEEE P1363 (r ‖ s), the form JWS uses for ES256.
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256);
        return signingInput + "." + Base64UrlEncoder.Encode(signature);
    }

    public void Dispose() => _key.Dispose();

    [LoggerMessage(EventId = 1920, Level = LogLevel.Warning,
        Message = "Audit:Integrity:SigningKeyPem is not set: audit digests are signed with a key generated at start. Digests written before a restart can only be verified with the public key published then.")]
    private static partial void LogEphemeralKey(ILogger logger);
}
