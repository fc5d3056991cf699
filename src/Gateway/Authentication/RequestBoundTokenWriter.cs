using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gateway.SupportSessions;

namespace Gateway.Authentication;

/// <summary>
/// Writes the request-bound backend identity token (ES256 JWT) directly: a constant header, the
/// payload by <see cref="Utf8JsonWriter"/> into a per-thread buffer, the signature into a stack
/// buffer. One such token is signed for every admitted support request, so it must cost a
/// signature and its string, not the general token handler's dictionaries, claim objects and
/// intermediate strings. The claims are those the general handler would write.
/// </summary>
internal sealed class RequestBoundTokenWriter(ECDsa key, string? keyId, string issuer, string audience)
{
    private readonly byte[] _header = Base64Url.EncodeToUtf8(JsonSerializer.SerializeToUtf8Bytes(
        keyId is null
            ? new Dictionary<string, string> { ["alg"] = "ES256", ["typ"] = "JWT" }
            : new Dictionary<string, string> { ["alg"] = "ES256", ["kid"] = keyId, ["typ"] = "JWT" }));

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_payload;

    [ThreadStatic]
    private static Utf8JsonWriter? t_json;

    public string Write(SupportSessionFeature session, string method, string target, DateTimeOffset now, DateTimeOffset expires)
    {
        var payload = t_payload ??= new ArrayBufferWriter<byte>(1024);
        payload.ResetWrittenCount();
        var json = t_json ??= new Utf8JsonWriter(payload, new JsonWriterOptions { SkipValidation = true });
        json.Reset(payload);

        json.WriteStartObject();
        json.WriteString("sub"u8, session.TargetUser);
        json.WriteStartObject("act"u8);
        json.WriteString("sub"u8, session.SupportUser);
        json.WriteEndObject();
        json.WriteString("tenant"u8, session.Tenant.Value);
        json.WriteString("isolation"u8, session.Isolation);
        json.WriteStartArray("grants"u8);
        foreach (var grant in session.AdmittedBy.Ids)
        {
            json.WriteStringValue(grant);
        }

        json.WriteEndArray();
        if (session.SessionId is not null)
        {
            json.WriteString("sid"u8, session.SessionId);
        }

        Span<byte> id = stackalloc byte[16];
        RandomNumberGenerator.Fill(id);
        Span<char> jti = stackalloc char[32];
        Convert.TryToHexStringLower(id, jti, out _);
        json.WriteString("jti"u8, jti);
        json.WriteString("htm"u8, method);
        json.WriteString("htu"u8, target);
        json.WriteNumber("nbf"u8, now.ToUnixTimeSeconds());
        json.WriteNumber("exp"u8, expires.ToUnixTimeSeconds());
        json.WriteNumber("iat"u8, now.ToUnixTimeSeconds());
        json.WriteString("iss"u8, issuer);
        json.WriteString("aud"u8, audience);
        json.WriteEndObject();
        json.Flush();

        // header.payload, base64url, then the signature over exactly those bytes.
        var payloadLength = Base64Url.GetEncodedLength(payload.WrittenCount);
        var signingLength = _header.Length + 1 + payloadLength;
        var total = signingLength + 1 + Base64Url.GetEncodedLength(64);
        var rented = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            _header.CopyTo(rented, 0);
            rented[_header.Length] = (byte)'.';
            Base64Url.EncodeToUtf8(payload.WrittenSpan, rented.AsSpan(_header.Length + 1, payloadLength));
            Span<byte> signature = stackalloc byte[64];
            if (!key.TrySignData(rented.AsSpan(0, signingLength), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation, out var written) || written != 64)
            {
                throw new CryptographicException("The ES256 signature did not have 64 bytes.");
            }

            rented[signingLength] = (byte)'.';
            var signatureLength = Base64Url.EncodeToUtf8(signature, rented.AsSpan(signingLength + 1));
            return Encoding.ASCII.GetString(rented, 0, signingLength + 1 + signatureLength);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
