using System.Net;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Management;

/// <summary>No tenant or user can create grants without bound, and a request names only the few grants that admitted it.</summary>
public sealed class GrantLimitTests
{
    private const string Grants = "/_gateway/tenants/acme/support/grants";

    [Fact]
    public async Task ActiveGrants_AreCappedPerUser_AndPerTenant()
    {
        await using var env = await Start("--Grants:MaxActiveGrantsPerUser=3", "--Grants:MaxActiveGrantsPerTenant=4");
        for (var i = 0; i < 3; i++)
        {
            await env.Api.JsonAsync(HttpMethod.Post, Grants, env.John, new { }, 201);
        }

        Assert.Equal("grant.limit_reached", await env.Api.ProblemCodeAsync(HttpMethod.Post, Grants, env.John, new { }, 409));
        await env.Api.JsonAsync(HttpMethod.Post, Grants, env.Ann, new { }, 201);
        Assert.Equal("grant.limit_reached", await env.Api.ProblemCodeAsync(HttpMethod.Post, Grants, env.Ann, new { }, 409));

        // Disabling one makes room again.
        await env.Api.JsonAsync(HttpMethod.Delete, Grants, env.Ann);
        await env.Api.JsonAsync(HttpMethod.Post, Grants, env.John, new { }, 201);
    }

    [Fact]
    public async Task Creations_AreRateLimitedPerUser()
    {
        await using var env = await Start("--Grants:MaxGrantCreationsPerUserPerHour=2");
        for (var i = 0; i < 2; i++)
        {
            var grant = await env.Api.JsonAsync(HttpMethod.Post, Grants, env.John, new { }, 201);
            await env.Api.JsonAsync(HttpMethod.Delete, $"{Grants}/{grant.GetProperty("id").GetString()}", env.John);
        }

        Assert.Equal("grant.rate_limited", await env.Api.ProblemCodeAsync(HttpMethod.Post, Grants, env.John, new { }, 429));
        await env.Api.JsonAsync(HttpMethod.Post, Grants, env.Ann, new { }, 201);
    }

    [Fact]
    public async Task ASupportRequest_NamesOnlyTheFewGrantsThatAdmitIt()
    {
        await using var env = await Start();
        var admitting = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            await env.Api.JsonAsync(HttpMethod.Post, Grants, env.John, new { denyData = true }, 201);
            var grant = await env.Api.JsonAsync(HttpMethod.Post, Grants, env.John, new { denyData = false, durationHours = 2 + i }, 201);
            admitting.Add(grant.GetProperty("id").GetString()!);
        }

        using var client = env.Gateway.Client("acme.localhost");
        using var orders = await GetAsync(client, "/api/orders", Basic("jill$john", JillPassword));
        Assert.Equal(HttpStatusCode.OK, orders.StatusCode);
        var echo = await EchoAsync(client, Basic("jill$john", JillPassword));

        // The echo route is open: any grant admits it; never more than five are named.
        Assert.Equal(5, Header(echo, "X-Gateway-Grants")!.Split(',').Length);
        var data = await env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "url.path") == "/api/orders" && AuditTrail.Get(e, "event.action") == "support-request");
        var named = data[0].GetProperty("gateway").GetProperty("support").GetProperty("grant_ids").EnumerateArray().Select(g => g.GetString()!).ToList();
        Assert.Equal(5, named.Count);
        Assert.All(named, id => Assert.Contains(id, admitting));
        Assert.Equal(admitting.TakeLast(5).Reverse(), named); // the longest-running ones
    }

    private static Task<TestEnvironment> Start(params string[] args) =>
        new TestEnvironment { Backends = TestBackends.Shared, MintTokens = true, ExtraArgs = args }.StartAsync();
}
