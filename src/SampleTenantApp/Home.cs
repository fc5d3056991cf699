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

    private static ContentHttpResult Page(HttpRequest request, SampleAppOptions options)
    {
        var name = HtmlEncoder.Default.Encode(options.Name);
        // A support engineer acting as a user must not be handed that user's management token: with it,
        // support could grant itself access. The gateway sets X-Gateway-Support-User on support calls only
        // (and strips it from everyone else), so the page leaves the token out for them.
        var supportSession = request.Headers.ContainsKey("X-Gateway-Support-User");
        var token = options.SupportAccessToken is { } t && !supportSession ? $" token=\"{HtmlEncoder.Default.Encode(t)}\"" : "";
        var html = $"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Sample tenant app: {name}</title>
            <script src="/_gateway/ui/embed/support-access.js" defer></script>
            </head>
            <body>
            <header><support-access tenant="{name}"{token}></support-access></header>
            <h1>Sample tenant app: {name}</h1>
            <p>A backend behind the support-session gateway.</p>
            <ul>
            <li><a href="/api/orders">Orders</a> (the tenant's records)</li>
            <li><a href="/api/settings">Settings</a> (configuration)</li>
            <li><a href="/api/echo/hello">Echo</a> (what the app receives)</li>
            </ul>
            </body>
            </html>

            """;
        return TypedResults.Content(html, "text/html; charset=utf-8");
    }
}
