using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Pages;

/// <summary>One gateway for the page tests: the sample apps, the in-memory store, management tokens.</summary>
public sealed class SupportPagesEnvironment : TestEnvironment
{
    public SupportPagesEnvironment()
    {
        MintTokens = true;
        ExtraArgs = ["--Support:FailedLoginsPerClient=1000", "--Support:FailedLoginsPerUserAndClient=1000", "--Support:UserBackoffAfterFailures=1000"];
    }
}

/// <summary>The sign-in and sign-out pages over HTTP (forms, headers, redirects); the browser tests drive the same pages in Chromium.</summary>
public sealed class SignInPageTests(SupportPagesEnvironment env) : IClassFixture<SupportPagesEnvironment>, IAsyncLifetime
{
    private readonly HttpClient _acme = env.Gateway.Client("acme.localhost");

    public async Task InitializeAsync() => await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", env.Ann);

    public Task DisposeAsync()
    {
        _acme.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task LoginPage_OnATenantHost_IsAFormWithLabelledFields_AndStrictHeaders()
    {
        using var response = await _acme.GetAsync("/_gateway/support/login");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.Contains("no-store", response.Headers.CacheControl!.ToString(), StringComparison.Ordinal);
        foreach (var id in new[] { "Input_Username", "Input_Password", "Input_Code" })
        {
            Assert.Contains($"<label for=\"{id}\">", html, StringComparison.Ordinal);
            Assert.Contains($"id=\"{id}\"", html, StringComparison.Ordinal);
        }

        Assert.Contains("Sign in to <strong>acme</strong>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("style=", html, StringComparison.OrdinalIgnoreCase);
        // The antiforgery cookie is the gateway's own, sent to its pages only, never to the tenant app.
        var antiforgery = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("sgw_antiforgery=", StringComparison.Ordinal));
        Assert.Contains("path=/_gateway;", antiforgery, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task FormSignIn_WithAGrant_SetsAnHttpOnlyStrictCookie_AndRedirectsToTheReturnUrl()
    {
        await GrantAsync(new { denyData = false });

        using var response = await SignInForm.PostAsync(_acme, "jill$john", JillPassword, returnUrl: "/api/echo/after?x=1");

        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        Assert.Equal("/api/echo/after?x=1", response.Headers.Location?.OriginalString);
        var cookie = SignInForm.SessionCookie(response);
        Assert.NotNull(cookie);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        // Plain http outside production: not Secure, or the browser would drop it (Support:CookieSecure).
        Assert.DoesNotContain("secure", cookie, StringComparison.OrdinalIgnoreCase);

        var token = cookie.Split(';')[0]["sgw_session=".Length..];
        var echo = await EchoAsync(_acme, null, r => r.Headers.Add("Cookie", $"sgw_session={token}"));
        Assert.Equal("john", Header(echo, "X-Gateway-User"));
        Assert.Equal("jill", Header(echo, "X-Gateway-Support-User"));
    }

    [Fact]
    public async Task FormPost_WithoutTheAntiforgeryToken_SaysTheFormExpired_AndSetsNoSession()
    {
        await GrantAsync(new { });

        using var response = await SignInForm.PostAsync(_acme, "jill$john", JillPassword, withAntiforgery: false);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("The form expired", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(SignInForm.SessionCookie(response));
    }

    [Theory]
    [InlineData("jill$john", "wrong-password", 401, "support.login.invalid", "The login name or password is wrong.")]
    [InlineData("sam$john", SamPassword, 403, "support.not_permitted", "may not support acme")]
    [InlineData("jill$john", JillPassword, 403, "support.no_grant", "A user of acme can enable support in the Support access page or their user menu")]
    [InlineData("globex/jill$john", JillPassword, 400, "support.login.tenant_mismatch", "not the tenant of this address")]
    [InlineData("jill", JillPassword, 400, "support.login.malformed", "jill$john")]
    public async Task FormSignIn_Refusals_AreWordsWithTheStatusAndCodeOfTheApi(string user, string password, int status, string code, string words)
    {
        using var response = await SignInForm.PostAsync(_acme, user, password);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Contains($"<code>{code}</code>", html, StringComparison.Ordinal);
        Assert.Contains(System.Net.WebUtility.HtmlEncode(words), html, StringComparison.Ordinal);
        Assert.Null(SignInForm.SessionCookie(response));
        // The name typed is kept; the password never comes back.
        Assert.DoesNotContain(password, html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("//evil.example")]
    [InlineData("/\\evil.example")]
    [InlineData("https://evil.example/")]
    [InlineData("%2F%2Fevil.example")]
    [InlineData("/%5Cevil.example")]
    [InlineData("/%2F/evil.example")]
    [InlineData("/%252F%252Fevil.example")]
    [InlineData("javascript:alert(1)")]
    [InlineData("/\tjavascript:alert(1)")]
    [InlineData("\\\\evil.example")]
    [InlineData("~/x")]
    [InlineData("http:/evil.example")]
    [InlineData("/_gateway/support/logout")]
    public async Task FormSignIn_ReturnUrlElsewhere_GoesToTheHostsRoot(string returnUrl)
    {
        await GrantAsync(new { });

        using var response = await SignInForm.PostAsync(_acme, "jill$john", JillPassword, returnUrl: returnUrl);

        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        Assert.Equal("/", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task JsonLogin_OnTheSamePath_StaysAnApi()
    {
        await GrantAsync(new { });

        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        Assert.False(string.IsNullOrEmpty(token));

        using var text = await _acme.PostAsync("/_gateway/support/login", new StringContent("username=jill", Encoding.UTF8, "text/plain"));
        Assert.Equal("request.unsupported_media_type", await ManagementClient.ProblemCodeAsync(text, 415));
    }

    [Fact]
    public async Task SignOutPage_GetAsksFirst_PostEndsTheSessionEverywhere_AndClearsTheCookie()
    {
        await GrantAsync(new { });
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        var session = $"sgw_session={token}";

        using (var get = new HttpRequestMessage(HttpMethod.Get, "/_gateway/support/logout"))
        {
            get.Headers.Add("Cookie", session);
            using var page = await _acme.SendAsync(get);
            var html = await page.Content.ReadAsStringAsync();
            Assert.Contains("jill acting as john", html, StringComparison.Ordinal);
            Assert.Contains("<button type=\"submit\"", html, StringComparison.Ordinal);
        }

        // A GET ends nothing.
        await EchoAsync(_acme, new AuthenticationHeaderValue("Bearer", token));

        var (field, antiforgery) = await SignInForm.AntiforgeryAsync(_acme, "/_gateway/support/logout");
        using var post = new HttpRequestMessage(HttpMethod.Post, "/_gateway/support/logout") { Content = new FormUrlEncodedContent([new("__sgw_af", field)]) };
        post.Headers.Add("Cookie", $"{antiforgery}; {session}");
        using var response = await _acme.SendAsync(post);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("You are signed out", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var cleared = SignInForm.SessionCookie(response);
        Assert.NotNull(cleared);
        Assert.Contains("max-age=0", cleared, StringComparison.OrdinalIgnoreCase);
        using var after = await GetAsync(_acme, "/api/echo/x", new AuthenticationHeaderValue("Bearer", token));
        Assert.Equal("support.session.ended", await ManagementClient.ProblemCodeAsync(after, 401));
    }

    private Task GrantAsync(object body) => env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, body, 201);
}
