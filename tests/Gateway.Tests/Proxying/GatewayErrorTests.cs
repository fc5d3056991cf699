using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Proxying;

/// <summary>What the gateway itself answers: problem+json with a stable code, never an empty body or a 500.</summary>
public sealed class GatewayErrorTests(TestEnvironment env) : IClassFixture<TestEnvironment>
{
    [Fact]
    public async Task UnknownHost_Gets404ProblemAndReachesNoBackend()
    {
        var before = env.Acme.Hits.Total + env.Globex.Hits.Total;
        using var client = env.Gateway.Client("unknown.localhost");

        using var response = await client.GetAsync("/api/orders");

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "gateway.unknown_host");
        Assert.Equal(before, env.Acme.Hits.Total + env.Globex.Hits.Total);
    }

    [Theory]
    [InlineData("/_gateway/anything")]
    [InlineData("/_gateway/")]
    [InlineData("/_GATEWAY/health/nope")]
    [InlineData("/%5Fgateway/whatever")]
    [InlineData("/_gateway/api/orders")]
    public async Task ReservedPrefix_IsNeverProxied(string path)
    {
        var before = env.Acme.Hits.Total;
        using var client = env.Gateway.Client("acme.localhost");

        using var response = await client.GetAsync(path);

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "gateway.not_found");
        Assert.Equal(before, env.Acme.Hits.Total);
    }

    [Fact]
    public async Task BackendDown_Gets502Problem()
    {
        var deadPort = LoopbackPorts.Reserve();
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, Uri>
        {
            ["acme"] = new($"http://127.0.0.1:{deadPort}/"),
            ["globex"] = env.Globex.Address,
        });
        using var client = gateway.Client("acme.localhost");

        using var response = await client.GetAsync("/api/orders");

        await AssertProblemAsync(response, HttpStatusCode.BadGateway, "proxy.backend_unavailable");
        Assert.Contains(gateway.Logs.Entries, e => e.EventId.Id == 1200);
    }

    internal static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
    }

}
