using System.Text.Json;

namespace Gateway.Auditing;

/// <summary>
/// Where shipping resumes: the first record of <see cref="Segment"/> at or after byte
/// <see cref="Offset"/> that Elasticsearch has not acknowledged (or that was not dead-lettered).
/// Stored as <c>{"segment":N,"offset":B}</c> in the spool directory's <c>checkpoint</c> file.
/// </summary>
internal readonly record struct SpoolCheckpoint(long Segment, long Offset) : IComparable<SpoolCheckpoint>
{
    public int CompareTo(SpoolCheckpoint other) =>
        Segment != other.Segment ? Segment.CompareTo(other.Segment) : Offset.CompareTo(other.Offset);

    /// <summary>The stored checkpoint; null when there is none or it is unreadable (then shipping replays, which is idempotent).</summary>
    public static SpoolCheckpoint? Load(string directory, out string? problem)
    {
        problem = null;
        var path = Path.Combine(directory, SpoolFormat.CheckpointFileName);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }

        try
        {
            var reader = new Utf8JsonReader(bytes);
            long? segment = null, offset = null;
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new JsonException("not an object");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                switch (name)
                {
                    case "segment":
                        segment = reader.GetInt64();
                        break;
                    case "offset":
                        offset = reader.GetInt64();
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }

            if (segment is not > 0 || offset is not >= 0)
            {
                throw new JsonException("segment must be positive and offset not negative");
            }

            return new SpoolCheckpoint(segment.Value, offset.Value);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            problem = ex.Message;
            return null;
        }
    }

    /// <summary>Replaces the checkpoint atomically: a crash leaves the old one or the new one, never half of either.</summary>
    public void Save(string directory)
    {
        var path = Path.Combine(directory, SpoolFormat.CheckpointFileName);
        var staging = path + ".tmp";
        using (var file = new FileStream(staging, FileMode.Create, FileAccess.Write, FileShare.None, 256))
        {
            using (var json = new Utf8JsonWriter(file))
            {
                json.WriteStartObject();
                json.WriteNumber("segment", Segment);
                json.WriteNumber("offset", Offset);
                json.WriteEndObject();
            }

            file.WriteByte((byte)'\n');
            file.Flush(flushToDisk: true);
        }

        File.Move(staging, path, overwrite: true);
    }
}
