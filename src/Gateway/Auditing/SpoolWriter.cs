using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Gateway.Auditing;

/// <summary>
/// Appends framed records to one segment file (used by one thread: the sink's writer task).
/// Records gather in a buffer and go to the file in one positioned write per burst, so a failed
/// write is simply repeated at the same offset; the file never holds a record the writer has
/// not finished unless the process dies mid-write (recovery truncates that torn tail).
/// </summary>
internal sealed class SpoolWriter : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    private SpoolWriter(string directory, long segment, SafeFileHandle handle)
    {
        Directory = directory;
        Segment = segment;
        _handle = handle;
    }

    public string Directory { get; }

    public long Segment { get; }

    /// <summary>Bytes handed to the operating system so far.</summary>
    public long Length { get; private set; }

    /// <summary>Bytes written since the last <see cref="Sync"/>.</summary>
    public long UnsyncedBytes { get; private set; }

    public int BufferedBytes => _buffer.WrittenCount;

    public int BufferedRecords { get; private set; }

    /// <summary>Creates a new, empty segment (never reuses an existing file).</summary>
    public static SpoolWriter Create(string directory, long segment) =>
        new(directory, segment, File.OpenHandle(
            SpoolFormat.SegmentPath(directory, segment), FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete));

    /// <summary>True when a record of <paramref name="payloadLength"/> bytes should go to a new segment instead.</summary>
    public bool IsFullFor(int payloadLength, long segmentMaxBytes)
    {
        var used = Length + _buffer.WrittenCount;
        return used > 0 && used + payloadLength + SpoolFormat.Overhead > segmentMaxBytes;
    }

    public void Add(ReadOnlySpan<byte> payload)
    {
        var size = payload.Length + SpoolFormat.Overhead;
        SpoolFormat.WriteRecord(_buffer.GetSpan(size)[..size], payload);
        _buffer.Advance(size);
        BufferedRecords++;
    }

    /// <summary>Writes the buffered records to the file. On failure they stay buffered for another try.</summary>
    public (int Records, long Bytes) WriteBuffered()
    {
        if (_buffer.WrittenCount == 0)
        {
            return (0, 0);
        }

        RandomAccess.Write(_handle, _buffer.WrittenSpan, Length);
        var written = (BufferedRecords, (long)_buffer.WrittenCount);
        Length += _buffer.WrittenCount;
        UnsyncedBytes += _buffer.WrittenCount;
        _buffer.ResetWrittenCount();
        BufferedRecords = 0;
        return written;
    }

    /// <summary>fsync: the written bytes survive an operating-system crash or power cut.</summary>
    public void Sync()
    {
        if (UnsyncedBytes > 0)
        {
            RandomAccess.FlushToDisk(_handle);
            UnsyncedBytes = 0;
        }
    }

    public void Dispose() => _handle.Dispose();

    /// <summary>
    /// Makes the last segment of a spool appendable-safe after a crash: finds the end of its last
    /// whole record at or after <paramref name="from"/> and cuts off whatever follows (a record
    /// torn by the crash). Corrupt records followed by whole ones are left for the shipper to skip.
    /// </summary>
    /// <returns>The bytes cut off, and the corrupt ranges that were left in place.</returns>
    public static (long Truncated, int CorruptRanges) RecoverTail(string directory, long segment, long from)
    {
        long length;
        long validEnd;
        var corrupt = 0;
        using (var reader = SpoolSegmentReader.Open(directory, segment))
        {
            length = reader.Length;
            validEnd = Math.Min(from, length);
            var offset = validEnd;
            while (true)
            {
                var read = reader.Read(offset, length);
                if (read.Status == SpoolReadStatus.End)
                {
                    break;
                }

                if (read.Status == SpoolReadStatus.Record)
                {
                    validEnd = read.NextOffset;
                }
                else if (read.NextOffset < length)
                {
                    corrupt++;
                }

                offset = read.NextOffset;
            }
        }

        if (validEnd >= length)
        {
            return (0, corrupt);
        }

        using (var handle = File.OpenHandle(SpoolFormat.SegmentPath(directory, segment), FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete))
        {
            RandomAccess.SetLength(handle, validEnd);
            RandomAccess.FlushToDisk(handle);
        }

        return (length - validEnd, corrupt);
    }
}
