using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Gateway.Tests.Authentication;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Pages;

/// <summary>
/// Signing out while the grant store cannot be reached: the browser is signed out all the same,
/// told what that means, and the end reaches the store (for every instance) once it answers.
/// </summary>
public sealed class SignOutStoreDownTests(MfaEnvironment env) : IClassFixture<MfaEnvironment>
{
    [Fact]
    public async Task SignOutPage_WithTheStoreDown_ClearsTheCookie_AndTheEndIsRecordedWhenTheStoreIsBack()
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
            Assert.Contains("Sign-out not yet recorded everywhere", html, StringComparison.Ordinal);
            Assert.Contains("max-age=0", SignInForm.SessionCookie(response), StringComparison.OrdinalIgnoreCase);
        }

        Assert.Contains(env.Gateway.Logs.Entries, e => e.EventId.Id == 1640);
        var sessionId = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(token).GetClaim("sid").Value;

        // This instance refuses the token at once; the store (every instance) has it after the retry.
        using (var refused = await GetAsync(acme, "/api/orders", new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token)))
        {
            Assert.Equal("support.session.ended", await ManagementClient.ProblemCodeAsync(refused, 401));
        }

        await env.Gateway.Services.GetRequiredService<Gateway.Sessions.SessionTracker>().SweepAsync(CancellationToken.None);
        var state = await env.Gateway.Services.GetRequiredService<Gateway.Grants.IGrantStore>().GetStateAsync("acme", CancellationToken.None);
        Assert.Contains(sessionId, state.RevokedSessions);
    }
}
