using System.Text.Json.Nodes;
using Gateway.Hosting;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Hosting;

/// <summary>Bad configuration stops start-up, and the message names the key at fault.</summary>
public sealed class StartupValidationTests : IDisposable
{
    private readonly TempConfigDirectory _config = new();

    [Fact]
    public async Task UnknownRouteClass_StopsStartup_NamingTheRouteKey()
    {
        _config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["acme-orders"]!["Metadata"]!["SupportClass"] = "secret");

        var error = await StartExpectingFailureAsync();

        Assert.Contains(error.Errors, e => e.StartsWith("ReverseProxy:Routes:acme-orders:Metadata:SupportClass", StringComparison.Ordinal) && e.Contains("'secret'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MisspelledRouteKey_StopsStartup_InsteadOfBeingIgnored()
    {
        _config.EditRoutes(r =>
        {
            var match = (JsonObject)r["ReverseProxy"]!["Routes"]!["acme-orders"]!["Match"]!;
            match["Pathh"] = match["Path"]!.GetValue<string>();
        });

        var error = await StartExpectingFailureAsync();

        Assert.Contains(error.Errors, e => e.Contains("ReverseProxy:Routes:acme-orders", StringComparison.Ordinal) && e.Contains("Pathh", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RouteToUnknownCluster_StopsStartup()
    {
        _config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["globex-home"]!["ClusterId"] = "initech");

        var error = await StartExpectingFailureAsync();

        Assert.Contains(error.Errors, e => e.StartsWith("ReverseProxy:Routes:globex-home:ClusterId", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RouteForHostOfNoTenant_StopsStartup()
    {
        _config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["acme-home"]!["Match"]!["Hosts"] = new JsonArray("initech.localhost"));

        var error = await StartExpectingFailureAsync();

        Assert.Contains(error.Errors, e => e.StartsWith("ReverseProxy:Routes:acme-home:Match:Hosts:0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MalformedRoutesJson_StopsStartup_NamingTheFile()
    {
        _config.WriteRoutesText("{ \"ReverseProxy\": { \"Routes\": ");

        var error = await StartExpectingFailureAsync();

        Assert.Contains(error.Errors, e => e.StartsWith("routes.json:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--Gateway:Tenantz:acme:Hosts:0=x.localhost", "Gateway:Tenantz")]
    [InlineData("--Gateway:Tenants:acme:TimeZone=Mars/Olympus", "Gateway:Tenants:acme:TimeZone")]
    [InlineData("--Gateway:Tenants:globex:Hosts:0=acme.localhost", "Gateway:Tenants:globex:Hosts:0")]
    [InlineData("--Gateway:Routing:DefaultClass=everything", "Gateway:Routing:DefaultClass")]
    [InlineData("--Gateway:Demo:SampleApps:acme=ftp://nope", "Gateway:Demo:SampleApps:acme")]
    public async Task InvalidGatewaySetting_StopsStartup_NamingTheKey(string setting, string key)
    {
        var error = await StartExpectingFailureAsync("--Gateway:Demo:HostSampleApps=true", setting);

        Assert.Contains(error.Errors, e => e.Contains(key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task MissingConfigDirectory_StopsStartup()
    {
        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(
            () => GatewayApp.CreateAsync(["--config-dir", Path.Combine(_config.Path, "nope")]));

        Assert.Contains("--config-dir", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _config.Dispose();

    private async Task<GatewayConfigurationException> StartExpectingFailureAsync(params string[] extra) =>
        await Assert.ThrowsAsync<GatewayConfigurationException>(() => GatewayHost.StartAsync(
            _config,
            new Dictionary<string, Uri>(),
            extra));
}
