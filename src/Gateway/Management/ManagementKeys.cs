using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Management;

/// <summary>Static key material of management issuers (<c>SigningKey</c>, <c>PublicKeyPem</c>).</summary>
internal static class ManagementKeys
{
    public static SecurityKey? TryImportPublicKey(string pem, string? keyId)
    {
        try
        {
            var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            if (ec.KeySize == 256)
            {
                return new ECDsaSecurityKey(ec) { KeyId = keyId };
            }

            ec.Dispose();
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
        }

        try
        {
            var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            return rsa.KeySize >= 2048 ? new RsaSecurityKey(rsa) { KeyId = keyId } : null;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            return null;
        }
    }

    public static SecurityKey SymmetricKey(ManagementIssuerOptions issuer) =>
        new SymmetricSecurityKey(Convert.FromBase64String(issuer.SigningKey!)) { KeyId = issuer.KeyId };

    /// <summary>The algorithm a static key signs with: one per key, so a token cannot pick another.</summary>
    public static string AlgorithmFor(SecurityKey key) => key switch
    {
        SymmetricSecurityKey => SecurityAlgorithms.HmacSha256,
        ECDsaSecurityKey => SecurityAlgorithms.EcdsaSha256,
        _ => SecurityAlgorithms.RsaSha256,
    };

    /// <summary>
    /// The DER SubjectPublicKeyInfo of a PEM key (public, or the public half of a private one), so
    /// that two PEMs of the same key compare equal whatever their line breaks or headers.
    /// </summary>
    public static byte[]? SubjectPublicKeyInfo(string pem)
    {
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            return ec.ExportSubjectPublicKeyInfo();
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
        }

        try
        {
            using var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            return rsa.ExportSubjectPublicKeyInfo();
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            return null;
        }
    }

    public static bool TryBase64(string text, out byte[] bytes)
    {
        try
        {
            bytes = Convert.FromBase64String(text);
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}

/// <summary>
/// Key material that ships with the repository's demo configuration (<c>config/gateway.json</c>).
/// It is public, so a configuration marked <c>Gateway:Production</c> must never trust it, under
/// whatever issuer name it appears. This is the one list: a test holds it to the shipped file.
/// </summary>
internal static class ManagementDemoKeys
{
    /// <summary>Base64 HMAC keys (<c>Management:Issuers:demo:SigningKey</c>).</summary>
    public static readonly IReadOnlyList<string> SigningKeys = ["d9pAQ+FVCxw0l7LdHJw9yKsyBtvOc2FaQJoBgH+WNHY="];

    /// <summary>PEM public keys of demo issuers (none ships today; a demo <c>PublicKeyPem</c> belongs here).</summary>
    public static readonly IReadOnlyList<string> PublicKeysPem = [];

    /// <summary>Whether a base64 key is one of <paramref name="known"/> (by its bytes, not its spelling).</summary>
    public static bool IsDemoSigningKey(string base64, IReadOnlyList<string>? known = null)
    {
        if (!ManagementKeys.TryBase64(base64, out var bytes))
        {
            return false;
        }

        return (known ?? SigningKeys).Any(k => ManagementKeys.TryBase64(k, out var demo) && CryptographicOperations.FixedTimeEquals(demo, bytes));
    }

    /// <summary>Whether a PEM holds the same public key as one of <paramref name="known"/>.</summary>
    public static bool IsDemoPublicKey(string pem, IReadOnlyList<string>? known = null)
    {
        if (ManagementKeys.SubjectPublicKeyInfo(pem) is not { } spki)
        {
            return false;
        }

        return (known ?? PublicKeysPem).Any(k => ManagementKeys.SubjectPublicKeyInfo(k) is { } demo && demo.AsSpan().SequenceEqual(spki));
    }
}
