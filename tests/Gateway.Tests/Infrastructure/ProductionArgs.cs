using System.Security.Cryptography;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The smallest production configuration a test gateway starts with: fresh signing keys for the
/// support tokens and the audit digests, a fresh secrets key, the in-memory store, and the demo
/// issuer replaced by an https discovery issuer (never contacted by tests that do not call the
/// management API). Keys are made per call and not kept: what they sign is not verified later.
/// </summary>
internal static class ProductionArgs
{
    public const string Issuer = "https://login.example.com/realms/ops";

    public static string[] Create(params string[] extra)
    {
        using var supportKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var auditKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return
        [
            "--Gateway:Production=true",
            "--Grants:SingleInstanceInMemoryStore=true",
            $"--Support:SigningKeyPem={supportKey.ExportPkcs8PrivateKeyPem()}",
            $"--Secrets:EncryptionKey={Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}",
            $"--Audit:Integrity:SigningKeyPem={auditKey.ExportPkcs8PrivateKeyPem()}",
            // Environment-style overrides blank the demo key (a key cannot be removed, only emptied).
            "--Management:Issuers:demo:SigningKey=",
            "--Management:Issuers:demo:KeyId=",
            $"--Management:Issuers:demo:Issuer={Issuer}",
            $"--Management:Issuers:demo:Authority={Issuer}",
            .. extra,
        ];
    }
}
