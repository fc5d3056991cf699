using System.Net;
using System.Text.RegularExpressions;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The sign-in and sign-out pages over plain HTTP, as a browser without script would use them: GET
/// the page, keep its antiforgery cookie and field, POST the form.
/// </summary>
internal static partial class SignInForm
{
    public const string BrowserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

    /// <summary>GETs <paramref name="page"/> and returns its antiforgery field and cookie.</summary>
    public static async Task<(string Field, string Cookie)> AntiforgeryAsync(HttpClient client, string page = "/_gateway/support/login")
    {
        using var response = await client.GetAsync(page);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        var field = AntiforgeryField().Match(html);
        Assert.True(field.Success, "no antiforgery field on " + page);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("sgw_antiforgery=", StringComparison.Ordinal));
        return (WebUtility.HtmlDecode(field.Groups[1].Value), cookie.Split(';')[0]);
    }

    /// <summary>Posts the sign-in form; the response is not followed (303 on success).</summary>
    public static async Task<HttpResponseMessage> PostAsync(HttpClient client, string username, string password, string? code = null, string? returnUrl = null, bool withAntiforgery = true)
    {
        var fields = new List<KeyValuePair<string, string>>
        {
            new("Input.Username", username),
            new("Input.Password", password),
            new("Input.Code", code ?? ""),
        };
        if (returnUrl is not null)
        {
            fields.Add(new("ReturnUrl", returnUrl));
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/_gateway/support/login") { Content = new FormUrlEncodedContent(fields) };
        request.Headers.Add("Accept", BrowserAccept);
        if (withAntiforgery)
        {
            var (field, cookie) = await AntiforgeryAsync(client);
            fields.Add(new("__sgw_af", field));
            request.Content = new FormUrlEncodedContent(fields);
            request.Headers.Add("Cookie", cookie);
        }

        return await client.SendAsync(request);
    }

    /// <summary>The session cookie's value set by a response, or null.</summary>
    public static string? SessionCookie(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var cookies)
            ? cookies.FirstOrDefault(c => c.StartsWith("sgw_session=", StringComparison.Ordinal))
            : null;

    [GeneratedRegex("name=\"__sgw_af\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
