using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SampleTenantApp;

/// <summary>application/problem+json responses, each with a stable <c>code</c> extension.</summary>
internal static class Problems
{
    public static ProblemHttpResult BadRequest(string code, string detail) =>
        Create(StatusCodes.Status400BadRequest, "Bad request", code, detail);

    public static ProblemHttpResult NotFound(string code, string detail) =>
        Create(StatusCodes.Status404NotFound, "Not found", code, detail);

    private static ProblemHttpResult Create(int status, string title, string code, string detail) =>
        TypedResults.Problem(
            detail: detail,
            statusCode: status,
            title: title,
            extensions: new Dictionary<string, object?> { ["code"] = code });
}

internal static class JsonBody
{
    /// <summary>
    /// Reads a JSON request body whatever its Content-Type (this is a lenient sample);
    /// null when the body is missing, malformed or the JSON literal <c>null</c>. The parser's
    /// message is not passed on: it can quote the input, which may hold a password.
    /// </summary>
    public static async ValueTask<T?> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(request.Body, typeInfo, cancellationToken);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
