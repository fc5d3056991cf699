using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Health;

/// <summary>The operators' listener shows readiness details without a token and serves nothing else; degraded states are logged once.</summary>
public sealed class ManagementListenerTests : IAsyncLifetime
{
    private readonly int _managementPort = LoopbackPorts.Reserve();
    private SampleBackend _backend = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _backend = await SampleBackend.StartAsync("acme");
        _gateway = await GatewayHost.StartAsync(
            new Dictionary<string, Uri> { ["acme"] = _backend.Address, ["globex"] = _backend.Address },
            $"--Gateway:ManagementUrls=http://127.0.0.1:{_managementPort}");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task ManagementListener_ShowsReadinessDetails_WithoutAToken()
    {
        using var client = LoopbackHttp.Client(_managementPort, "anything.internal");

        using var json = JsonDocument.Parse(await client.GetStringAsync("/_gateway/health/ready"));

        Assert.Equal("healthy", json.RootElement.GetProperty("checks").GetProperty("grantStore").GetProperty("status").GetString());
    }

    [Fact]
    public async Task ManagementListener_NeverProxies_NorServesTheManagementApi()
    {
        var hits = _backend.Hits.Total;
        using var client = LoopbackHttp.Client(_managementPort, "acme.localhost");

        using var proxied = await client.GetAsync("/api/orders");
        using var api = await client.GetAsync("/_gateway/platform/support");

        Assert.Equal("gateway.not_found", await ManagementClient.ProblemCodeAsync(proxied, 404));
        Assert.Equal("gateway.not_found", await ManagementClient.ProblemCodeAsync(api, 404));
        Assert.Equal(hits, _backend.Hits.Total);
    }

    [Fact]
    public async Task TenantListener_DoesNotGiveDetailsAway()
    {
        using var client = _gateway.Client("acme.localhost");

        using var json = JsonDocument.Parse(await client.GetStringAsync("/_gateway/health/ready"));

        Assert.False(json.RootElement.TryGetProperty("checks", out _));
    }

    [Fact]
    public async Task DegradedState_IsLoggedWhenItBeginsAndEnds_NotPerProbe()
    {
        using var client = LoopbackHttp.Client(_managementPort, "localhost");
        var original = File.ReadAllText(_gateway.Config.RoutesPath);
        var reload = _gateway.NextReloadAsync();
        _gateway.Config.WriteRoutesText("{ not json");
        Assert.NotNull((await reload).Rejected);

        for (var i = 0; i < 5; i++)
        {
            using var probe = await client.GetAsync("/_gateway/health/ready");
            Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
        }

        Assert.Single(_gateway.Logs.Entries, e => e.EventId.Id == 1060 && e.Level == LogLevel.Warning && e.Message.Contains("configuration", StringComparison.Ordinal));
        Assert.DoesNotContain(_gateway.Logs.Entries, e => e.Category.StartsWith("Microsoft.Extensions.Diagnostics.HealthChecks", StringComparison.Ordinal) && e.Level >= LogLevel.Warning);

        reload = _gateway.NextReloadAsync();
        _gateway.Config.WriteRoutesText(original);
        Assert.NotNull((await reload).Applied);
        for (var i = 0; i < 3; i++)
        {
            using var probe = await client.GetAsync("/_gateway/health/ready");
        }

        Assert.Single(_gateway.Logs.Entries, e => e.EventId.Id == 1061 && e.Message.Contains("configuration", StringComparison.Ordinal));
    }
}
