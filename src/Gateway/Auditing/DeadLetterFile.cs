using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Gateway.Auditing;

/// <summary>
/// <c>dead-letter.ndjson</c> in the spool directory: events Elasticsearch refused for good (a
/// 4xx other than 409 and 429) with the reason, and notes about corrupt spool bytes that were
/// skipped. One JSON object per line; appended and synced before the checkpoint moves past
/// them, so nothing leaves the spool without landing here or in Elasticsearch.
/// </summary>
internal static class DeadLetterFile
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    /// <summary>A refused event, with Elasticsearch's reason.</summary>
    internal sealed record Rejected(SpoolCheckpoint At, ReadOnlyMemory<byte> Event, int Status, string? ErrorType, string? Reason);

    /// <summary>Spool bytes that are not a whole record (CRC mismatch, bad framing) and were skipped.</summary>
    internal sealed record Corrupt(SpoolCheckpoint At, long Bytes, string Reason);

    public static void Append(string directory, DateTimeOffset now, IReadOnlyCollection<Rejected> rejected, IReadOnlyCollection<Corrupt> corrupt)
    {
        if (rejected.Count == 0 && corrupt.Count == 0)
        {
            return;
        }

        using var file = new FileStream(Path.Combine(directory, SpoolFormat.DeadLetterFileName), FileMode.Append, FileAccess.Write, FileShare.Read, 16 * 1024);
        var timestamp = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        foreach (var item in rejected)
        {
            using (var json = new Utf8JsonWriter(file, WriterOptions))
            {
                json.WriteStartObject();
                json.WriteString("@timestamp", timestamp);
                WriteSpool(json, item.At, null);
                json.WriteStartObject("error");
                json.WriteNumber("status", item.Status);
                WriteOptional(json, "type", item.ErrorType);
                WriteOptional(json, "reason", item.Reason);
                json.WriteEndObject();
                json.WritePropertyName("event");
                json.WriteRawValue(item.Event.Span, skipInputValidation: true);
                json.WriteEndObject();
            }

            file.WriteByte((byte)'\n');
        }

        foreach (var item in corrupt)
        {
            using (var json = new Utf8JsonWriter(file, WriterOptions))
            {
                json.WriteStartObject();
                json.WriteString("@timestamp", timestamp);
                WriteSpool(json, item.At, item.Bytes);
                json.WriteStartObject("error");
                json.WriteString("type", "spool_corruption");
                json.WriteString("reason", item.Reason);
                json.WriteEndObject();
                json.WriteEndObject();
            }

            file.WriteByte((byte)'\n');
        }

        file.Flush(flushToDisk: true);
    }

    private static void WriteSpool(Utf8JsonWriter json, SpoolCheckpoint at, long? bytes)
    {
        json.WriteStartObject("spool");
        json.WriteString("segment", SpoolFormat.SegmentFileName(at.Segment));
        json.WriteNumber("offset", at.Offset);
        if (bytes is { } b)
        {
            json.WriteNumber("bytes", b);
        }

        json.WriteEndObject();
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}
