using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Routing;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Routing;

/// <summary>The routes file reloads on change; a bad edit is refused and the last good routes keep serving.</summary>
public sealed class HotReloadTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment { Backends = TestBackends.Shared }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task ValidEdit_TakesEffectWithoutRestart()
    {
        using var client = _env.Gateway.Client();
        using (var before = await client.GetAsync("/renamed/x"))
        {
            Assert.Equal(HttpStatusCode.NotFound, before.StatusCode); // the catch-all route: the backend has no /renamed
        }

        var reload = _env.Gateway.NextReloadAsync();
        _env.Gateway.Config.EditRoutes(r =>
        {
            var routes = (JsonObject)r["ReverseProxy"]!["Routes"]!;
            routes["acme-renamed"] = JsonNode.Parse("""
                {
                  "ClusterId": "acme",
                  "Match": { "Hosts": [ "acme.localhost" ], "Path": "/renamed/{**rest}" },
                  "Metadata": { "SupportClass": "open" },
                  "Transforms": [ { "PathPattern": "/api/echo/{**rest}" } ]
                }
                """);
            routes["acme-settings"]!["Metadata"]!["SupportClass"] = "forbidden";
        });
        var outcome = await reload;

        Assert.NotNull(outcome.Applied);
        Assert.Equal(RouteClass.Forbidden, outcome.Applied.PolicyByRoute["acme-settings"].Class);
        Assert.Equal(RouteClass.Open, outcome.Applied.PolicyByRoute["acme-renamed"].Class);
        using var after = await client.GetAsync("/renamed/x?y=1");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        using var echo = JsonDocument.Parse(await after.Content.ReadAsStringAsync());
        Assert.Equal("/api/echo/x", echo.RootElement.GetProperty("path").GetString());
    }

    [Fact]
    public async Task MalformedEdit_IsRejected_LastGoodRoutesKeepServing()
    {
        var revision = _env.Gateway.Routes.Current.Revision;
        var reload = _env.Gateway.NextReloadAsync();
        _env.Gateway.Config.WriteRoutesText("{ \"ReverseProxy\": { \"Routes\": { \"half-written\"");
        var outcome = await reload;

        Assert.NotNull(outcome.Rejected);
        Assert.Equal(revision, _env.Gateway.Routes.Current.Revision);
        Assert.Contains(_env.Gateway.Logs.Entries, e => e.EventId.Id == 1101 && e.Level == LogLevel.Error && e.Message.Contains("routes.json", StringComparison.Ordinal));
        using var client = _env.Gateway.Client();
        using var response = await client.GetAsync("/api/orders");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var (_, health) = await _env.Gateway.ReadinessAsync();
        var configuration = health.GetProperty("checks").GetProperty("configuration");
        Assert.Equal("degraded", configuration.GetProperty("status").GetString());
        Assert.NotEmpty(configuration.GetProperty("lastRejectedEdit").EnumerateArray());
    }

    [Fact]
    public async Task InvalidClassEdit_IsRejected_NamingTheKey_AndOldClassStays()
    {
        var reload = _env.Gateway.NextReloadAsync();
        _env.Gateway.Config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["acme-orders"]!["Metadata"]!["SupportClass"] = "Data ");
        var outcome = await reload;

        Assert.NotNull(outcome.Rejected);
        Assert.Contains(outcome.Rejected.Errors, e => e.StartsWith("ReverseProxy:Routes:acme-orders:Metadata:SupportClass", StringComparison.Ordinal));
        var audited = await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "route-policy-reloaded" && AuditTrail.Get(e, "event.outcome") == "failure");
        Assert.Contains("acme-orders", AuditTrail.Get(audited[0], "gateway.details.errors"), StringComparison.Ordinal);
        Assert.Equal(RouteClass.Data, _env.Gateway.Routes.Current.PolicyByRoute["acme-orders"].Class);

        // A later good edit is applied again, and health recovers.
        reload = _env.Gateway.NextReloadAsync();
        _env.Gateway.Config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["acme-orders"]!["Metadata"]!["SupportClass"] = "config");
        outcome = await reload;
        Assert.NotNull(outcome.Applied);
        Assert.Equal(RouteClass.Config, _env.Gateway.Routes.Current.PolicyByRoute["acme-orders"].Class);
        Assert.Null(_env.Gateway.Routes.LastRejection);
    }

    [Theory]
    [InlineData("SupportClas", "data")]       // a misspelt key must not leave the route on the default class
    [InlineData("SupportBanner", "sometimes")]
    public async Task UnknownOrInvalidMetadata_IsRejected_NamingTheKey(string key, string value)
    {
        var reload = _env.Gateway.NextReloadAsync();
        _env.Gateway.Config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["acme-settings"]!["Metadata"]![key] = value);
        var outcome = await reload;

        Assert.NotNull(outcome.Rejected);
        Assert.Contains(outcome.Rejected.Errors, e => e.StartsWith($"ReverseProxy:Routes:acme-settings:Metadata:{key}:", StringComparison.Ordinal));
        Assert.Equal(RouteClass.Config, _env.Gateway.Routes.Current.PolicyByRoute["acme-settings"].Class);
    }

    [Fact]
    public async Task ClassEdit_ReachesTheRouteEndpointMetadata_ThatLiveRequestsRead()
    {
        var reload = _env.Gateway.NextReloadAsync();
        _env.Gateway.Config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["acme-echo"]!["Metadata"]!["SupportClass"] = "forbidden");
        Assert.NotNull((await reload).Applied);

        var resolver = _env.Gateway.Services.GetRequiredService<Gateway.Routing.GatewayRouteResolver>();
        var resolved = await resolver.ResolveAsync("acme.localhost", "GET", "/api/echo/x", QueryString.Empty, null, CancellationToken.None);

        Assert.Equal("acme-echo", resolved?.RouteId);
        Assert.Equal(RouteClass.Forbidden, resolved?.Policy?.Class);
    }

    [Fact]
    public async Task RemovingTheCatchAll_LeavesUnroutedPathsWith404Problem()
    {
        var reload = _env.Gateway.NextReloadAsync();
        _env.Gateway.Config.EditRoutes(r => ((JsonObject)r["ReverseProxy"]!["Routes"]!).Remove("acme-other"));
        Assert.NotNull((await reload).Applied);
        var hits = _env.Acme.Hits.Total;

        using var client = _env.Gateway.Client();
        using var response = await client.GetAsync("/not/routed");

        await Proxying.GatewayErrorTests.AssertProblemAsync(response, HttpStatusCode.NotFound, "gateway.no_route");
        Assert.Equal(hits, _env.Acme.Hits.Total);
    }

    [Fact]
    public async Task HotEditOfARouteClass_ChangesWhatSupportSessionsMay()
    {
        var api = _env.Api;
        await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await api.TokenAsync("john", "tenant-user", "acme"), new { }, 201);
        using var client = _env.Gateway.Client();
        var basic = SupportClient.Basic("jill$john", SupportClient.JillPassword);
        using (var before = await SupportClient.GetAsync(client, "/api/settings", basic))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        var reload = _env.Gateway.NextReloadAsync();
        _env.Gateway.Config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["acme-settings"]!["Metadata"]!["SupportClass"] = "forbidden");
        Assert.NotNull((await reload).Applied);

        using var after = await SupportClient.GetAsync(client, "/api/settings", basic);
        Assert.Equal("support.forbidden_route", await ManagementClient.ProblemCodeAsync(after, 403));
    }

    [Fact]
    public void UnclassifiedRoute_TakesTheConfiguredDefault()
    {
        Assert.Equal(RouteClass.Data, _env.Gateway.Routes.Current.PolicyByRoute["acme-other"].Class);
    }
}
