using System.Globalization;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;

namespace SampleTenantApp;

/// <summary>Responses whose exact shape the gateway must pass through untouched: <c>/status/{code}</c>, <c>/cookies</c>, <c>/hop-response</c>.</summary>
internal static class Transparency
{
    private static readonly StringValues Cookies = new(["a=1", "b=2; Path=/", "c=3; HttpOnly"]);
    private static readonly StringValues MultiValues = new(["one", "two"]);

    public static IEndpointRouteBuilder MapTransparency(this IEndpointRouteBuilder routes)
    {
        routes.Map("/status/{code}", StatusAsync);
        routes.MapMethods("/cookies", [HttpMethods.Get, HttpMethods.Head], CookiesAsync);
        routes.MapGet("/hop-response", HopByHopResponse);
        return routes;
    }

    private static async Task StatusAsync(HttpContext context, string code, CancellationToken cancellationToken)
    {
        if (!int.TryParse(code, NumberStyles.None, CultureInfo.InvariantCulture, out var status) || status is < 200 or > 599)
        {
            await Problems.BadRequest("invalid_status_code", "The status code must be from 200 to 599.").ExecuteAsync(context);
            return;
        }

        var response = context.Response;
        response.StatusCode = status;

        // Kestrel rejects a body on 204, 205 and 304.
        if (status is StatusCodes.Status204NoContent or StatusCodes.Status205ResetContent or StatusCodes.Status304NotModified
            || HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }

        response.ContentType = "text/plain; charset=utf-8";
        await response.WriteAsync(
            string.Create(CultureInfo.InvariantCulture, $"{status} {ReasonPhrases.GetReasonPhrase(status)}\n"),
            cancellationToken);
    }

    /// <summary>
    /// Hop-by-hop headers on a response (RFC 9110 §7.6.1): <c>Keep-Alive</c>, and a custom header
    /// named in <c>Connection</c>. A proxy must not relay either; <c>X-Backend-End-To-End</c> it must.
    /// </summary>
    private static Task HopByHopResponse(HttpContext context)
    {
        var headers = context.Response.Headers;
        headers.Connection = "X-Backend-Hop";
        headers["X-Backend-Hop"] = "must-not-pass";
        headers["Keep-Alive"] = "timeout=5";
        headers["X-Backend-End-To-End"] = "kept";
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync("hop-by-hop\n", context.RequestAborted);
    }

    private static Task CookiesAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var response = context.Response;

        // Raw header values (not Response.Cookies) so the exact strings are known to tests;
        // each value goes out as its own header line.
        response.Headers.SetCookie = Cookies;
        response.Headers["X-Multi"] = MultiValues;
        response.ContentType = "text/plain; charset=utf-8";
        return HttpMethods.IsHead(context.Request.Method)
            ? Task.CompletedTask
            : response.WriteAsync("cookies set\n", cancellationToken);
    }
}
