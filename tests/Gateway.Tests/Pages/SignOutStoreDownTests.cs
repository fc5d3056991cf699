using System.Net;
using Gateway.Tests.Authentication;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Pages;

/// <summary>Signing out while the grant store cannot be reached: the browser is signed out all the same, and told what that means.</summary>
public sealed class SignOutStoreDownTests(MfaEnvironment env) : IClassFixture<MfaEnvironment>
{
    [Fact]
    public async Task SignOutPage_WithTheStoreDown_ClearsTheCookie_AndSaysUntilWhenTheTokenLives()
    {
        using var acme = env.Gateway.Client("acme.localhost");
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { }, 201);
        var (token, _, _) = await LoginAsync(acme, "jill$john", JillPassword);
        var (field, antiforgery) = await SignInForm.AntiforgeryAsync(acme, "/_gateway/support/logout");

        env.Redis.Pause();
        HttpResponseMessage response;
        try
        {
            using var post = new HttpRequestMessage(HttpMethod.Post, "/_gateway/support/logout") { Content = new FormUrlEncodedContent([new("__sgw_af", field)]) };
            post.Headers.Add("Cookie", $"{antiforgery}; sgw_session={token}");
            response = await acme.SendAsync(post);
        }
        finally
        {
            env.Redis.Resume();
        }

        using (response)
        {
            var html = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("Signed out in this browser only", html, StringComparison.Ordinal);
            Assert.Contains("the session token itself stays valid until", html, StringComparison.Ordinal);
            Assert.Contains("max-age=0", SignInForm.SessionCookie(response), StringComparison.OrdinalIgnoreCase);
        }

        Assert.Contains(env.Gateway.Logs.Entries, e => e.EventId.Id == 1640);
    }
}
