using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gateway.Problems;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Problems;

/// <summary>A gateway whose backends cannot be reached (port 1 refuses connections): 502s on demand.</summary>
public sealed class UnreachableBackendsEnvironment : TestEnvironment
{
    public UnreachableBackendsEnvironment()
    {
        Backends = TestBackends.None;
        MintTokens = true;
        ExtraArgs =
        [
            "--ReverseProxy:Clusters:acme:Destinations:primary:Address=http://127.0.0.1:1/",
            "--ReverseProxy:Clusters:globex:Destinations:primary:Address=http://127.0.0.1:1/",
            "--Support:FailedLoginsPerClient=1000",
            "--Support:FailedLoginsPerUserAndClient=1000",
            "--Support:UserBackoffAfterFailures=1000",
        ];
    }
}

/// <summary>
/// Refusals as pages for browsers and as problem+json for everyone else, decided in one place
/// (<see cref="GatewayProblem.WriteAsync"/>): same status and headers either way, and the JSON
/// exactly what it always was.
/// </summary>
public sealed class ProblemNegotiationTests(UnreachableBackendsEnvironment env) : IClassFixture<UnreachableBackendsEnvironment>
{
    [Theory]
    [InlineData(SignInForm.BrowserAccept, true)]
    [InlineData("text/html", true)]
    [InlineData("application/xhtml+xml,text/html;q=0.9", true)]
    [InlineData("application/json, text/html", false)]
    [InlineData("text/html;q=0.5, application/json", false)]
    [InlineData("application/problem+json", false)]
    [InlineData("*/*", false)]
    [InlineData("*/*, text/html;q=0.1", false)]
    [InlineData("text/html;q=0", false)]
    [InlineData("", false)]
    [InlineData("not a media type;;;", false)]
    public void PrefersHtml_WhenTextHtmlComesBeforeAnyJson(string accept, bool html) =>
        Assert.Equal(html, ProblemPage.PrefersHtml(accept.Length == 0 ? default : new Microsoft.Extensions.Primitives.StringValues(accept)));

    [Fact]
    public async Task SupportRefusal_ForABrowser_IsAPage_WithTheSameStatusAndHeaders()
    {
        using var client = env.Gateway.Client("acme.localhost");

        using var api = await SendAsync(client, "/api/echo/x", "application/json", Basic("jill$john", "wrong"));
        using var page = await SendAsync(client, "/api/echo/x", SignInForm.BrowserAccept, Basic("jill$john", "wrong"));

        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        Assert.Equal(api.StatusCode, page.StatusCode);
        Assert.Equal("application/problem+json", api.Content.Headers.ContentType?.MediaType);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Equal(api.Headers.WwwAuthenticate.ToString(), page.Headers.WwwAuthenticate.ToString());
        Assert.Equal("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("DENY", page.Headers.GetValues("X-Frame-Options").Single());
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<code>support.login.invalid</code>", html, StringComparison.Ordinal);
        Assert.Contains("The login name or password is wrong.", html, StringComparison.Ordinal);
        Assert.Contains("href=\"/_gateway/support/login?returnUrl=%2Fapi%2Fecho%2Fx\"", html, StringComparison.Ordinal);
        Assert.Contains("href=\"/_gateway/support/logout\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("application/json")]
    [InlineData("*/*")]
    [InlineData("application/json, text/html")]
    public async Task ApiClients_GetProblemJson_ByteForByte(string? accept)
    {
        using var client = env.Gateway.Client("acme.localhost");

        using var response = await SendAsync(client, "/api/echo/x", accept, Basic("jill$", "wrong"));
        var bytes = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.ToString());
        using var json = JsonDocument.Parse(bytes);
        var trace = json.RootElement.GetProperty("traceId").GetString();
        var expected = JsonSerializer.SerializeToUtf8Bytes(GatewayProblem.Create(ProblemCode.SupportLoginInvalid) with { TraceId = trace }, ProblemJsonContext.Default.GatewayProblem);
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public async Task BackendUnreachable_ForABrowser_IsAPage_ForAnApiClient_ProblemJson()
    {
        using var client = env.Gateway.Client("acme.localhost");

        using var page = await SendAsync(client, "/api/echo/x", SignInForm.BrowserAccept, null);
        using var api = await SendAsync(client, "/api/echo/x", "application/json", null);

        Assert.Equal(HttpStatusCode.BadGateway, page.StatusCode);
        Assert.Contains("acme's application could not be reached", WebUtility.HtmlDecode(await page.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        Assert.Equal("proxy.backend_unavailable", await ManagementClient.ProblemCodeAsync(api, 502));
    }

    [Fact]
    public async Task UnknownHost_AndTheManagementApi_StayProblemJson_EvenForBrowsers()
    {
        using var nobody = env.Gateway.Client("nobody.localhost");
        using var unknown = await SendAsync(nobody, "/", SignInForm.BrowserAccept, null);
        Assert.Equal("gateway.unknown_host", await ManagementClient.ProblemCodeAsync(unknown, 404));

        using var management = env.Gateway.Client("localhost");
        using var unauthenticated = await SendAsync(management, "/_gateway/tenants/acme/support/grants", SignInForm.BrowserAccept, null);
        Assert.Equal("management.unauthenticated", await ManagementClient.ProblemCodeAsync(unauthenticated, 401));
    }

    [Fact]
    public void EveryCode_HasItsOwnWords()
    {
        var codes = typeof(ProblemCode).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(f => (ProblemCode)f.GetValue(null)!)
            .Where(c => c.Value.StartsWith("support.", StringComparison.Ordinal) || c.Value.StartsWith("proxy.", StringComparison.Ordinal)
                || c.Value is "gateway.no_route" or "grant_store.unavailable" or "audit.unavailable" or "request.credentials_unreadable")
            .ToList();
        var fallback = ProblemPage.Describe("no.such.code", "acme", "14:02", null);

        Assert.NotEmpty(codes);
        foreach (var code in codes)
        {
            var words = ProblemPage.Describe(code.Value, "acme", "14:02", "30");
            Assert.True(words != fallback, $"{code.Value} has no words of its own");
        }
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string path, string? accept, AuthenticationHeaderValue? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        request.Headers.Authorization = authorization;
        return await client.SendAsync(request);
    }
}
