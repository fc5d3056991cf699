using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace SampleTenantApp;

internal sealed record EchoResponse(
    string App,
    string Method,
    string Path,
    string RawTarget,
    string Query,
    Dictionary<string, string?[]> Headers,
    long BodyLength,
    string Protocol);

/// <summary>
/// <c>/api/echo/**</c>, any method: reports what actually arrived, byte for byte, so transparency
/// tests can compare it with what the client sent through the gateway.
/// </summary>
internal static class Echo
{
    public static IEndpointRouteBuilder MapEcho(this IEndpointRouteBuilder routes)
    {
        // Map (not MapGet/MapMethods) matches every method, PROPFIND and friends included;
        // the catch-all is optional, so /api/echo itself matches too.
        routes.Map("/api/echo/{**rest}", HandleAsync);
        return routes;
    }

    private static async Task HandleAsync(HttpContext context, SampleAppOptions options, CancellationToken cancellationToken)
    {
        var request = context.Request;

        // The raw target keeps percent-encoding exactly as sent; Request.Path is already decoded.
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget
            ?? (request.PathBase + request.Path + request.QueryString).ToString();
        var queryStart = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var path = queryStart < 0 ? rawTarget : rawTarget[..queryStart];
        var query = queryStart < 0 ? string.Empty : rawTarget[queryStart..];

        var headers = new Dictionary<string, string?[]>(request.Headers.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers)
        {
            headers[name] = values.ToArray();
        }

        var body = await RequestBodyReader.DrainAsync(request.BodyReader, checksum: false, cancellationToken);

        var echo = new EchoResponse(options.Name, request.Method, path, rawTarget, query, headers, body.Bytes, request.Protocol);
        var payload = JsonSerializer.SerializeToUtf8Bytes(echo, SampleJsonContext.Relaxed.EchoResponse);

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = payload.Length;

        // HEAD gets the same headers as GET would, and no body.
        if (!HttpMethods.IsHead(request.Method))
        {
            await response.Body.WriteAsync(payload, cancellationToken);
        }
    }
}
