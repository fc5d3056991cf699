using System.Net;
using System.Net.Http.Headers;
using Gateway.Tests.Infrastructure;
using OpenQA.Selenium;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Pages;

/// <summary>
/// The self-service pages in a real headless Chromium against the real gateway: a tenant user
/// enables support, a tenant admin ends a live support session and disables support for everyone,
/// the platform admin explains a request and sets an override. With
/// <c>GATEWAY_SCREENSHOTS=docs/ui</c> each page is saved as <c>pages-*.png</c>.
/// </summary>
public sealed class SelfServiceBrowserTests(SupportPagesEnvironment env, Browser browser) : IClassFixture<SupportPagesEnvironment>, IClassFixture<Browser>, IAsyncLifetime
{
    private int Port => env.Gateway.Port;

    public async Task InitializeAsync()
    {
        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", env.Ann);
        await env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/tenants/globex/support", env.Olivia, new { mode = "inherit" });
        await browser.ResetAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task John_SignsIn_EnablesSupportWithDenyDataOnly_AndSeesItActive()
    {
        browser.GoTo(Url("/_gateway/ui/"));
        // Not signed in: the sign-in page, remembering where to go back to.
        browser.WaitFor(d => d.Url.StartsWith(Url("/_gateway/ui/signin"), StringComparison.Ordinal));
        Assert.Equal("Sign in", browser.Driver.FindElement(By.TagName("h1")).Text);
        browser.Screenshot("pages-signin");
        SignInAs("john");
        browser.WaitFor(d => d.Url == Url("/_gateway/ui/"));
        Assert.Equal("inactive", Status().GetAttribute("data-state"));

        // Both isolations are ticked by default; john keeps data hidden and lets config changes through.
        var denyData = browser.Driver.FindElement(By.Id("Input_DenyData"));
        var denyConfig = browser.Driver.FindElement(By.Id("Input_DenyConfig"));
        Assert.True(denyData.Selected);
        Assert.True(denyConfig.Selected);
        browser.Driver.FindElement(By.Id("Input_Reason")).SendKeys("Export fails for invoice 2231");
        browser.Driver.FindElement(By.Id("Input_DurationHours")).SendKeys("8");
        browser.Driver.FindElement(By.CssSelector("label[for=Input_DenyConfig]")).Click();
        Assert.False(denyConfig.Selected);
        Submit(By.XPath("//button[text()='Enable support']"));

        browser.WaitFor(d => d.Url == Url("/_gateway/ui/?done=enabled"));
        Assert.Equal("active", Status().GetAttribute("data-state"));
        var box = browser.Driver.FindElement(By.CssSelector("[data-support-status]")).Text;
        Assert.Contains("Active until", box, StringComparison.Ordinal);
        Assert.Contains("(Europe/Berlin)", box, StringComparison.Ordinal);
        Assert.Contains("Hidden from support", box, StringComparison.Ordinal);
        Assert.Contains("Support may change it", box, StringComparison.Ordinal);
        Assert.Contains("You have one active support request.", browser.BodyText, StringComparison.Ordinal);
        browser.Screenshot("pages-support-access");
        browser.Screenshot("pages-support-access-390px", width: 390);

        // The API reads what the page did.
        var status = await env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", env.Ann);
        Assert.True(status.GetProperty("denyData").GetBoolean());
        Assert.False(status.GetProperty("denyConfig").GetBoolean());

        browser.GoTo(Url("/_gateway/ui/grants"));
        Assert.Contains("Export fails for invoice 2231", browser.BodyText, StringComparison.Ordinal);
        browser.Screenshot("pages-grants");

        // An admin page: a readable 403 page, not a stack trace or a bare status.
        browser.GoTo(Url("/_gateway/ui/sessions"));
        Assert.Equal("For tenant admins only", browser.Driver.FindElement(By.TagName("h1")).Text);
        browser.Screenshot("pages-forbidden");
    }

    [Fact]
    public async Task Ann_SeesJillsLiveSession_EndsIt_AndJillIsRefused_ThenDisablesSupportForEveryone()
    {
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { reason = "slow reports" }, 201);
        using var jillClient = env.Gateway.Client("acme.localhost");
        var (token, _, _) = await LoginAsync(jillClient, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        using (var first = await GetAsync(jillClient, "/api/echo/before", bearer))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        browser.GoTo(Url("/_gateway/ui/signin"));
        SignInAs("ann");
        browser.GoTo(Url("/_gateway/ui/sessions"));
        var row = browser.WaitFor(d => d.FindElement(By.CssSelector("tr[data-status=active]")));
        Assert.Contains("jill", row.Text, StringComparison.Ordinal);
        Assert.Contains("john", row.Text, StringComparison.Ordinal);
        Assert.Contains("live", row.Text, StringComparison.Ordinal);
        browser.Screenshot("pages-sessions");
        browser.Screenshot("pages-sessions-390px", width: 390);

        var list = browser.Driver.FindElement(By.TagName("html"));
        row.FindElement(By.TagName("a")).Click();
        browser.WaitUntilReplaced(list);
        browser.WaitFor(d => d.FindElement(By.TagName("h2")).Text == "jill acting as john");
        browser.Screenshot("pages-session");
        Submit(By.XPath("//button[text()='End session now']"));

        browser.WaitFor(d => d.Url.EndsWith("?done=ended", StringComparison.Ordinal));
        Assert.Contains("The session is ended", browser.BodyText, StringComparison.Ordinal);
        Assert.Empty(browser.Driver.FindElements(By.XPath("//button[text()='End session now']")));
        using (var after = await GetAsync(jillClient, "/api/echo/after", bearer))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        }

        // Disable for everyone: refused without the confirmation, done with it.
        browser.GoTo(Url("/_gateway/ui/"));
        Submit(By.XPath("//button[text()='Disable support for everyone']"), waitForNewPage: false);
        Assert.Equal("active", Status().GetAttribute("data-state")); // the browser's own check stops the form
        browser.Driver.FindElement(By.CssSelector("label[for=Confirm]")).Click();
        browser.Screenshot("pages-support-access-admin");
        Submit(By.XPath("//button[text()='Disable support for everyone']"));
        browser.WaitFor(d => d.Url == Url("/_gateway/ui/?done=disabled-all"));
        Assert.Equal("inactive", Status().GetAttribute("data-state"));
        var status = await env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", env.Ann);
        Assert.False(status.GetProperty("active").GetBoolean());
    }

