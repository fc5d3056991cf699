using System.Text;

namespace Gateway.Auditing;

/// <summary>
/// Reads a spool directory for people and tools (tests, a CLI verb): the ECS JSON line of every
/// whole record, oldest first. Corrupt or torn bytes are skipped (reported through
/// <c>onSkipped</c>), never guessed at. Safe to run beside a live gateway: files are opened
/// shared, and a record still being written shows up as a skipped tail.
/// </summary>
internal static class AuditSpoolReader
{
    /// <summary>One record: where it sits and its JSON document.</summary>
    internal sealed record Entry(long Segment, long Offset, string Json);

    /// <summary>Bytes that are not a whole record.</summary>
    internal sealed record Skipped(long Segment, long Offset, long Bytes);

    /// <summary>The JSON documents in the spool (one ECS event each).</summary>
    public static IEnumerable<string> ReadJsonLines(string directory, bool unshippedOnly = false) =>
        ReadEntries(directory, unshippedOnly).Select(e => e.Json);

    /// <param name="directory">A spool directory (<c>Audit:SpoolDirectory</c>).</param>
    /// <param name="unshippedOnly">Start at the shipping checkpoint instead of the oldest segment.</param>
    /// <param name="onSkipped">Told about every run of bytes that is not a whole record.</param>
    public static IEnumerable<Entry> ReadEntries(string directory, bool unshippedOnly = false, Action<Skipped>? onSkipped = null)
    {
        var from = unshippedOnly ? SpoolCheckpoint.Load(directory, out _) : null;
        foreach (var segment in SpoolFormat.ListSegments(directory))
        {
            if (from is { } checkpoint && segment < checkpoint.Segment)
            {
                continue;
            }

            SpoolSegmentReader reader;
            try
            {
                reader = SpoolSegmentReader.Open(directory, segment);
            }
            catch (FileNotFoundException)
            {
                // Shipped and deleted since the directory was listed.
                continue;
            }

            using (reader)
            {
                var offset = from is { } c && c.Segment == segment ? c.Offset : 0;
                var length = reader.Length;
                while (true)
                {
                    var read = reader.Read(offset, length);
                    if (read.Status == SpoolReadStatus.End)
                    {
                        break;
                    }

                    if (read.Status == SpoolReadStatus.Record)
                    {
                        yield return new Entry(segment, offset, Encoding.UTF8.GetString(read.Payload.Span));
                    }
                    else
                    {
                        onSkipped?.Invoke(new Skipped(segment, read.Offset, read.NextOffset - read.Offset));
                    }

                    offset = read.NextOffset;
                }
            }
        }
    }
}
