using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Authentication;
using Gateway.Cli;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using OpenQA.Selenium;
using OtpNet;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Pages;

/// <summary>
/// Support engineers in a real headless Chromium against the real gateway and sample apps: sign in,
/// the banner, HTML refusals, revocation, sign-out, two-step sign-in, open redirects, keyboard use.
/// One browser for the class. With <c>GATEWAY_SCREENSHOTS=docs/ui</c> each page state is saved as a PNG.
/// </summary>
public sealed class SupportBrowserTests(SupportPagesEnvironment env, Browser browser) : IClassFixture<SupportPagesEnvironment>, IClassFixture<Browser>, IAsyncLifetime
{
    private const string Mia = "mia";
    private const string MiaPassword = "mia-test-password";
    private static readonly SemaphoreSlim Enrolment = new(1, 1);

    private int Port => env.Gateway.Port;

    public async Task InitializeAsync()
    {
        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", env.Ann);
        await browser.ResetAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task SignIn_AsJillJohn_LandsOnTheAppPage_WithTheBanner_AndTheAppSeesJohnActedByJill()
    {
        await GrantAsync(new { denyData = false });

        browser.GoTo(Url("/_gateway/support/login?returnUrl=%2F"));
        Assert.Equal("Support sign-in", browser.Driver.FindElement(By.TagName("h1")).Text);
        browser.Screenshot("sign-in");
        browser.Screenshot("sign-in-390px", width: 390);
        SignIn("jill$john", JillPassword);

        browser.WaitFor(d => d.Url == Url("/"));
        Assert.Contains("Sample tenant app: acme", browser.BodyText, StringComparison.Ordinal);
        var banner = browser.Driver.FindElement(By.CssSelector("[data-support-banner]"));
        Assert.True(banner.Displayed);
        Assert.StartsWith("Support session: jill acting as john — ends ", banner.Text, StringComparison.Ordinal);
        Assert.EndsWith("— sign out", banner.Text, StringComparison.Ordinal);
        // The gateway's stylesheet reached the page: the bar stays on top while scrolling.
        Assert.Equal("sticky", banner.GetCssValue("position"));
        browser.Screenshot("banner");
        Assert.NotNull(browser.Cookie("sgw_session"));

        browser.GoTo(Url("/api/echo/x"));
        using var echo = JsonDocument.Parse(browser.BodyText);
        Assert.Equal("john", Header(echo.RootElement, "X-Gateway-User"));
        Assert.Equal("jill", Header(echo.RootElement, "X-Gateway-Support-User"));
        Assert.Null(Header(echo.RootElement, "Cookie")); // the session cookie never reaches the app
    }

    [Fact]
    public async Task DataPage_UnderDenyData_ShowsTheHtmlRefusal()
    {
        await GrantAsync(new { denyData = true });
        SignInAt("/", "jill$john", JillPassword);

        browser.GoTo(Url("/api/orders"));

        Assert.Equal("Hidden from support", browser.Driver.FindElement(By.TagName("h1")).Text);
        Assert.Contains("This page holds acme's records; the tenant's grant hides them from support.", browser.BodyText, StringComparison.Ordinal);
        Assert.Contains("support.isolation.data", browser.BodyText, StringComparison.Ordinal);
        browser.Screenshot("refusal-isolation-data");
    }

    [Fact]
    public async Task RevokeAll_ByTheTenantAdmin_TheNextNavigationSaysSupportAccessEnded()
    {
        await GrantAsync(new { });
        SignInAt("/", "jill$john", JillPassword);
        browser.WaitFor(d => d.FindElements(By.CssSelector("[data-support-banner]")).Count == 1);

        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", env.Ann);
        browser.GoTo(Url("/api/echo/after-revoke"));

        Assert.Equal("Support access ended", browser.Driver.FindElement(By.TagName("h1")).Text);
        Assert.Contains("A user of acme can enable support in the Support access page or their user menu", browser.BodyText, StringComparison.Ordinal);
        Assert.Contains("support.no_grant", browser.BodyText, StringComparison.Ordinal);
        browser.Screenshot("refusal-no-grant");

        // Its "sign in again" link leads back to the sign-in page, remembering where the engineer was.
        var refusal = browser.Driver.FindElement(By.TagName("html"));
        browser.Driver.FindElement(By.LinkText("Sign in again")).Click();
        browser.WaitUntilReplaced(refusal);
        browser.WaitFor(d => d.Url.StartsWith(Url("/_gateway/support/login"), StringComparison.Ordinal));
        Assert.Equal("/api/echo/after-revoke", browser.Driver.FindElement(By.Id("ReturnUrl")).GetAttribute("value"));
    }

    [Fact]
    public async Task SignOut_FromTheBanner_EndsTheSession_AndClearsTheCookie()
    {
        await GrantAsync(new { });
        SignInAt("/", "jill$john", JillPassword);
        browser.WaitFor(d => d.FindElements(By.CssSelector("[data-support-banner]")).Count == 1);

        var app = browser.Driver.FindElement(By.TagName("html"));
        browser.Driver.FindElement(By.LinkText("sign out")).Click();
        browser.WaitUntilReplaced(app);
        browser.WaitFor(d => d.Url == Url("/_gateway/support/logout"));
        Assert.Contains("End the support session jill acting as john in acme?", browser.BodyText, StringComparison.Ordinal);
        browser.Screenshot("sign-out-confirm");
        var confirm = browser.Driver.FindElement(By.TagName("html"));
        browser.Driver.FindElement(By.CssSelector("button[type=submit]")).Click();
        browser.WaitUntilReplaced(confirm);

        browser.WaitFor(d => d.FindElement(By.TagName("h1")).Text == "You are signed out");
        browser.Screenshot("signed-out");
        Assert.Null(browser.Cookie("sgw_session"));

        // Without the session the browser is an ordinary visitor: no banner, no identity for the app.
        browser.GoTo(Url("/"));
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("[data-support-banner]")));
    }

    [Fact]
    public async Task Banner_IsAbsentForOrdinaryUsers()
    {
        await GrantAsync(new { });

        browser.GoTo(Url("/"));

        Assert.Contains("Sample tenant app: acme", browser.BodyText, StringComparison.Ordinal);
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("[data-support-banner]")));
        Assert.DoesNotContain("banner.css", browser.Driver.PageSource, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongPassword_AndNoGrant_AreSaidOnTheSignInPage()
    {
        browser.GoTo(Url("/_gateway/support/login"));
        SignIn("jill$john", "not-the-password");
        browser.WaitFor(d => d.FindElements(By.CssSelector("[role=alert]")).Count == 1);
        Assert.Contains("The login name or password is wrong.", browser.BodyText, StringComparison.Ordinal);
        Assert.Equal("jill$john", browser.Driver.FindElement(By.Id("Input_Username")).GetAttribute("value"));
        Assert.Equal("", browser.Driver.FindElement(By.Id("Input_Password")).GetAttribute("value"));
        // The name is kept; the password, to be typed again, has the focus.
        Assert.Equal("Input_Password", browser.Driver.SwitchTo().ActiveElement().GetAttribute("id"));
        browser.Screenshot("sign-in-wrong-password");

        SignIn("jill$john", JillPassword, clearName: true);
        browser.WaitFor(d => d.FindElement(By.CssSelector("[role=alert]")).Text.Contains("No active support access", StringComparison.Ordinal));
        Assert.Contains("A user of acme can enable support in the Support access page or their user menu", browser.BodyText, StringComparison.Ordinal);
        browser.Screenshot("sign-in-no-grant");
        browser.Screenshot("sign-in-no-grant-390px", width: 390);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task MfaUser_NeedsTheCode_AWrongOrReusedCodeIsRefused()
    {
        var secret = await EnrolMiaAsync();
        await GrantAsync(new { });

        browser.GoTo(Url("/_gateway/support/login"));
        SignIn("mia$john", MiaPassword);
        browser.WaitFor(d => d.FindElements(By.CssSelector("[role=alert]")).Count == 1);
        Assert.Contains("One-time code needed", browser.BodyText, StringComparison.Ordinal);
        // The focus is on the code field, ready for the code.
        Assert.Equal("Input_Code", browser.Driver.SwitchTo().ActiveElement().GetAttribute("id"));
        browser.Screenshot("sign-in-mfa-required");

        var totp = new Totp(secret);
        var wrong = totp.ComputeTotp(DateTime.UtcNow.AddMinutes(10));
        SignIn("mia$john", MiaPassword, wrong, clearName: true);
        browser.WaitFor(d => d.FindElement(By.CssSelector("[role=alert]")).Text.Contains("One-time code not accepted", StringComparison.Ordinal));
        browser.Screenshot("sign-in-mfa-invalid");

        var code = totp.ComputeTotp(DateTime.UtcNow);
        SignIn("mia$john", MiaPassword, code, clearName: true);
        browser.WaitFor(d => d.Url == Url("/"));
        Assert.StartsWith("Support session: mia acting as john", browser.Driver.FindElement(By.CssSelector("[data-support-banner]")).Text, StringComparison.Ordinal);

        // The same code again, from a fresh browser: refused (single use, recorded in the grant store).
        await browser.ResetAsync();
        browser.GoTo(Url("/_gateway/support/login"));
        SignIn("mia$john", MiaPassword, code);
        browser.WaitFor(d => d.FindElements(By.CssSelector("[role=alert]")).Count == 1);
        Assert.Contains("One-time code not accepted", browser.BodyText, StringComparison.Ordinal);
        Assert.Null(browser.Cookie("sgw_session"));
    }

    [Fact]
    public async Task OpenRedirectAttempts_StayOnTheHost()
    {
        await GrantAsync(new { });
        foreach (var returnUrl in new[] { "//evil.localhost/", "/\\evil.localhost/", "https://evil.localhost/", "%2F%2Fevil.localhost", "/%5Cevil.localhost", "javascript:alert(1)" })
        {
            await browser.ResetAsync();
            browser.GoTo(Url("/_gateway/support/login?returnUrl=" + Uri.EscapeDataString(returnUrl)));
            SignIn("jill$john", JillPassword);

            browser.WaitFor(d => d.Url.StartsWith(Url("/"), StringComparison.Ordinal) && !d.Url.Contains("/_gateway/", StringComparison.Ordinal));
            Assert.Equal(Url("/"), browser.Driver.Url);
        }
    }

    [Fact]
    public async Task KeyboardOnly_SignIn_WithTabAndEnter()
    {
        await GrantAsync(new { });
        browser.GoTo(Url("/_gateway/support/login?returnUrl=%2F"));

        // The login name has the focus; Tab moves to the password, Enter submits.
        var active = browser.Driver.SwitchTo().ActiveElement();
        Assert.Equal("Input_Username", active.GetAttribute("id"));
        active.SendKeys("jill$john" + Keys.Tab);
        var page = browser.Driver.FindElement(By.TagName("html"));
        browser.Driver.SwitchTo().ActiveElement().SendKeys(JillPassword + Keys.Enter);
        browser.WaitUntilReplaced(page);

        browser.WaitFor(d => d.Url == Url("/"));
        Assert.Single(browser.Driver.FindElements(By.CssSelector("[data-support-banner]")));
    }

    private string Url(string pathAndQuery) => Browser.Url(Port, "acme.localhost", pathAndQuery);

    private void SignInAt(string returnUrl, string user, string password)
    {
        browser.GoTo(Url("/_gateway/support/login?returnUrl=" + Uri.EscapeDataString(returnUrl)));
        SignIn(user, password);
        browser.WaitFor(d => d.Url == Url(returnUrl));
    }

    private void SignIn(string user, string password, string? code = null, bool clearName = false)
    {
        var name = browser.Driver.FindElement(By.Id("Input_Username"));
        if (clearName)
        {
            name.Clear();
        }

        name.SendKeys(user);
        browser.Driver.FindElement(By.Id("Input_Password")).SendKeys(password);
        if (code is not null)
        {
            browser.Driver.FindElement(By.Id("Input_Code")).SendKeys(code);
        }

        var page = browser.Driver.FindElement(By.TagName("html"));
        browser.Driver.FindElement(By.CssSelector("form button[type=submit]")).Click();
        browser.WaitUntilReplaced(page);
    }

    private Task GrantAsync(object body) => env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, body, 201);

    /// <summary>Adds support user mia and enrols her with the real <c>mfa enroll</c> verb; the running gateway picks both up by hot reload.</summary>
    private async Task<byte[]> EnrolMiaAsync()
    {
        await Enrolment.WaitAsync();
        try
        {
            var directory = env.Gateway.Services.GetRequiredService<SupportUserDirectory>();
            var file = Path.Combine(env.Gateway.Config.Path, "support-users.json");
            var document = JsonNode.Parse(await File.ReadAllTextAsync(file))!.AsObject();
            document["SupportUsers"]!["Users"]![Mia] = new JsonObject
            {
                ["PasswordHash"] = PasswordHasher.Hash(MiaPassword, SupportUserDirectoryParser.MinIterations),
                ["Global"] = true,
            };
            await File.WriteAllTextAsync(file + ".tmp", document.ToJsonString());
            File.Move(file + ".tmp", file, overwrite: true);

            var reloaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnApplied(long generation)
            {
                if (directory.TryFind(Mia, out var user) && user.TotpSecret is not null)
                {
                    reloaded.TrySetResult();
                }
            }

            directory.Applied += OnApplied;
            try
            {
                using var output = new StringWriter();
                using var error = new StringWriter();
                Assert.Equal(0, await CliVerbs.RunAsync(["mfa", "enroll", Mia, "--config-dir", env.Gateway.Config.Path], TextReader.Null, output, error));
                OnApplied(0);
                await reloaded.Task.WaitAsync(TimeSpan.FromSeconds(15));
                var uri = output.ToString().Split('\n').Single(l => l.StartsWith("otpauth://", StringComparison.Ordinal));
                var secret = System.Web.HttpUtility.ParseQueryString(new Uri(uri.Trim()).Query)["secret"]!;
                return Base32Encoding.ToBytes(secret);
            }
            finally
            {
                directory.Applied -= OnApplied;
            }
        }
        finally
        {
            Enrolment.Release();
        }
    }
}
