using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Grants;

/// <summary>
/// Whom support may act as under a grant: every user of the tenant by default, or only the
/// users a grant names (a tenant user may name only themself); isolation adds up over the
/// grants that cover the user acted as; the scope shows in status and in the session record.
/// </summary>
public sealed class GrantScopeTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment { Backends = TestBackends.Shared, MintTokens = true }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task AGrantLimitedToJohn_LetsSupportActAsJohnOnly()
    {
        var grant = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.Ann, new { denyData = false, targets = new[] { "john" } }, 201);
        Assert.Equal(["john"], grant.GetProperty("targets").EnumerateArray().Select(t => t.GetString()!));
        using var acme = _env.Gateway.Client("acme.localhost");

        Assert.Equal(HttpStatusCode.OK, (await GetAsync(acme, "/api/orders", Basic("jill$john", JillPassword))).StatusCode);
        using var asAnn = await GetAsync(acme, "/api/orders", Basic("jill$ann", JillPassword));
        Assert.Equal("support.target_not_granted", await ManagementClient.ProblemCodeAsync(asAnn, 403));
        // jill$ acts as the one user the grants cover, not the designated admin.
        var echo = await EchoAsync(acme, Basic("jill$", JillPassword));
        Assert.Equal("john", Header(echo, "X-Gateway-User"));

        var status = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", _env.John);
        Assert.Equal(["john"], status.GetProperty("scope").EnumerateArray().Select(t => t.GetString()!));
        var sessions = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", _env.Ann);
        Assert.All(sessions.GetProperty("sessions").EnumerateArray(), s => Assert.Equal("john", Assert.Single(s.GetProperty("scope").EnumerateArray()).GetString()));
    }

    [Fact]
    public async Task IsolationAddsUpOverTheGrantsThatCoverTheUserActedAs()
    {
        // Everyone: no data. John alone: data.
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.Ann, new { denyData = true }, 201);
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false, targets = new[] { "john" } }, 201);
        using var acme = _env.Gateway.Client("acme.localhost");

        Assert.Equal(HttpStatusCode.OK, (await GetAsync(acme, "/api/orders", Basic("jill$john", JillPassword))).StatusCode);
        using var asAnn = await GetAsync(acme, "/api/orders", Basic("jill$ann", JillPassword));
        Assert.Equal("support.isolation.data", await ManagementClient.ProblemCodeAsync(asAnn, 403));
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(acme, "/api/echo/open", Basic("jill$ann", JillPassword))).StatusCode);

        var status = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", _env.John);
        Assert.Equal(JsonValueKind.Null, status.GetProperty("scope").ValueKind);
    }

    [Fact]
    public async Task ATenantUser_MayLimitAGrantToThemselfOnly()
    {
        Assert.Equal("grant.targets_require_admin", await _env.Api.ProblemCodeAsync(
            HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { targets = new[] { "ann" } }, 403));
        Assert.Equal("grant.targets_require_admin", await _env.Api.ProblemCodeAsync(
            HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { targets = new[] { "john", "ann" } }, 403));
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { targets = new[] { "john" } }, 201);
    }

    [Theory]
    [InlineData("""{"targets":[]}""")]
    [InlineData("""{"targets":["john","john"]}""")]
    [InlineData("""{"targets":["jill$john"]}""")]
    [InlineData("""{"targets":["a b"]}""")]
    [InlineData("""{"targets":[null]}""")]
    [InlineData("""{"targets":["john"],"grantor":"ann"}""")]
    [InlineData("""{"targets":["u1","u2","u3","u4","u5","u6","u7","u8","u9","u10","u11","u12","u13","u14","u15","u16","u17","u18","u19","u20","u21"]}""")]
    public async Task BadTargets_AreA400WithTheField(string body)
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.Ann, rawBody: body);
        Assert.Equal("request.invalid", await ManagementClient.ProblemCodeAsync(response, 400));
    }
}

/// <summary>With the tenant setting that limits a tenant user's grant to its creator.</summary>
public sealed class CreatorScopedGrantTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment
    {
        Backends = TestBackends.Shared,
        MintTokens = true,
        ExtraArgs = ["--Gateway:Tenants:acme:NonAdminGrantScope=Creator"],
    }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task ATenantUsersGrant_CoversOnlyThem_AnAdminsEveryone()
    {
        var johns = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
        Assert.Equal(["john"], johns.GetProperty("targets").EnumerateArray().Select(t => t.GetString()!));
        using var acme = _env.Gateway.Client("acme.localhost");
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(acme, "/api/orders", Basic("jill$john", JillPassword))).StatusCode);
        using var asAnn = await GetAsync(acme, "/api/orders", Basic("jill$ann", JillPassword));
        Assert.Equal("support.target_not_granted", await ManagementClient.ProblemCodeAsync(asAnn, 403));

        var anns = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.Ann, new { denyData = false }, 201);
        Assert.Equal(JsonValueKind.Null, anns.GetProperty("targets").ValueKind);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(acme, "/api/orders", Basic("jill$ann", JillPassword))).StatusCode);
    }
}
