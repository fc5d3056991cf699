using System.Buffers;
using System.Security.Cryptography;

namespace Gateway.Auditing;

/// <summary>
/// Where an event sits in its instance's hash chain (<c>gateway.chain.*</c>): the instance that
/// wrote it and its sequence number (1, 2, 3, … with no gaps). The chain hash itself is computed
/// by the spool writer from the event's canonical bytes.
/// </summary>
internal readonly record struct AuditChainStamp(string Instance, long Seq);

/// <summary>
/// The chain hash of an event: <c>SHA-256(previous chain hash ‖ SHA-256(canonical bytes of the event))</c>,
/// the previous hash being 32 zero bytes for sequence number 1. The canonical bytes are
/// <see cref="AuditCanonicalJson"/>'s, so the document can be verified however it was
/// re-serialized on the way (Elasticsearch, an export tool); hashing them first lets a verifier
/// keep 32 bytes per event and check the links in sequence order whatever order it read them in.
/// One instance per thread: it reuses its buffers and hash object.
/// </summary>
internal sealed class AuditChainHasher : IDisposable
{
    public const int HashBytes = 32;

    /// <summary>The chain hash before the first event: 32 zero bytes, as hex.</summary>
    public static readonly string GenesisHex = new('0', HashBytes * 2);

    private readonly AuditCanonicalJson _canonical = new();
    private readonly ArrayBufferWriter<byte> _bytes = new(1024);
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary>The canonical bytes of the last document hashed (valid until the next call).</summary>
    public ReadOnlySpan<byte> LastCanonical => _bytes.WrittenSpan;

    /// <summary>Writes the chain hash of <paramref name="document"/> after <paramref name="previous"/> into <paramref name="hash"/>.</summary>
    /// <exception cref="System.Text.Json.JsonException">The document is not a well-formed JSON object.</exception>
    public void Hash(ReadOnlySpan<byte> previous, ReadOnlySpan<byte> document, Span<byte> hash)
    {
        Span<byte> content = stackalloc byte[HashBytes];
        ContentHash(document, content);
        Link(previous, content, hash);
    }

    /// <summary>SHA-256 of the document's canonical bytes.</summary>
    /// <exception cref="System.Text.Json.JsonException">The document is not a well-formed JSON object.</exception>
    public void ContentHash(ReadOnlySpan<byte> document, Span<byte> hash)
    {
        _bytes.ResetWrittenCount();
        _canonical.Write(document, _bytes);
        SHA256.HashData(_bytes.WrittenSpan, hash);
    }

    /// <summary>The chain hash from the previous one and the event's content hash.</summary>
    public void Link(ReadOnlySpan<byte> previous, ReadOnlySpan<byte> content, Span<byte> hash)
    {
        _sha.AppendData(previous);
        _sha.AppendData(content);
        _sha.GetHashAndReset(hash);
    }

    public void Dispose() => _sha.Dispose();

    /// <summary>Lowercase hex of a hash, written as UTF-8 into <paramref name="destination"/> (64 bytes).</summary>
    public static void WriteHex(ReadOnlySpan<byte> hash, Span<byte> destination)
    {
        for (var i = 0; i < hash.Length; i++)
        {
            destination[i * 2] = Nibble(hash[i] >> 4);
            destination[(i * 2) + 1] = Nibble(hash[i] & 0xF);
        }
    }

    /// <summary>Reads a 64-character hex hash; false when it is not one.</summary>
    public static bool TryParseHex(string? text, Span<byte> hash)
    {
        if (text is null || text.Length != HashBytes * 2)
        {
            return false;
        }

        return Convert.FromHexString(text, hash, out _, out var written) == System.Buffers.OperationStatus.Done && written == HashBytes;
    }

    private static byte Nibble(int value) => (byte)(value < 10 ? '0' + value : 'a' + value - 10);
}
