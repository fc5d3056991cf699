using System.Text.Json;

namespace Gateway.Auditing;

/// <summary>Reading fields back out of an ECS audit event (a spool record, an export line, an Elasticsearch hit).</summary>
internal static class EcsDocument
{
    /// <summary>The string at a nested path (<c>"gateway", "support", "session_id"</c>); null when absent or not a string.</summary>
    public static string? Text(JsonElement e, params string[] path)
    {
        foreach (var name in path)
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out e))
            {
                return null;
            }
        }

        return e.ValueKind == JsonValueKind.String ? e.GetString() : null;
    }
}
