using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Health;

public sealed class HealthEndpointTests(TestEnvironment env) : IClassFixture<TestEnvironment>
{
    [Theory]
    [InlineData("acme.localhost")]
    [InlineData("any-host.example")]
    public async Task Live_AnswersOnAnyHost(string host)
    {
        using var client = env.Gateway.Client(host);

        using var response = await client.GetAsync("/_gateway/health/live");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("healthy", json.RootElement.GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("acme.localhost")]
    [InlineData("any-host.example")]
    public async Task Ready_Anonymously_SaysOnlyTheStatus(string host)
    {
        using var client = env.Gateway.Client(host);

        using var response = await client.GetAsync("/_gateway/health/ready");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(["status"], json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("healthy", json.RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Ready_WithATenantAdminToken_StillSaysOnlyTheStatus()
    {
        var token = await ManagementClient.MintTokenAsync(env.Gateway.Config.Path, "ann", "tenant-admin", "acme");
        using var client = env.Gateway.Client("acme.localhost");
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);

        using var json = JsonDocument.Parse(await client.GetStringAsync("/_gateway/health/ready"));

        Assert.False(json.RootElement.TryGetProperty("checks", out _));
    }

    [Fact]
    public async Task Ready_ForAPlatformAdmin_ListsEachDependencyWithItsState()
    {
        var (status, body) = await env.Gateway.ReadinessAsync();

        Assert.Equal(HttpStatusCode.OK, status);
        var checks = body.GetProperty("checks");
        Assert.Equal("healthy", checks.GetProperty("configuration").GetProperty("status").GetString());
        Assert.Equal(20, checks.GetProperty("configuration").GetProperty("routes").GetInt32());
        var backends = checks.GetProperty("backends");
        Assert.Equal("healthy", backends.GetProperty("status").GetString());
        Assert.Equal(env.Acme.Address.ToString(), backends.GetProperty("acme")[0].GetString());
        Assert.Equal(env.Globex.Address.ToString(), backends.GetProperty("globex")[0].GetString());
    }
}
