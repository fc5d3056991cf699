using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Pages;

/// <summary>
/// OIDC sign-in of the self-service pages over real HTTP: the gateway, a provider double on
/// loopback with authorize and token endpoints, redirects followed by hand with a cookie jar
/// (gateway → authorize → gateway callback → page).
/// </summary>
public sealed class OidcSignInTests : IAsyncLifetime
{
    private OidcProviderDouble _idp = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _idp = await OidcProviderDouble.StartAsync("/realms/acme");
        _gateway = await GatewayHost.StartAsync(
            new Dictionary<string, Uri>(),
            _idp.IssuerArgs("idp", "support-gateway", "PagesClientId=gateway-pages", "DisplayName=Acme SSO", "RoleMap:support-admin=tenant-admin", "RoleMap:support-user=tenant-user"));
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _idp.DisposeAsync();
    }

    [Fact]
    public async Task AnnOfAcme_SignsInThroughTheProvider_AndSeesHerSessionsPage_WithPkce()
    {
        _idp.NextUser = User("ann", "acme", "support-admin");
        var browser = new Browser(_gateway.Port);

        var signIn = await browser.GetAsync("acme.localhost", "/_gateway/ui/signin");
        Assert.Equal(HttpStatusCode.OK, signIn.Status);
        Assert.Contains("Sign in with Acme SSO", signIn.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("not built yet", signIn.Body, StringComparison.Ordinal);

        var landed = await FlowAsync(browser, "acme.localhost", "/_gateway/ui/sessions");
        Assert.Equal("/_gateway/ui/sessions", landed.Location);
        Assert.NotNull(browser.PageCookie("acme.localhost"));

        var sessions = await browser.GetAsync("acme.localhost", "/_gateway/ui/sessions");
        Assert.Equal(HttpStatusCode.OK, sessions.Status);
        Assert.Contains("ann", sessions.Body, StringComparison.Ordinal);
        // PKCE: the authorize request carried an S256 challenge, the token request the verifier that matches it.
        Assert.Equal(1, _idp.ChallengesReceived);
        Assert.Equal(1, _idp.VerifiersMatched);
        Assert.Empty(_idp.FlowRefusals);
    }

    [Fact]
    public async Task TamperedState_OnTheCallback_IsAReadablePage_AndNoCookie()
    {
        _idp.NextUser = User("ann", "acme", "support-admin");
        var browser = new Browser(_gateway.Port);
        var authorize = await browser.GetAsync("acme.localhost", "/_gateway/ui/signin/oidc/idp?returnUrl=%2F_gateway%2Fui%2Fsessions");
        var callback = await ProviderRedirectAsync(authorize.Location!);
        var state = System.Web.HttpUtility.ParseQueryString(callback.Query)["state"]!;
        var tampered = callback.AbsoluteUri.Replace(Uri.EscapeDataString(state), Uri.EscapeDataString("A" + state[1..] + "x"), StringComparison.Ordinal);

        var failed = await browser.GetAsync("acme.localhost", new Uri(tampered).PathAndQuery);
        var page = await browser.GetAsync("acme.localhost", failed.Location!);

        Assert.Equal(HttpStatusCode.BadRequest, page.Status);
        Assert.Contains("did not match a sign-in started here", page.Body, StringComparison.Ordinal);
        Assert.Null(browser.PageCookie("acme.localhost"));
    }

    [Fact]
    public async Task WrongNonce_IsRefused_AndNoCookie()
    {
        _idp.NextUser = User("ann", "acme", "support-admin");
        _idp.WrongNonce = true;
        var browser = new Browser(_gateway.Port);

        var failed = await FlowAsync(browser, "acme.localhost", "/_gateway/ui/sessions");
        var page = await browser.GetAsync("acme.localhost", failed.Location!);

        Assert.Equal(HttpStatusCode.BadRequest, page.Status);
        Assert.Contains("its nonce did not match", page.Body, StringComparison.Ordinal);
        Assert.Null(browser.PageCookie("acme.localhost"));
        Assert.Equal(1, _idp.VerifiersMatched); // the provider answered: the gateway refused the token
    }

    [Fact]
    public async Task UserOfGlobex_OnAcmesHost_IsRefusedInWords_AndNoCookie()
    {
        _idp.NextUser = User("gina", "globex", "support-admin");
        var browser = new Browser(_gateway.Port);

        var failed = await FlowAsync(browser, "acme.localhost", "/_gateway/ui/sessions");
        Assert.Equal("/_gateway/ui/signin?error=wrong-tenant", failed.Location);
        var page = await browser.GetAsync("acme.localhost", failed.Location!);

        Assert.Equal(HttpStatusCode.Forbidden, page.Status);
        Assert.Contains("belongs to another tenant than this address", page.Body, StringComparison.Ordinal);
        Assert.Null(browser.PageCookie("acme.localhost"));
    }

    [Fact]
    public async Task UserWithoutAMappedRole_IsRefusedInWords_AndNoCookie()
    {
        _idp.NextUser = User("max", "acme", "offline_access");
        var browser = new Browser(_gateway.Port);

        var failed = await FlowAsync(browser, "acme.localhost", "/_gateway/ui/sessions");
        var page = await browser.GetAsync("acme.localhost", failed.Location!);

        Assert.Equal(HttpStatusCode.Forbidden, page.Status);
        Assert.Contains("gave you no role on these pages", page.Body, StringComparison.Ordinal);
        Assert.Null(browser.PageCookie("acme.localhost"));
    }

    /// <summary>gateway challenge → provider authorize (checked there: client, redirect URI, S256) → gateway callback; returns the callback's answer.</summary>
    private async Task<Answer> FlowAsync(Browser browser, string host, string returnUrl)
    {
        var challenge = await browser.GetAsync(host, "/_gateway/ui/signin/oidc/idp?returnUrl=" + Uri.EscapeDataString(returnUrl));
        Assert.Equal(HttpStatusCode.Found, challenge.Status);
        var authorize = new Uri(challenge.Location!);
        Assert.StartsWith(_idp.AuthorizeAddress, authorize.AbsoluteUri, StringComparison.Ordinal);
        var query = System.Web.HttpUtility.ParseQueryString(authorize.Query);
        Assert.Equal("S256", query["code_challenge_method"]);
        Assert.False(string.IsNullOrEmpty(query["code_challenge"]));
        Assert.Equal($"http://{host}:{_gateway.Port}/_gateway/ui/signin-oidc-idp", query["redirect_uri"]);

        var callback = await ProviderRedirectAsync(challenge.Location!);
        Assert.Equal(host, callback.Host);
        var answer = await browser.GetAsync(host, callback.PathAndQuery);
        Assert.Equal(HttpStatusCode.Found, answer.Status);
        return answer;
    }

    private static async Task<Uri> ProviderRedirectAsync(string authorize)
    {
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        using var response = await client.GetAsync(authorize);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return response.Headers.Location!;
    }

    private static JsonObject User(string sub, string tenant, params string[] roles) => new()
    {
        ["sub"] = sub,
        ["tenant"] = tenant,
        ["roles"] = new JsonArray([.. roles.Select(r => (JsonNode)r)]),
    };

    private sealed record Answer(HttpStatusCode Status, string? Location, string Body);

    /// <summary>A client with a cookie jar that reaches the gateway whatever the host name, redirects not followed.</summary>
    private sealed class Browser(int port)
    {
        private readonly CookieContainer _jar = new();
        private readonly int _port = port;

        public Cookie? PageCookie(string host) =>
            _jar.GetCookies(new Uri($"http://{host}:{_port}/_gateway/ui/")).FirstOrDefault(c => c.Name == "sgw_pages");

        public async Task<Answer> GetAsync(string host, string pathAndQuery)
        {
            var handler = LoopbackHttp.Handler(_port);
            handler.UseCookies = true;
            handler.CookieContainer = _jar;
            using var client = new HttpClient(handler);
            using var response = await client.GetAsync(new Uri($"http://{host}:{_port}{pathAndQuery}"));
            Assert.NotEqual(HttpStatusCode.InternalServerError, response.StatusCode);
            return new Answer(response.StatusCode, response.Headers.Location?.OriginalString, await response.Content.ReadAsStringAsync());
        }
    }
}
