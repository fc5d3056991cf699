using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SampleTenantApp;

internal sealed record Setting(string Key, string Value);

internal sealed record SettingInput(string? Value);

internal sealed class SettingsStore
{
    private readonly ConcurrentDictionary<string, string> _values = new(StringComparer.Ordinal)
    {
        ["theme"] = "light",
        ["timezone"] = "UTC",
        ["language"] = "en",
        ["pageSize"] = "25",
    };

    public Dictionary<string, string> All() => new(_values.OrderBy(kv => kv.Key, StringComparer.Ordinal));

    public string? Find(string key) => _values.GetValueOrDefault(key);

    public void Set(string key, string value) => _values[key] = value;
}

internal static class Settings
{
    public static IEndpointRouteBuilder MapSettings(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/settings");
        group.MapGet("/", All);
        group.MapGet("/{key}", Get);
        group.MapPut("/{key}", PutAsync);
        return routes;
    }

    private static Ok<Dictionary<string, string>> All(SettingsStore store) => TypedResults.Ok(store.All());

    private static Results<Ok<Setting>, ProblemHttpResult> Get(string key, SettingsStore store) =>
        store.Find(key) is { } value
            ? TypedResults.Ok(new Setting(key, value))
            : Problems.NotFound("setting_not_found", $"Setting '{key}' does not exist.");

    private static async Task<Results<Ok<Setting>, ProblemHttpResult>> PutAsync(
        string key, HttpRequest request, SettingsStore store, CancellationToken cancellationToken)
    {
        var input = await JsonBody.ReadAsync(request, SampleJsonContext.Default.SettingInput, cancellationToken);
        if (input?.Value is not { } value)
        {
            return Problems.BadRequest("invalid_setting", """Expected a JSON object {"value": string}.""");
        }

        store.Set(key, value);
        return TypedResults.Ok(new Setting(key, value));
    }
}