    [Fact]
    public async Task SessionsList_RefreshesItself_WhenANewSessionStarts()
    {
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { }, 201);
        browser.GoTo(Url("/_gateway/ui/signin"));
        SignInAs("ann");
        browser.GoTo(Url("/_gateway/ui/sessions"));
        var page = browser.Driver.FindElement(By.TagName("html"));
        var before = browser.Driver.FindElements(By.CssSelector("tr[data-session]")).Select(r => r.GetAttribute("data-session")).ToHashSet();

        using var jillClient = env.Gateway.Client("acme.localhost");
        _ = await LoginAsync(jillClient, "jill$", JillPassword);

        // The same-origin script (allowed by the page's CSP) swaps in the new list: no navigation.
        var added = browser.WaitFor(d => d.FindElements(By.CssSelector("tr[data-session]")).FirstOrDefault(r => !before.Contains(r.GetAttribute("data-session"))), TimeSpan.FromSeconds(20));
        Assert.Contains("ann", added!.Text, StringComparison.Ordinal); // jill$ acts as the designated admin
        Assert.Equal(page, browser.Driver.FindElement(By.TagName("html"))); // still the same document
    }

    [Fact]
    public async Task Ann_SeesTheTenantsWebhookEndpoints()
    {
        var created = await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/webhooks", env.Ann,
            new { url = "http://127.0.0.1:9/support-events", events = new[] { "grant.created", "grant.revoked" }, description = "Ops chat bridge" }, 201);
        try
        {
            browser.GoTo(Url("/_gateway/ui/signin"));
            SignInAs("ann");
            browser.GoTo(Url("/_gateway/ui/notifications"));

            Assert.Contains("http://127.0.0.1:9/support-events", browser.BodyText, StringComparison.Ordinal);
            Assert.Contains("Ops chat bridge", browser.BodyText, StringComparison.Ordinal);
            browser.Screenshot("pages-notifications");
        }
        finally
        {
            using var removed = await env.Api.SendAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/webhooks/{created.GetProperty("id").GetString()}", env.Ann);
        }
    }

    [Fact]
    public async Task Olivia_ExplainsARequest_AndSetsAnOverride()
    {
        browser.GoTo(Url("/_gateway/ui/signin"));
        SignInAs("olivia");
        browser.WaitFor(d => d.Url == Url("/_gateway/ui/platform"));

        browser.GoTo(Url("/_gateway/ui/platform/explain"));
        var path = browser.Driver.FindElement(By.Id("Input_Path"));
        path.Clear();
        path.SendKeys("/api/orders/7");
        Choose("Input_Isolation", "denyData");
        Submit(By.XPath("//button[text()='Explain']"));
        var answer = browser.WaitFor(d => d.FindElement(By.CssSelector("[data-explain]")));
        Assert.Equal("false", answer.FindElement(By.CssSelector("[data-allowed]")).GetAttribute("data-allowed"));
        Assert.Equal("data", answer.FindElement(By.CssSelector("[data-class]")).Text);
        Assert.Contains("support.isolation.data", answer.FindElement(By.CssSelector("[data-reason]")).Text, StringComparison.Ordinal);
        browser.Screenshot("pages-explain");

        browser.GoTo(Url("/_gateway/ui/platform"));
        Choose("Override_Tenant", "globex");
        Choose("Override_Mode", "disabled");
        Submit(By.XPath("//button[text()='Save override']"));
        browser.WaitFor(d => d.Url == Url("/_gateway/ui/platform?done=override"));
        Assert.Contains("disabled", browser.Driver.FindElement(By.CssSelector("[data-tenant=globex]")).Text, StringComparison.Ordinal);
        browser.Screenshot("pages-platform");

        browser.GoTo(Url("/_gateway/ui/platform/sessions"));
        browser.WaitFor(d => d.FindElement(By.CssSelector("h1")).Text == "All support sessions");
        browser.Screenshot("pages-platform-sessions");

        var status = await env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/globex/support/status", env.Olivia);
        Assert.Equal("platform-override-disabled", status.GetProperty("inactiveReason").GetString());
    }

    [Fact]
    public async Task SupportAccessComponent_InTheSampleAppsHeader_EnablesAndDisablesSupport()
    {
        browser.GoTo(Url("/"));
        var component = browser.Driver.FindElement(By.TagName("support-access"));
        // No token given: it links to the gateway's pages.
        browser.WaitFor(_ => component.GetShadowRoot().FindElement(By.CssSelector("a")).Text == "Manage");

        // The host app gives its signed-in user's token (here: john's, as the app would).
        ((IJavaScriptExecutor)browser.Driver).ExecuteScript("arguments[0].setAttribute('token', arguments[1]);", component, env.John);
        var state = browser.WaitFor(_ => component.GetShadowRoot().FindElement(By.CssSelector("[data-state]")));
        Assert.Equal("inactive", state.GetAttribute("data-state"));
        component.GetShadowRoot().FindElement(By.CssSelector("button")).Click();

        browser.WaitFor(_ => component.GetShadowRoot().FindElement(By.CssSelector("[data-state]")).GetAttribute("data-state") == "active");
        var status = await env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", env.Ann);
        Assert.True(status.GetProperty("active").GetBoolean());
        Assert.Equal("Disable support", component.GetShadowRoot().FindElement(By.CssSelector("button")).Text);
        browser.Screenshot("pages-embed");

        component.GetShadowRoot().FindElement(By.CssSelector("button")).Click();
        browser.WaitFor(_ => component.GetShadowRoot().FindElement(By.CssSelector("[data-state]")).GetAttribute("data-state") == "inactive");
        status = await env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", env.Ann);
        Assert.False(status.GetProperty("active").GetBoolean());
    }

    private IWebElement Status() => browser.Driver.FindElement(By.CssSelector("[data-support-status] [data-state]"));

    /// <summary>Picks an option of a select element as a user does: by clicking it.</summary>
    private void Choose(string selectId, string value) =>
        browser.Driver.FindElement(By.XPath($"//select[@id='{selectId}']/option[@value='{value}' or text()='{value}']")).Click();

    private void SignInAs(string user)
    {
        var page = browser.Driver.FindElement(By.TagName("html"));
        browser.Driver.FindElement(By.CssSelector($"button[data-user='{user}']")).Click();
        browser.WaitUntilReplaced(page);
    }

    private void Submit(By button, bool waitForNewPage = true)
    {
        var page = browser.Driver.FindElement(By.TagName("html"));
        browser.Driver.FindElement(button).Click();
        if (waitForNewPage)
        {
            browser.WaitUntilReplaced(page);
        }
    }

    private string Url(string pathAndQuery) => Browser.Url(Port, "acme.localhost", pathAndQuery);
}
