using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Cli;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Policy;

/// <summary>
/// Policy replay: recorded support requests decided again under candidate routes. A candidate
/// that reclassifies two routes lists exactly the requests those routes decided, in both
/// directions; the routes in force list none; requests refused for reasons routes cannot
/// change are left aside. Over HTTP (the local spool) and as the CLI verb (an export file).
/// </summary>
public sealed class PolicyReplayTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        _env = await new TestEnvironment { Backends = TestBackends.Shared, MintTokens = true }.StartAsync();
        using var acme = _env.Gateway.Client("acme.localhost");
        var jill = Basic("jill$john", JillPassword);

        // Refused before any grant: nothing a route could change.
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(acme, HttpMethod.Get, "/api/orders/1", jill)).StatusCode);
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false, denyConfig = true }, 201);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/orders", jill)).StatusCode);          // data: allowed
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/echo/x", jill)).StatusCode);          // open: allowed
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(acme, HttpMethod.Put, "/api/settings/theme", jill)).StatusCode); // config write: refused
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(acme, HttpMethod.Get, "/api/credentials/", jill)).StatusCode);  // forbidden: refused
        await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-request", count: 5);
    }

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task OverHttp_ACandidateReclassifyingTwoRoutes_ListsExactlyTheirRequests()
    {
        var report = await ReplayAsync(Candidate(("acme-orders", "forbidden"), ("acme-settings", "data")), 200);

        Assert.Equal(5, report.GetProperty("supportRequests").GetInt32());
        Assert.Equal(4, report.GetProperty("replayed").GetInt32());
        Assert.Equal(1, report.GetProperty("notReplayable").GetInt32());
        Assert.Equal(2, report.GetProperty("changed").GetInt32());
        var groups = report.GetProperty("groups").EnumerateArray().ToList();
        Assert.Equal(["acme-orders", "acme-settings"], groups.Select(g => g.GetProperty("route").GetString()!));

        var orders = Assert.Single(groups[0].GetProperty("changes").EnumerateArray());
        Assert.Equal("GET", orders.GetProperty("method").GetString());
        Assert.Equal("/api/orders", orders.GetProperty("path").GetString());
        Assert.Equal("allowed", orders.GetProperty("recordedDecision").GetString());
        Assert.Equal("denied", orders.GetProperty("candidateDecision").GetString());
        Assert.Equal("support.forbidden_route", orders.GetProperty("candidateCode").GetString());
        Assert.Equal(1, groups[0].GetProperty("nowRefused").GetInt32());

        var settings = Assert.Single(groups[1].GetProperty("changes").EnumerateArray());
        Assert.Equal("PUT", settings.GetProperty("method").GetString());
        Assert.Equal("support.isolation.config", settings.GetProperty("recordedCode").GetString());
        Assert.Equal("allowed", settings.GetProperty("candidateDecision").GetString());
        Assert.Equal(1, groups[1].GetProperty("nowAllowed").GetInt32());
    }

    [Fact]
    public async Task OverHttp_TheRoutesInForce_ChangeNothing()
    {
        var report = await ReplayAsync(File.ReadAllText(_env.Gateway.Config.RoutesPath), 200);
        Assert.Equal(0, report.GetProperty("changed").GetInt32());
        Assert.Equal(4, report.GetProperty("replayed").GetInt32());
    }

    [Fact]
    public async Task OverHttp_AnInvalidCandidateIsNamed_AndOnlyThePlatformAdminMayReplay()
    {
        var routes = JsonNode.Parse(File.ReadAllText(_env.Gateway.Config.RoutesPath))!;
        routes["ReverseProxy"]!["Routes"]!["acme-orders"]!["Metadata"]!["SupportClass"] = "secret";
        using var invalid = await PostAsync(routes.ToJsonString(), _env.Olivia);
        Assert.Equal("request.invalid", await ManagementClient.ProblemCodeAsync(invalid, 400));

        using var notJson = await PostAsync("{", _env.Olivia);
        Assert.Equal("request.invalid", await ManagementClient.ProblemCodeAsync(notJson, 400));

        using var asAdmin = await PostAsync(File.ReadAllText(_env.Gateway.Config.RoutesPath), _env.Ann);
        Assert.Equal("management.forbidden", await ManagementClient.ProblemCodeAsync(asAdmin, 403));
    }

    [Fact]
    public async Task Cli_ReplaysAnExport_TextOrJson_Exit1OnChange_0Otherwise()
    {
        var export = Path.Combine(_env.Gateway.Config.LogDirectory, "export.ndjson");
        var exported = await CliRunner.RunAsync("audit", "export", "--spool-dir", _env.Gateway.Audit.Directory);
        Assert.Equal(0, exported.Exit);
        // An Elasticsearch export wraps each event in _source: the replay takes both shapes.
        var lines = exported.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await File.WriteAllLinesAsync(export, lines.Select((l, i) => i % 2 == 0 ? l : $"{{\"_index\":\"gateway-audit\",\"_source\":{l}}}"));
        var candidate = Path.Combine(_env.Gateway.Config.LogDirectory, "candidate.json");
        await File.WriteAllTextAsync(candidate, Candidate(("acme-orders", "forbidden"), ("acme-settings", "data")));

        var changed = await CliRunner.RunAsync("policy", "replay", "--config-dir", _env.Gateway.Config.Path, "--routes", candidate, "--audit", export);
        Assert.True(changed.Exit == 1, changed.Output + changed.Error);
        Assert.Contains("2 decision(s) would change", changed.Output, StringComparison.Ordinal);
        Assert.Contains("tenant acme, route acme-orders: 1 now refused, 0 now allowed", changed.Output, StringComparison.Ordinal);
        Assert.Contains("GET /api/orders [denyConfig]: allowed -> denied (support.forbidden_route)", changed.Output, StringComparison.Ordinal);

        var asJson = await CliRunner.RunAsync("policy", "replay", "--config-dir", _env.Gateway.Config.Path, "--routes", candidate, "--audit", export, "--json");
        using (var document = JsonDocument.Parse(asJson.Output))
        {
            Assert.Equal(2, document.RootElement.GetProperty("changed").GetInt32());
        }

        var unchanged = await CliRunner.RunAsync("policy", "replay", "--config-dir", _env.Gateway.Config.Path, "--routes", _env.Gateway.Config.RoutesPath, "--audit", export);
        Assert.True(unchanged.Exit == 0, unchanged.Output + unchanged.Error);
        Assert.Contains("No decision would change.", unchanged.Output, StringComparison.Ordinal);

        var missing = await CliRunner.RunAsync("policy", "replay", "--config-dir", _env.Gateway.Config.Path, "--routes", candidate + ".nope", "--audit", export);
        Assert.Equal(2, missing.Exit);
    }

    private string Candidate(params (string Route, string Class)[] changes)
    {
        var routes = JsonNode.Parse(File.ReadAllText(_env.Gateway.Config.RoutesPath))!;
        foreach (var (route, routeClass) in changes)
        {
            routes["ReverseProxy"]!["Routes"]![route]!["Metadata"]!["SupportClass"] = routeClass;
        }

        return routes.ToJsonString();
    }

    private async Task<JsonElement> ReplayAsync(string candidate, int status)
    {
        using var response = await PostAsync(candidate, _env.Olivia);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private Task<HttpResponseMessage> PostAsync(string body, string token) =>
        _env.Api.SendAsync(HttpMethod.Post, "/_gateway/policy/replay", token, rawBody: body);

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, System.Net.Http.Headers.AuthenticationHeaderValue authorization)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = authorization;
        return await client.SendAsync(request);
    }
}
