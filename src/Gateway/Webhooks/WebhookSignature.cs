using System.Security.Cryptography;
using System.Text;
using Gateway.Authentication;

namespace Gateway.Webhooks;

/// <summary>
/// Standard Webhooks signing: the secret is <c>whsec_</c> + base64 of random bytes; each attempt
/// carries <c>webhook-signature: v1,</c> + base64(HMAC-SHA256(key, <c>"{webhook-id}.{webhook-timestamp}.{body}"</c>))
/// where the key is the base64-decoded part of the secret.
/// </summary>
internal static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";

    /// <summary>Random bytes in a new secret (the specification allows 24 to 64).</summary>
    public const int SecretBytes = 32;

    public static (string Secret, byte[] Key) NewSecret()
    {
        var key = RandomNumberGenerator.GetBytes(SecretBytes);
        return (SecretPrefix + Convert.ToBase64String(key), key);
    }

    public static string Sign(ReadOnlySpan<byte> key, string webhookId, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{webhookId}.{timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
    }
}

/// <summary>
/// Keeps endpoint secrets encrypted at rest: the signing key is stored only as
/// <see cref="SecretProtector"/> output under <c>Secrets:EncryptionKey</c>, bound to the endpoint's
/// id (a value copied to another endpoint does not decrypt). The one place that knows how a
/// secret is stored.
/// </summary>
internal sealed class WebhookSecrets(SecretProtector protector)
{
    public string Protect(ReadOnlySpan<byte> key, string webhookId) => protector.Protect(key, Purpose(webhookId));

    /// <summary>The signing key, or null when the stored value does not decrypt (another <c>Secrets:EncryptionKey</c>).</summary>
    public byte[]? Unprotect(string stored, string webhookId) => protector.Unprotect(stored, Purpose(webhookId));

    private static string Purpose(string webhookId) => "webhook-secret:" + webhookId;
}
