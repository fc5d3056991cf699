using System.Buffers.Binary;
using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Gateway.Auditing;

/// <summary>
/// On-disk layout of the audit spool (docs/audit.md, "Spool format"). A spool directory holds
/// segment files <c>NNNNNNNNNNNN.seg</c> (12 decimal digits, increasing), each a run of
/// records:
/// <code>
///   magic   2 bytes  0xA7 0x5D
///   length  4 bytes  payload length, little-endian (at most MaxPayloadBytes)
///   payload n bytes  one ECS JSON document, UTF-8, no newline
///   crc32   4 bytes  CRC-32 (IEEE 802.3, the zlib polynomial; System.IO.Hashing.Crc32) of length + payload, little-endian
/// </code>
/// The magic lets a reader find the next record after a corrupted one; the CRC tells a torn
/// or damaged record from a whole one.
/// </summary>
internal static class SpoolFormat
{
    public const byte Magic0 = 0xA7;
    public const byte Magic1 = 0x5D;
    public const int HeaderSize = 6;
    public const int TrailerSize = 4;
    public const int Overhead = HeaderSize + TrailerSize;

    /// <summary>Largest payload a record may hold; a bigger length field is corruption.</summary>
    public const int MaxPayloadBytes = 1024 * 1024;

    public const string SegmentExtension = ".seg";
    public const string CheckpointFileName = "checkpoint";
    public const string DeadLetterFileName = "dead-letter.ndjson";
    public const string LockFileName = "spool.lock";

    public static string SegmentFileName(long segment) =>
        segment.ToString("D12", CultureInfo.InvariantCulture) + SegmentExtension;

    public static string SegmentPath(string directory, long segment) => Path.Combine(directory, SegmentFileName(segment));

    public static bool TryParseSegmentFileName(string fileName, out long segment)
    {
        segment = 0;
        return fileName.Length == 12 + SegmentExtension.Length
            && fileName.EndsWith(SegmentExtension, StringComparison.Ordinal)
            && fileName.AsSpan(0, 12).IndexOfAnyExceptInRange('0', '9') < 0
            && long.TryParse(fileName.AsSpan(0, 12), NumberStyles.None, CultureInfo.InvariantCulture, out segment)
            && segment > 0;
    }

    /// <summary>Segment numbers present in <paramref name="directory"/>, ascending.</summary>
    public static List<long> ListSegments(string directory)
    {
        var segments = new List<long>();
        if (!Directory.Exists(directory))
        {
            return segments;
        }

        foreach (var path in Directory.EnumerateFiles(directory, "*" + SegmentExtension))
        {
            if (TryParseSegmentFileName(Path.GetFileName(path), out var segment))
            {
                segments.Add(segment);
            }
        }

        segments.Sort();
        return segments;
    }

    /// <summary>Writes one framed record into <paramref name="destination"/> (exactly <c>payload.Length + Overhead</c> bytes).</summary>
    public static void WriteRecord(Span<byte> destination, ReadOnlySpan<byte> payload)
    {
        destination[0] = Magic0;
        destination[1] = Magic1;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[2..], (uint)payload.Length);
        payload.CopyTo(destination[HeaderSize..]);
        var crc = System.IO.Hashing.Crc32.HashToUInt32(destination.Slice(2, 4 + payload.Length));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[(HeaderSize + payload.Length)..], crc);
    }
}

internal enum SpoolReadStatus
{
    /// <summary>A whole record: <see cref="SpoolRead.Payload"/> is its JSON.</summary>
    Record,

    /// <summary>Nothing more before the limit.</summary>
    End,

    /// <summary>
    /// Bytes from <see cref="SpoolRead.Offset"/> to <see cref="SpoolRead.NextOffset"/> are not a
    /// whole record. If <c>NextOffset</c> is the limit no whole record follows: a torn tail.
    /// </summary>
    Corrupt,
}

/// <summary>One step of <see cref="SpoolSegmentReader.Read"/>. <see cref="Payload"/> is only valid until the next read.</summary>
internal readonly record struct SpoolRead(SpoolReadStatus Status, long Offset, long NextOffset, ReadOnlyMemory<byte> Payload);

/// <summary>Reads records of one segment file at given offsets, through a read window.</summary>
internal sealed class SpoolSegmentReader : IDisposable
{
    private const int MinWindow = 256 * 1024;

    private readonly SafeFileHandle _handle;
    private byte[] _buffer = new byte[MinWindow];
    private long _bufferOffset;
    private int _bufferCount;

