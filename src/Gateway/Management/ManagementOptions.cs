using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Gateway.Management;

/// <summary>Who may call the management API (section <c>Management</c>).</summary>
internal sealed class ManagementOptions
{
    public const string SectionName = "Management";

    /// <summary>Trusted token issuers by name. A token is checked against its own issuer's audience and keys only.</summary>
    public Dictionary<string, ManagementIssuerOptions> Issuers { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Lifetime of tokens printed by the <c>token</c> CLI verb.</summary>
    public TimeSpan DemoTokenLifetime { get; init; } = TimeSpan.FromHours(8);

    /// <summary>Largest management request body accepted.</summary>
    public int MaxRequestBodyBytes { get; init; } = 16 * 1024;
}

internal sealed class ManagementIssuerOptions
{
    /// <summary>The exact <c>iss</c> claim.</summary>
    public string Issuer { get; init; } = "";

    /// <summary>The <c>aud</c> the token must carry.</summary>
    public string Audience { get; init; } = "";

    /// <summary>
    /// A base64 HMAC-SHA256 key (at least 32 bytes). For the demo and development only: it is
    /// refused in a configuration marked <c>Gateway:Production</c>. The <c>token</c> verb signs with it.
    /// </summary>
    public string? SigningKey { get; init; }

    /// <summary>The issuer's public key (PEM, EC P-256 for ES256 or RSA for RS256): production issuers.</summary>
    public string? PublicKeyPem { get; init; }

    /// <summary>Optional <c>kid</c> of the key.</summary>
    public string? KeyId { get; init; }
}

internal sealed class ManagementOptionsValidator(IConfiguration configuration) : IValidateOptions<ManagementOptions>
{
    public ValidateOptionsResult Validate(string? name, ManagementOptions options)
    {
        var failures = new List<string>();
        var production = configuration.GetValue<bool>("Gateway:Production");
        if (options.Issuers.Count == 0)
        {
            failures.Add("Management:Issuers: at least one token issuer must be configured.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (id, issuer) in options.Issuers)
        {
            var key = $"Management:Issuers:{id}";
            if (string.IsNullOrWhiteSpace(issuer.Issuer))
            {
                failures.Add($"{key}:Issuer: required.");
            }
            else if (!seen.Add(issuer.Issuer))
            {
                failures.Add($"{key}:Issuer: '{issuer.Issuer}' is configured twice.");
            }

            if (string.IsNullOrWhiteSpace(issuer.Audience))
            {
                failures.Add($"{key}:Audience: required.");
            }

            if (issuer.SigningKey is null == issuer.PublicKeyPem is null)
            {
                failures.Add($"{key}: set exactly one of SigningKey and PublicKeyPem.");
            }

            if (issuer.SigningKey is not null)
            {
                if (production)
                {
                    failures.Add($"{key}:SigningKey: shared demo keys are refused in a configuration marked Gateway:Production; configure PublicKeyPem.");
                }

                if (!TryBase64(issuer.SigningKey, out var bytes) || bytes.Length < 32)
                {
                    failures.Add($"{key}:SigningKey: must be base64 of at least 32 bytes.");
                }
            }

            if (issuer.PublicKeyPem is not null && ManagementKeys.TryImportPublicKey(issuer.PublicKeyPem, issuer.KeyId) is null)
            {
                failures.Add($"{key}:PublicKeyPem: not a PEM EC P-256 or RSA public key.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool TryBase64(string text, out byte[] bytes)
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

internal static class ManagementKeys
{
    public static Microsoft.IdentityModel.Tokens.SecurityKey? TryImportPublicKey(string pem, string? keyId)
    {
        try
        {
            var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            if (ec.KeySize == 256)
            {
                return new Microsoft.IdentityModel.Tokens.ECDsaSecurityKey(ec) { KeyId = keyId };
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
            return rsa.KeySize >= 2048 ? new Microsoft.IdentityModel.Tokens.RsaSecurityKey(rsa) { KeyId = keyId } : null;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            return null;
        }
    }

    public static Microsoft.IdentityModel.Tokens.SecurityKey SymmetricKey(ManagementIssuerOptions issuer) =>
        new Microsoft.IdentityModel.Tokens.SymmetricSecurityKey(Convert.FromBase64String(issuer.SigningKey!)) { KeyId = issuer.KeyId };
}
