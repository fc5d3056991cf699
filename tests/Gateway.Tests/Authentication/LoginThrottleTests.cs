using System.Net;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Authentication;

/// <summary>Failed support logins are throttled per support user and per client address (429 with Retry-After).</summary>
public sealed class LoginThrottleTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        _env = await new TestEnvironment
        {
            Backends = TestBackends.Shared,
            ExtraArgs = ["--Support:FailedLoginsPerUser=3", "--Support:FailedLoginsPerClient=5", "--Support:FailedLoginWindow=00:10:00"],
        }.StartAsync();
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await _env.Api.TokenAsync("john", "tenant-user", "acme"), new { }, 201);
    }

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task FailedLogins_PerUser_Get429_EvenWithTheRightPasswordAfterwards()
    {
        using var client = _env.Gateway.Client();
        for (var i = 0; i < 3; i++)
        {
            using var wrong = await GetAsync(client, "/api/echo/x", Basic("jill$john", "guess-" + i));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var blocked = await GetAsync(client, "/api/echo/x", Basic("jill$john", JillPassword));
        Assert.Equal("support.login.rate_limited", await ManagementClient.ProblemCodeAsync(blocked, 429));
        Assert.True(blocked.Headers.RetryAfter?.Delta > TimeSpan.Zero);

        using var viaLogin = await client.PostAsync("/_gateway/support/login", new StringContent($$"""{"username":"jill$john","password":"{{JillPassword}}"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal("support.login.rate_limited", await ManagementClient.ProblemCodeAsync(viaLogin, 429));

        // Another support user from the same address still gets through (its own budget; the client's is not spent yet).
        using var sam = await GetAsync(client, "/api/echo/x", Basic("sam$john", SamPassword));
        Assert.Equal("support.not_permitted", await ManagementClient.ProblemCodeAsync(sam, 403));
    }

    [Fact]
    public async Task FailedLogins_PerClient_Get429_AcrossUserNames()
    {
        using var client = _env.Gateway.Client();
        for (var i = 0; i < 5; i++)
        {
            using var wrong = await GetAsync(client, "/api/echo/x", Basic($"user{i}$john", "guess"));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var blocked = await GetAsync(client, "/api/echo/x", Basic("sam$john", SamPassword));
        Assert.Equal("support.login.rate_limited", await ManagementClient.ProblemCodeAsync(blocked, 429));
    }
}
