using System.Reflection;
using System.Text.Json;
using Gateway.Hosting;
using Gateway.Problems;
using Microsoft.Extensions.Options;

namespace Gateway.Management;

/// <summary>A body that was read (or refused) by <see cref="JsonBody{T}"/>.</summary>
internal interface IJsonBody
{
    GatewayProblem? Problem { get; }
}

/// <summary>
/// A small JSON request body read strictly, as an endpoint parameter: the right media type (415),
/// a bounded size (413), valid JSON of the expected shape with no unknown field (400,
/// <c>request.invalid</c>, naming the JSON path, never echoing the body). An empty body is
/// <see cref="Value"/> null, for endpoints whose fields are all optional. Refusals are answered
/// by <see cref="JsonBodyFilter"/> before the handler runs, so handlers only see good bodies.
/// </summary>
internal sealed class JsonBody<T> : IJsonBody
    where T : class
{
    private JsonBody(T? value, GatewayProblem? problem)
    {
        Value = value;
        Problem = problem;
    }

    /// <summary>The body; null when the request had none.</summary>
    public T? Value { get; }

    public GatewayProblem? Problem { get; }

    public static async ValueTask<JsonBody<T>> BindAsync(HttpContext http, ParameterInfo parameter)
    {
        var limit = http.RequestServices.GetRequiredService<IOptions<ManagementOptions>>().Value.MaxRequestBodyBytes;
        var body = await BoundedBody.ReadAsync(http.Request, limit, http.RequestAborted);
        if (body is null)
        {
            return Refuse(ProblemCode.RequestTooLarge, $"At most {limit} bytes.");
        }

        if (body.Length == 0)
        {
            return new JsonBody<T>(null, null);
        }

        if (!http.Request.HasJsonContentType())
        {
            return Refuse(ProblemCode.UnsupportedMediaType);
        }

        var type = GatewayJson.TypeInfo<T>();
        try
        {
            return JsonSerializer.Deserialize(body, type) is { } value
                ? new JsonBody<T>(value, null)
                : Refuse(ProblemCode.InvalidRequest, "A JSON object is required.");
        }
        catch (JsonException ex)
        {
            // The message names the JSON path and the problem; it never quotes a value.
            return Refuse(ProblemCode.InvalidRequest, ex.Message);
        }
    }

    private static JsonBody<T> Refuse(ProblemCode code, string? detail = null) => new(null, GatewayProblem.Create(code, detail));
}

/// <summary>Answers with the problem of any <see cref="JsonBody{T}"/> argument that was refused.</summary>
internal sealed class JsonBodyFilter : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        foreach (var argument in context.Arguments)
        {
            if (argument is IJsonBody { Problem: { } problem })
            {
                return ValueTask.FromResult<object?>(problem);
            }
        }

        return next(context);
    }
}