    private SpoolSegmentReader(SafeFileHandle handle, long segment)
    {
        _handle = handle;
        Segment = segment;
    }

    public long Segment { get; }

    /// <summary>Opens a segment for reading while a writer may still append to it, or a shipper delete it.</summary>
    public static SpoolSegmentReader Open(string directory, long segment) =>
        new(File.OpenHandle(SpoolFormat.SegmentPath(directory, segment), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete), segment);

    public long Length => RandomAccess.GetLength(_handle);

    /// <summary>
    /// The record at <paramref name="offset"/>, reading no byte at or past <paramref name="limit"/>.
    /// A bad record is reported once as <see cref="SpoolReadStatus.Corrupt"/> together with where
    /// the next whole record starts, so a reader never loops on it.
    /// </summary>
    public SpoolRead Read(long offset, long limit)
    {
        if (offset >= limit)
        {
            return new SpoolRead(SpoolReadStatus.End, offset, offset, default);
        }

        if (TryParseAt(offset, limit, out var payload, out var next))
        {
            return new SpoolRead(SpoolReadStatus.Record, offset, next, payload);
        }

        return new SpoolRead(SpoolReadStatus.Corrupt, offset, FindNextRecord(offset + 1, limit), default);
    }

    public void Dispose() => _handle.Dispose();

    private bool TryParseAt(long offset, long limit, out ReadOnlyMemory<byte> payload, out long next)
    {
        payload = default;
        next = offset;
        if (limit - offset < SpoolFormat.Overhead)
        {
            return false;
        }

        var header = Window(offset, SpoolFormat.HeaderSize, limit);
        if (header.Length < SpoolFormat.HeaderSize || header[0] != SpoolFormat.Magic0 || header[1] != SpoolFormat.Magic1)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(header[2..]);
        if (length > SpoolFormat.MaxPayloadBytes || length + SpoolFormat.Overhead > limit - offset)
        {
            return false;
        }

        var total = (int)length + SpoolFormat.Overhead;
        var record = Window(offset, total, limit);
        if (record.Length < total)
        {
            return false;
        }

        var crc = BinaryPrimitives.ReadUInt32LittleEndian(record[(total - SpoolFormat.TrailerSize)..]);
        if (System.IO.Hashing.Crc32.HashToUInt32(record.Slice(2, 4 + (int)length)) != crc)
        {
            return false;
        }

        var start = (int)(offset - _bufferOffset) + SpoolFormat.HeaderSize;
        payload = new ReadOnlyMemory<byte>(_buffer, start, (int)length);
        next = offset + total;
        return true;
    }

    /// <summary>The offset of the first whole record at or after <paramref name="from"/>, else <paramref name="limit"/>.</summary>
    private long FindNextRecord(long from, long limit)
    {
        var position = from;
        while (position <= limit - SpoolFormat.Overhead)
        {
            var window = Window(position, (int)Math.Min(MinWindow, limit - position), limit);
            if (window.Length == 0)
            {
                break;
            }

            var hit = window.IndexOf(SpoolFormat.Magic0);
            if (hit < 0)
            {
                position += window.Length;
                continue;
            }

            var candidate = position + hit;
            if (TryParseAt(candidate, limit, out _, out _))
            {
                return candidate;
            }

            position = candidate + 1;
        }

        return limit;
    }

    /// <summary>
    /// Bytes from <paramref name="offset"/> (at most <paramref name="count"/>; fewer at the end of
    /// the file). Never reads at or past <paramref name="limit"/>: beyond it a writer may be
    /// appending, and a cached half-written record must not be served later.
    /// </summary>
    private ReadOnlySpan<byte> Window(long offset, int count, long limit)
    {
        if (offset >= _bufferOffset && offset + count <= _bufferOffset + _bufferCount)
        {
            return _buffer.AsSpan((int)(offset - _bufferOffset), count);
        }

        if (_buffer.Length < count)
        {
            _buffer = new byte[Math.Max(count, _buffer.Length * 2)];
        }

        _bufferOffset = offset;
        _bufferCount = 0;
        var wanted = (int)Math.Min(_buffer.Length, limit - offset);
        while (_bufferCount < wanted)
        {
            var read = RandomAccess.Read(_handle, _buffer.AsSpan(_bufferCount, wanted - _bufferCount), offset + _bufferCount);
            if (read == 0)
            {
                break;
            }

            _bufferCount += read;
        }

        return _buffer.AsSpan(0, Math.Min(count, _bufferCount));
    }
}
