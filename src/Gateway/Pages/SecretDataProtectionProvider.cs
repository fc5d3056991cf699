using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;

namespace Gateway.Pages;

/// <summary>
/// Data protection for what the gateway hands browsers and reads back: the page sign-in cookies,
/// the OIDC state, nonce and correlation cookies, and the antiforgery tokens. Everything is
/// AES-256-GCM under a key derived (HKDF-SHA256) from <c>Secrets:EncryptionKey</c> and the
/// protector's purpose chain, so every instance configured with the same key reads what another
/// wrote, a restart signs nobody out, and no key ring is stored anywhere. A value protected for one
/// purpose (a cookie scheme, the antiforgery system) does not unprotect for another.
/// </summary>
/// <remarks>
/// Format: version byte 1 ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag; the version byte is
/// the associated data. Changing the key makes every outstanding value unreadable: users sign in
/// again and open forms answer "the form expired" (both read as "not signed in", never as an error).
/// Without a configured key (the demo) the gateway keeps ephemeral in-memory keys instead, since
/// the demo key is public.
/// </remarks>
internal sealed class SecretDataProtectionProvider : IDataProtectionProvider
{
    private const byte Version = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Salt = Encoding.UTF8.GetBytes("support-gateway/data-protection/v1");

    private readonly byte[] _root;

    public SecretDataProtectionProvider(byte[] key)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException("The data-protection key must be 32 bytes.", nameof(key));
        }

        _root = HKDF.Extract(HashAlgorithmName.SHA256, key, Salt);
    }

    public IDataProtector CreateProtector(string purpose) => new Protector(_root, [Validate(purpose)]);

    private static string Validate(string purpose) =>
        string.IsNullOrEmpty(purpose) ? throw new ArgumentException("A data-protection purpose must not be empty.", nameof(purpose)) : purpose;

    private sealed class Protector : IDataProtector
    {
        private readonly byte[] _root;
        private readonly string[] _purposes;
        private readonly byte[] _key;

        public Protector(byte[] root, string[] purposes)
        {
            _root = root;
            _purposes = purposes;
            _key = HKDF.Expand(HashAlgorithmName.SHA256, root, 32, Info(purposes));
        }

        public IDataProtector CreateProtector(string purpose) => new Protector(_root, [.. _purposes, Validate(purpose)]);

        public byte[] Protect(byte[] plaintext)
        {
            ArgumentNullException.ThrowIfNull(plaintext);
            var output = new byte[1 + NonceSize + plaintext.Length + TagSize];
            output[0] = Version;
            var nonce = output.AsSpan(1, NonceSize);
            RandomNumberGenerator.Fill(nonce);
            using var aes = new AesGcm(_key, TagSize);
            aes.Encrypt(nonce, plaintext, output.AsSpan(1 + NonceSize, plaintext.Length), output.AsSpan(output.Length - TagSize), output.AsSpan(0, 1));
            return output;
        }

        public byte[] Unprotect(byte[] protectedData)
        {
            ArgumentNullException.ThrowIfNull(protectedData);
            if (protectedData.Length < 1 + NonceSize + TagSize || protectedData[0] != Version)
            {
                throw new CryptographicException("The protected value is not in the gateway's format.");
            }

            var length = protectedData.Length - 1 - NonceSize - TagSize;
            var plaintext = new byte[length];
            using var aes = new AesGcm(_key, TagSize);
            // Throws AuthenticationTagMismatchException (a CryptographicException) for another key,
            // another purpose or any change to the value.
            aes.Decrypt(
                protectedData.AsSpan(1, NonceSize),
                protectedData.AsSpan(1 + NonceSize, length),
                protectedData.AsSpan(protectedData.Length - TagSize),
                plaintext,
                protectedData.AsSpan(0, 1));
            return plaintext;
        }

        /// <summary>The purpose chain, each purpose length-prefixed, so ("ab", "c") and ("a", "bc") differ.</summary>
        private static byte[] Info(string[] purposes)
        {
            var buffer = new List<byte>();
            Span<byte> length = stackalloc byte[4];
            foreach (var purpose in purposes)
            {
                var bytes = Encoding.UTF8.GetBytes(purpose);
                BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
                buffer.AddRange(length.ToArray());
                buffer.AddRange(bytes);
            }

            return buffer.ToArray();
        }
    }
}
