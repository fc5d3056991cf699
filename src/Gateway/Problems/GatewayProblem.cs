using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Problems;

/// <summary>
/// An RFC 9457 problem document with a stable machine-readable <see cref="Code"/>. Clients
/// and tests key on the code, never on the human-readable title or detail.
/// </summary>
internal sealed record GatewayProblem(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("code")] string Code,
    [property: JsonPropertyName("detail")] string? Detail)
{
    [JsonPropertyName("traceId")]
    public string? TraceId { get; init; }

    public static GatewayProblem Create(ProblemCode code, string? detail = null) =>
        new($"https://gateway.invalid/problems/{code.Value}", code.Title, code.Status, code.Value, detail);

    /// <summary>Writes the problem unless the response has already started (then nothing can be said).</summary>
    public Task WriteAsync(HttpContext context)
    {
        if (context.Response.HasStarted)
        {
            return Task.CompletedTask;
        }

        context.Response.Clear();
        context.Response.StatusCode = Status;
        context.Response.ContentType = "application/problem+json";
        context.Response.Headers.CacheControl = "no-store";
        var withTrace = this with { TraceId = context.TraceIdentifier };
        return JsonSerializer.SerializeAsync(
            context.Response.Body, withTrace, ProblemJsonContext.Default.GatewayProblem, context.RequestAborted);
    }
}

/// <summary>A stable problem code with the status and title that always go with it.</summary>
internal sealed record ProblemCode(string Value, int Status, string Title)
{
    public static readonly ProblemCode UnknownHost =
        new("gateway.unknown_host", StatusCodes.Status404NotFound, "No tenant is served at this host");
    public static readonly ProblemCode NoRoute =
        new("gateway.no_route", StatusCodes.Status404NotFound, "No route matches this request");
    public static readonly ProblemCode NotFound =
        new("gateway.not_found", StatusCodes.Status404NotFound, "No such gateway endpoint");
    public static readonly ProblemCode BackendUnavailable =
        new("proxy.backend_unavailable", StatusCodes.Status502BadGateway, "The backend could not be reached");
    public static readonly ProblemCode BackendTimeout =
        new("proxy.backend_timeout", StatusCodes.Status504GatewayTimeout, "The backend did not answer in time");
    public static readonly ProblemCode BadGateway =
        new("proxy.bad_gateway", StatusCodes.Status502BadGateway, "The backend's response could not be relayed");
    public static readonly ProblemCode InternalError =
        new("gateway.internal_error", StatusCodes.Status500InternalServerError, "The gateway failed to handle the request");
}

[JsonSerializable(typeof(GatewayProblem))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class ProblemJsonContext : JsonSerializerContext;
