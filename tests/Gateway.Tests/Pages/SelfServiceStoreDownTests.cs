using System.Net;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Pages;

/// <summary>A gateway with Redis as its grant store, for the self-service pages while the store cannot answer.</summary>
public sealed class PagesRedisEnvironment : TestEnvironment
{
    public PagesRedisEnvironment()
    {
        MintTokens = true;
        WithRedis = true;
    }
}

/// <summary>The Support access page while the grant store cannot be reached: sentences, never a stack trace.</summary>
public sealed class SelfServiceStoreDownTests(PagesRedisEnvironment env) : IClassFixture<PagesRedisEnvironment>
{
    [Fact]
    public async Task SupportAccess_WithTheStoreDown_SaysSoInWords_AndEnablingChangesNothing()
    {
        using var globex = env.Gateway.Client("globex.localhost");
        var gina = await new PageSession(globex).SignInAsync("gina");

        env.Redis.Pause();
        HttpResponseMessage page, enable;
        try
        {
            page = await gina.GetAsync("/_gateway/ui/");
            enable = await gina.PostFormAsync("/_gateway/ui?handler=Enable", "/_gateway/ui/", new() { ["Input.DenyData"] = "true", ["Input.DenyConfig"] = "true" });
        }
        finally
        {
            env.Redis.Resume();
        }

        using (page)
        {
            var html = await page.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("data-state=\"unavailable\"", html, StringComparison.Ordinal);
            Assert.Contains("The gateway cannot reach its grant store", html, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", html, StringComparison.Ordinal);
        }

        using (enable)
        {
            var html = await enable.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, enable.StatusCode);
            Assert.Contains("so nothing was changed", html, StringComparison.Ordinal);
            Assert.Contains("<code>grant_store.unavailable</code>", html, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", html, StringComparison.Ordinal);
        }
    }
}
