using System.Net;
using System.Security.Cryptography;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Pages;

/// <summary>
/// The self-service pages (<c>/_gateway/ui</c>) over HTTP: sign-in, who may open what, the
/// antiforgery check, the security headers, and that the pages change what the API reads.
/// </summary>
public sealed class SelfServicePageTests(SupportPagesEnvironment env) : IClassFixture<SupportPagesEnvironment>, IAsyncLifetime
{
    private const string UiPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    private readonly HttpClient _acme = env.Gateway.Client("acme.localhost");

    public async Task InitializeAsync() => await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", env.Ann);

    public Task DisposeAsync()
    {
        _acme.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task NotSignedIn_IsSentToTheSignInPage_WithTheWayBack()
    {
        using var response = await _acme.GetAsync("/_gateway/ui/sessions");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/_gateway/ui/signin?returnUrl=%2F_gateway%2Fui%2Fsessions", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task SignInPage_ListsTheHostsDemoUsers_WithStrictHeaders_AndNoInlineScriptOrStyle()
    {
        using var response = await _acme.GetAsync("/_gateway/ui/signin");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(UiPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Contains("Sign in as john", html, StringComparison.Ordinal);
        Assert.Contains("Sign in as ann", html, StringComparison.Ordinal);
        Assert.Contains("Sign in as olivia", html, StringComparison.Ordinal);
        Assert.DoesNotContain("Sign in as gina", html, StringComparison.Ordinal); // globex's admin, not this host's
        Assert.DoesNotContain("<script>", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("style=", html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task SignOut_AlwaysForgetsThePageCookie_EvenWithoutAFormToken()
    {
        var john = await new PageSession(_acme).SignInAsync("john");

        // The layout's sign-out form, as a browser posts it; signing out reduces access, so it needs no token.
        using var signedOut = await john.PostAsync("/_gateway/ui/signout", []);

        Assert.Equal(HttpStatusCode.SeeOther, signedOut.StatusCode);
        Assert.Equal("/_gateway/ui/signin", signedOut.Headers.Location?.OriginalString);
        Assert.False(john.SignedIn, "the page cookie was not cleared");
        using var after = await john.GetAsync("/_gateway/ui/");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
    }

    [Theory]
    [InlineData("/_gateway/ui/platform/explain")]
    [InlineData("/_gateway/ui/platform/sessions")]
    [InlineData("/_gateway/ui/grants")]
    [InlineData("/_gateway/ui/notifications")]
    [InlineData("/_gateway/ui/?handler=Nonesuch")]
    public async Task APostWithoutAHandler_RendersNothing_AndNamesNoTenant(string path)
    {
        // Razor Pages would render a page with no handler for the method without running the
        // handler that admits the user: the platform pages list every tenant in their forms.
        using var form = new FormUrlEncodedContent([]);
        using var response = await _acme.PostAsync(path, form);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("No such action", html, StringComparison.Ordinal);
        Assert.DoesNotContain("globex", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "api%2Forders", "the path starts with /")]
    [InlineData("BREW", "%2Fapi%2Forders", "Choose a tenant, a method")]
    [InlineData("GET", "", "Tenant, method and path are required.")]
    public async Task PolicyExplainPage_RefusesWhatTheApiRefuses_InWords(string method, string path, string words)
    {
        var olivia = await new PageSession(_acme).SignInAsync("olivia");

        using var response = await olivia.GetAsync($"/_gateway/ui/platform/explain?explain=1&Input.Tenant=acme&Input.Method={method}&Input.Path={path}&Input.Isolation=none");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(System.Net.WebUtility.HtmlEncode(words), await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PolicyExplainPage_TakesAPathAsLongAsTheApiDoes()
    {
        var olivia = await new PageSession(_acme).SignInAsync("olivia");
        var longPath = "%2Fapi%2Forders%2F" + new string('a', 4000);

        using var response = await olivia.GetAsync($"/_gateway/ui/platform/explain?explain=1&Input.Tenant=acme&Input.Method=GET&Input.Path={longPath}&Input.Isolation=none");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("/_gateway/ui/../../api/orders", "/_gateway/ui/")]
    [InlineData("/_gateway/ui/%2e%2e/%2e%2e/api/orders", "/_gateway/ui/")]
    [InlineData("/_gateway/ui/./sessions", "/_gateway/ui/")]
    [InlineData("/_gateway/ui/%73ignin", "/_gateway/ui/")]
    [InlineData("/_gateway/ui/sessions?x=..", "/_gateway/ui/sessions?x=..")]
    [InlineData("/_gateway/ui/sessions", "/_gateway/ui/sessions")]
    public void ReturnUrl_StaysOnAPageOfTheUi(string candidate, string expected) =>
        Assert.Equal(expected, Gateway.Pages.Ui.SignInModel.Next(candidate, _ => true));

    [Fact]
    public async Task SignIn_SetsAnHttpOnlyLaxCookie_ForTheUiPathOnly()
    {
        var session = new PageSession(_acme);
        using var response = await session.PostFormAsync("/_gateway/ui/signin", "/_gateway/ui/signin", new() { ["user"] = "john" });

        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        Assert.Equal("/_gateway/ui/", response.Headers.Location?.OriginalString);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("sgw_pages=", StringComparison.Ordinal));
        Assert.Contains("path=/_gateway/ui", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secure", cookie, StringComparison.OrdinalIgnoreCase); // plain http here
    }

    [Fact]
    public async Task FormPost_WithoutTheAntiforgeryToken_IsRefused_AndNothingChanges()
    {
        var john = await new PageSession(_acme).SignInAsync("john");

        using var response = await john.PostFormAsync("/_gateway/ui?handler=Enable", "/_gateway/ui/", new() { ["Input.DenyData"] = "true" }, withAntiforgery: false);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("The form expired", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.False(await ActiveAsync());
    }

    [Fact]
    public async Task SignInPost_WithoutTheAntiforgeryToken_SetsNoCookie()
    {
        var session = new PageSession(_acme);
        using var response = await session.PostFormAsync("/_gateway/ui/signin", "/_gateway/ui/signin", new() { ["user"] = "ann" }, withAntiforgery: false);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(session.SignedIn);
    }

    [Fact]
    public async Task PlatformSessions_ListEveryTenantsSessions_AndFilterThem()
    {
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { }, 201);
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/globex/support/grants", env.Gina, new { }, 201);
        using (var globex = env.Gateway.Client("globex.localhost"))
        {
            await EchoAsync(globex, Basic("sam$gina", SamPassword));
        }

        await EchoAsync(_acme, Basic("jill$john", JillPassword));
        var olivia = await new PageSession(_acme).SignInAsync("olivia");

        using var all = await olivia.GetAsync("/_gateway/ui/platform/sessions");
        var html = await all.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, all.StatusCode);
        Assert.Contains("data-tenant=\"acme\"", html, StringComparison.Ordinal);
        Assert.Contains("data-tenant=\"globex\"", html, StringComparison.Ordinal);

        using var onlyGlobex = await olivia.GetAsync("/_gateway/ui/platform/sessions?tenant=globex&status=active&supportUser=sam");
        html = await onlyGlobex.Content.ReadAsStringAsync();
        Assert.Contains("data-tenant=\"globex\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-tenant=\"acme\"", html, StringComparison.Ordinal);

        using var nobody = await olivia.GetAsync("/_gateway/ui/platform/sessions?supportUser=nobody");
        Assert.Contains("No support sessions match.", await nobody.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var bad = await olivia.GetAsync("/_gateway/ui/platform/sessions?tenant=initech");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("Check the filters", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/globex/support/grants", env.Gina);
    }

    [Fact]
    public async Task TenantUser_GetsAReadable403_OnTheAdminPages()
    {
        var john = await new PageSession(_acme).SignInAsync("john");

        foreach (var page in new[] { "/_gateway/ui/sessions", "/_gateway/ui/notifications", "/_gateway/ui/platform", "/_gateway/ui/platform/sessions" })
        {
            using var response = await john.GetAsync(page);
            var html = await response.Content.ReadAsStringAsync();

            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains(page.Contains("/platform", StringComparison.Ordinal) ? "For platform admins only" : "For tenant admins only", html, StringComparison.Ordinal);
            Assert.Contains("management.forbidden", html, StringComparison.Ordinal);
            Assert.Equal(UiPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
        }
    }

    [Fact]
    public async Task EnableSupport_OnThePage_IsWhatTheApiReads_WithTheChosenIsolation()
    {
        var john = await new PageSession(_acme).SignInAsync("john");

        using var response = await john.PostFormAsync("/_gateway/ui?handler=Enable", "/_gateway/ui/", new()
        {
            ["Input.Reason"] = "invoice export",
            ["Input.DurationHours"] = "4",
            ["Input.DenyData"] = "true",
            ["Input.DenyConfig"] = "false",
        });

        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        var grants = await env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants", env.Ann);
        var grant = grants.GetProperty("grants").EnumerateArray().Single();
        Assert.Equal("john", grant.GetProperty("createdBy").GetString());
        Assert.Equal("invoice export", grant.GetProperty("reason").GetString());
        Assert.True(grant.GetProperty("denyData").GetBoolean());
        Assert.False(grant.GetProperty("denyConfig").GetBoolean());

        using var page = await john.GetAsync("/_gateway/ui/");
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("data-state=\"active\"", html, StringComparison.Ordinal);
        Assert.Contains("Support access is enabled.", await (await john.GetAsync("/_gateway/ui/?done=enabled")).Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAdmin_EnablesSupportForAUser_NamedAsGrantor_WhileATenantUserIsNotOfferedTheField()
    {
        var ann = await new PageSession(_acme).SignInAsync("ann");
        using (var page = await ann.GetAsync("/_gateway/ui/"))
        {
            Assert.Contains("name=\"Input.Grantor\"", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var response = await ann.PostFormAsync("/_gateway/ui?handler=Enable", "/_gateway/ui/", new()
        {
            ["Input.Grantor"] = "john",
            ["Input.DurationHours"] = "2",
            ["Input.DenyData"] = "true",
            ["Input.DenyConfig"] = "true",
        });

        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        var grants = await env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants", env.Ann);
        var grant = grants.GetProperty("grants").EnumerateArray().Single();
        Assert.Equal("ann", grant.GetProperty("createdBy").GetString());
        Assert.Equal("john", grant.GetProperty("grantor").GetString());

        var john = await new PageSession(_acme).SignInAsync("john");
        using var johns = await john.GetAsync("/_gateway/ui/");
        Assert.DoesNotContain("Input.Grantor", await johns.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheIsolationBoxes_StartAsThePlatformsDefaults()
    {
        var john = await new PageSession(_acme).SignInAsync("john");
        static bool Checked(string html, string name) =>
            System.Text.RegularExpressions.Regex.Matches(html, "<input[^>]*>", System.Text.RegularExpressions.RegexOptions.None, TimeSpan.FromSeconds(1))
                .Single(m => m.Value.Contains("type=\"checkbox\"", StringComparison.Ordinal) && m.Value.Contains($"name=\"{name}\"", StringComparison.Ordinal))
                .Value.Contains("checked", StringComparison.Ordinal);

        using (var page = await john.GetAsync("/_gateway/ui/"))
        {
            var html = await page.Content.ReadAsStringAsync();
            Assert.True(Checked(html, "Input.DenyData"));
            Assert.True(Checked(html, "Input.DenyConfig"));
        }

        await env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/support", env.Olivia, new { enabledForAllTenants = false, requestDurationHours = 24, defaultDenyData = false, defaultDenyConfig = true });
        try
        {
            using var page = await john.GetAsync("/_gateway/ui/");
            var html = await page.Content.ReadAsStringAsync();
            Assert.False(Checked(html, "Input.DenyData"));
            Assert.True(Checked(html, "Input.DenyConfig"));
        }
        finally
        {
            await env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/support", env.Olivia, new { enabledForAllTenants = false, requestDurationHours = 24, defaultDenyData = true, defaultDenyConfig = true });
        }
    }

    [Fact]
    public async Task ApiRefusal_IsShownInWords()
    {
        var john = await new PageSession(_acme).SignInAsync("john");

        using var response = await john.PostFormAsync("/_gateway/ui?handler=Enable", "/_gateway/ui/", new()
        {
            ["Input.DurationHours"] = "4",
            ["Input.CloseDate"] = "2099-01-01",
        });
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("durationHours, closeDate: give one or the other.", html, StringComparison.Ordinal);
        Assert.Contains("<code>request.invalid</code>", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DisableForEveryone_NeedsTheConfirmation_AndIsForAdminsOnly()
    {
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { }, 201);
        var john = await new PageSession(_acme).SignInAsync("john");
        var ann = await new PageSession(_acme).SignInAsync("ann");

        using var byJohn = await john.PostFormAsync("/_gateway/ui?handler=DisableAll", "/_gateway/ui/", new() { ["Confirm"] = "true" });
        using var unconfirmed = await ann.PostFormAsync("/_gateway/ui?handler=DisableAll", "/_gateway/ui/", new() { ["Confirm"] = "false" });
        Assert.Equal(HttpStatusCode.Forbidden, byJohn.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unconfirmed.StatusCode);
        Assert.True(await ActiveAsync());

        using var confirmed = await ann.PostFormAsync("/_gateway/ui?handler=DisableAll", "/_gateway/ui/", new() { ["Confirm"] = "true" });
        Assert.Equal(HttpStatusCode.SeeOther, confirmed.StatusCode);
        Assert.False(await ActiveAsync());
    }

    [Fact]
    public async Task LiveRefreshScript_IsASameOriginFile()
    {
        using var response = await _acme.GetAsync("/_gateway/assets/live-refresh.js");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/javascript", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("[data-live]", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DemoSignIn_IsRefused_InProduction()
    {
        using var config = new TempConfigDirectory();
        config.WriteSupportUsers(("ops-admin", "a-fresh-password-for-this-test"));
        await using var gateway = await GatewayHost.StartAsync(config, new Dictionary<string, Uri>(), ProductionArgs.Create());
        using var client = gateway.Client("acme.localhost");

        using var page = await client.GetAsync("/_gateway/ui/signin");
        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Forbidden, page.StatusCode);
        Assert.Contains("Demo sign-in is off in production", html, StringComparison.Ordinal);
        // No issuer has a pages client here: no OIDC button, and the page says which setting offers one.
        Assert.Contains("Management:Issuers:{name}:PagesClientId", html, StringComparison.Ordinal);
        Assert.DoesNotContain("Sign in with", html, StringComparison.Ordinal);
        Assert.DoesNotContain("Sign in as", html, StringComparison.Ordinal);

        // A post signs nobody in either.
        var session = new PageSession(client);
        using var post = await session.PostFormAsync("/_gateway/ui/signin", "/_gateway/ui/signin", new() { ["user"] = "ann" }, withAntiforgery: false);
        Assert.NotEqual(HttpStatusCode.SeeOther, post.StatusCode);
        Assert.False(session.SignedIn);
    }

    [Theory]
    [InlineData("ann", "/_gateway/ui/")]
    [InlineData("ann", "/_gateway/ui/grants")]
    [InlineData("ann", "/_gateway/ui/sessions")]
    [InlineData("ann", "/_gateway/ui/notifications")]
    [InlineData("olivia", "/_gateway/ui/platform")]
    [InlineData("olivia", "/_gateway/ui/platform/sessions")]
    [InlineData("olivia", "/_gateway/ui/platform/explain?explain=1&Input.Tenant=acme&Input.Method=GET&Input.Path=%2Fapi%2Forders&Input.Isolation=none")]
    public async Task EveryPage_HasTheStrictPolicy_NoInlineScriptOrStyle_AndALabelForEveryInput(string user, string path)
    {
        var session = await new PageSession(_acme).SignInAsync(user);

        using var response = await session.GetAsync(path);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(UiPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Contains("no-store", response.Headers.CacheControl!.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("style=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<style", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch("<[a-zA-Z][^>]*\\son[a-z]+\\s*=", html); // no event-handler attributes
        foreach (System.Text.RegularExpressions.Match script in System.Text.RegularExpressions.Regex.Matches(html, "<script[^>]*>"))
        {
            Assert.Contains("src=\"/_gateway/assets/", script.Value, StringComparison.Ordinal);
        }

        foreach (System.Text.RegularExpressions.Match field in System.Text.RegularExpressions.Regex.Matches(html, "<(input|select)(?![^>]*type=\"hidden\")[^>]*>"))
        {
            var id = System.Text.RegularExpressions.Regex.Match(field.Value, "id=\"([^\"]+)\"");
            Assert.True(id.Success, "an input without an id: " + field.Value);
            Assert.Contains($"<label for=\"{id.Groups[1].Value}\"", html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task UnknownSession_IsA404Page_AndAGarbageIdToo()
    {
        var ann = await new PageSession(_acme).SignInAsync("ann");

        foreach (var id in new[] { "s_00000000000000000000000000000000", "..%2F..%2Fetc" })
        {
            using var response = await ann.GetAsync("/_gateway/ui/sessions/" + id);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("No such session", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    private async Task<bool> ActiveAsync()
    {
        var status = await env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", env.Ann);
        return status.GetProperty("active").GetBoolean();
    }
}
