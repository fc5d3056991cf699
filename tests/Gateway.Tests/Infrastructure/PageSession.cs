using System.Net;
using System.Text.RegularExpressions;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A browser-like client of the self-service pages over plain HTTP: keeps the antiforgery and page
/// cookies by hand (the loopback client has no cookie container) and posts forms with the token.
/// </summary>
internal sealed partial class PageSession(HttpClient client)
{
    private readonly Dictionary<string, string> _cookies = new(StringComparer.Ordinal);

    public bool SignedIn => _cookies.ContainsKey("sgw_pages");

    /// <summary>The same browser (its cookies, copied) talking to another gateway instance.</summary>
    public PageSession On(HttpClient other)
    {
        var moved = new PageSession(other);
        foreach (var (name, value) in _cookies)
        {
            moved._cookies[name] = value;
        }

        return moved;
    }

    /// <summary>The antiforgery token of the form on <paramref name="formPage"/>.</summary>
    public async Task<string> AntiforgeryTokenAsync(string formPage)
    {
        using var page = await GetAsync(formPage);
        var html = await page.Content.ReadAsStringAsync();
        var field = AntiforgeryField().Match(html);
        Assert.True(field.Success, "no antiforgery field on " + formPage);
        return WebUtility.HtmlDecode(field.Groups[1].Value);
    }

    /// <summary>Posts <paramref name="fields"/> as they are (the caller brings any token).</summary>
    public async Task<HttpResponseMessage> PostAsync(string path, Dictionary<string, string> fields)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(fields) };
        return await SendAsync(request);
    }

    /// <summary>Signs in through the demo page as <paramref name="user"/>; asserts the 303.</summary>
    public async Task<PageSession> SignInAsync(string user)
    {
        using var response = await PostFormAsync("/_gateway/ui/signin", "/_gateway/ui/signin", new() { ["user"] = user });
        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        Assert.True(SignedIn, "no page cookie after signing in as " + user);
        return this;
    }

    public async Task<HttpResponseMessage> GetAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        return await SendAsync(request);
    }

    /// <summary>GETs <paramref name="formPage"/> for a token, then posts <paramref name="fields"/> to <paramref name="path"/>.</summary>
    public async Task<HttpResponseMessage> PostFormAsync(string path, string formPage, Dictionary<string, string> fields, bool withAntiforgery = true)
    {
        var all = new Dictionary<string, string>(fields, StringComparer.Ordinal);
        if (withAntiforgery)
        {
            all["__sgw_af"] = await AntiforgeryTokenAsync(formPage);
        }

        return await PostAsync(path, all);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
    {
        request.Headers.Add("Accept", SignInForm.BrowserAccept);
        if (_cookies.Count > 0)
        {
            request.Headers.Add("Cookie", string.Join("; ", _cookies.Select(c => $"{c.Key}={c.Value}")));
        }

        var response = await client.SendAsync(request);
        if (response.Headers.TryGetValues("Set-Cookie", out var set))
        {
            foreach (var cookie in set)
            {
                var pair = cookie.Split(';')[0];
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                var (name, value) = (pair[..eq], pair[(eq + 1)..]);
                if (value.Length == 0)
                {
                    _cookies.Remove(name);
                }
                else
                {
                    _cookies[name] = value;
                }
            }
        }

        return response;
    }

    [GeneratedRegex("name=\"__sgw_af\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
