using System.Diagnostics;
using System.Text.Json;
using Gateway.Auditing;

namespace Gateway.Tests.Infrastructure;

/// <summary>Reads a gateway's audit spool (the real files) to see which ECS events it recorded.</summary>
internal sealed class AuditTrail(string spoolDirectory)
{
    public string Directory { get; } = spoolDirectory;

    public IReadOnlyList<JsonElement> Events() =>
        [.. AuditSpoolReader.ReadJsonLines(Directory).Select(line => JsonDocument.Parse(line).RootElement.Clone())];

    /// <summary>
    /// The events matching <paramref name="match"/>, once there are at least <paramref name="count"/>
    /// of them. The spool is written asynchronously, so this re-reads it until the deadline.
    /// </summary>
    public async Task<IReadOnlyList<JsonElement>> WaitForAsync(Func<JsonElement, bool> match, int count = 1, TimeSpan? deadline = null)
    {
        var limit = deadline ?? TimeSpan.FromSeconds(10);
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var found = Events().Where(match).ToList();
            if (found.Count >= count)
            {
                return found;
            }

            if (watch.Elapsed > limit)
            {
                throw new Xunit.Sdk.XunitException($"expected {count} matching audit event(s) within {limit}, found {found.Count}; spool holds {Events().Count} event(s)");
            }

            await Task.Yield();
        }
    }

    /// <summary>The string at a dotted ECS path (e.g. <c>user.target.name</c>), or null.</summary>
    public static string? Get(JsonElement e, string path)
    {
        var current = e;
        foreach (var part in path == "@timestamp" ? ["@timestamp"] : path.Split('.'))
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(part, out current))
            {
                return null;
            }
        }

        return current.ValueKind switch
        {
            JsonValueKind.String => current.GetString(),
            JsonValueKind.Number => current.GetRawText(),
            JsonValueKind.Array => string.Join(",", current.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText())),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => current.GetRawText(),
        };
    }
}
