using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SampleTenantApp;

internal static class Home
{
    public static IEndpointRouteBuilder MapHome(this IEndpointRouteBuilder routes)
    {
        routes.MapMethods("/", [HttpMethods.Get, HttpMethods.Head], Page);
        return routes;
    }

    private static ContentHttpResult Page(SampleAppOptions options)
    {
        var name = HtmlEncoder.Default.Encode(options.Name);
        var html = $"""
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8"><title>Sample tenant app: {name}</title></head>
            <body><h1>Sample tenant app: {name}</h1><p>A backend behind the support-session gateway.</p></body>
            </html>

            """;
        return TypedResults.Content(html, "text/html; charset=utf-8");
    }
}
