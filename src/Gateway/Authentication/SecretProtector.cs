using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

/// <summary>The key that encrypts secrets the gateway stores in its files (section <c>Secrets</c>).</summary>
internal sealed class SecretsOptions
{
    public const string SectionName = "Secrets";

    /// <summary>
    /// Base64 of 32 random bytes (AES-256-GCM). Required with <c>Gateway:Production</c>; empty outside
    /// production means <see cref="SecretProtector.DemoKey"/>, which anyone with the repository knows.
    /// </summary>
    public string? EncryptionKey { get; init; }
}

internal sealed class SecretsOptionsValidator(IConfiguration configuration) : IValidateOptions<SecretsOptions>
{
    public ValidateOptionsResult Validate(string? name, SecretsOptions options)
    {
        var production = configuration.GetValue<bool>("Gateway:Production");
        if (string.IsNullOrWhiteSpace(options.EncryptionKey))
        {
            return production
                ? ValidateOptionsResult.Fail("Secrets:EncryptionKey: required in a configuration marked Gateway:Production (it encrypts the support users' TOTP secrets); base64 of 32 random bytes, e.g. 'openssl rand -base64 32'.")
                : ValidateOptionsResult.Success;
        }

        if (!SecretProtector.TryDecodeKey(options.EncryptionKey, out var key))
        {
            return ValidateOptionsResult.Fail("Secrets:EncryptionKey: not base64 of exactly 32 bytes.");
        }

        if (production && CryptographicOperations.FixedTimeEquals(key, SecretProtector.DemoKey))
        {
            return ValidateOptionsResult.Fail("Secrets:EncryptionKey: the demo key shipped with the gateway is refused in a configuration marked Gateway:Production.");
        }

        return ValidateOptionsResult.Success;
    }
}

/// <summary>
/// Encrypts small secrets at rest (the support users' TOTP secrets in <c>support-users.json</c>) with
/// AES-256-GCM under <see cref="SecretsOptions.EncryptionKey"/>. The value is
/// <c>v1.</c> + base64(nonce ‖ ciphertext ‖ tag). Each value is bound to what it protects (the
/// associated data, e.g. <c>totp:jill</c>), so a secret copied to another user's entry does not decrypt.
/// </summary>
internal sealed class SecretProtector
{
    public const string Prefix = "v1.";

    private const int NonceSize = 12;
    private const int TagSize = 16;

    /// <summary>
    /// The demo key: used outside production when <c>Secrets:EncryptionKey</c> is empty, refused in
    /// production. It protects nothing (it is in the repository); it only lets the demo enrol a user.
    /// </summary>
    public static readonly byte[] DemoKey = Convert.FromBase64String("ZGVtby1rZXktZm9yLXRvdHAtc2VjcmV0cy1vbmx5ISE=");

    private readonly byte[] _key;

    public SecretProtector(IOptions<SecretsOptions> options)
        : this(options.Value.EncryptionKey)
    {
    }

    /// <param name="base64Key">The configured key; empty for the demo key.</param>
    public SecretProtector(string? base64Key)
    {
        if (string.IsNullOrWhiteSpace(base64Key))
        {
            _key = DemoKey;
            UsesDemoKey = true;
        }
        else if (!TryDecodeKey(base64Key, out var key))
        {
            throw new ArgumentException("Secrets:EncryptionKey: not base64 of exactly 32 bytes.", nameof(base64Key));
        }
        else
        {
            _key = key;
        }
    }

    public bool UsesDemoKey { get; }

    public static bool TryDecodeKey(string text, out byte[] key)
    {
        key = [];
        var buffer = new byte[48];
        if (!Convert.TryFromBase64String(text.Trim(), buffer, out var written) || written != 32)
        {
            return false;
        }

        key = buffer[..32];
        return true;
    }

    /// <summary>True when <paramref name="value"/> has the shape of a protected value (not whether it decrypts).</summary>
    public static bool LooksProtected(string value)
    {
        if (!value.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var buffer = new byte[value.Length];
        return Convert.TryFromBase64String(value[Prefix.Length..], buffer, out var written) && written > NonceSize + TagSize;
    }

    public string Protect(ReadOnlySpan<byte> plaintext, string purpose)
    {
        var output = new byte[NonceSize + plaintext.Length + TagSize];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(NonceSize, plaintext.Length), output.AsSpan(NonceSize + plaintext.Length), Encoding.UTF8.GetBytes(purpose));
        return Prefix + Convert.ToBase64String(output);
    }

    /// <summary>The plaintext, or null when the value is malformed, was encrypted under another key, or belongs to another purpose.</summary>
    public byte[]? Unprotect(string value, string purpose)
    {
        if (!LooksProtected(value))
        {
            return null;
        }

        var bytes = Convert.FromBase64String(value[Prefix.Length..]);
        var plaintext = new byte[bytes.Length - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(_key, TagSize);
            aes.Decrypt(bytes.AsSpan(0, NonceSize), bytes.AsSpan(NonceSize, plaintext.Length), bytes.AsSpan(NonceSize + plaintext.Length), plaintext, Encoding.UTF8.GetBytes(purpose));
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }
}
