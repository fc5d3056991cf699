using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Gateway.Hosting;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Hosting;

/// <summary>The gateway binary as users run it: config directory, environment overrides, exit codes, demo mode.</summary>
public sealed class GatewayProcessTests : IAsyncLifetime
{
    private readonly TempConfigDirectory _config = new();
    private SampleBackend _backend = null!;

    public async Task InitializeAsync() => _backend = await SampleBackend.StartAsync("from-env");

    public async Task DisposeAsync()
    {
        await _backend.DisposeAsync();
        _config.Dispose();
    }

    [Fact]
    public async Task ConfigDirFromEnvironment_AndSectionKeyOverrides_AreHonoured()
    {
        await using var gateway = GatewayProcess.Start(
            ["--urls", "http://127.0.0.1:0"],
            new Dictionary<string, string>
            {
                ["GATEWAY_CONFIG_DIR"] = _config.Path,
                ["Gateway__Demo__HostSampleApps"] = "false",
                ["Serilog__WriteTo__File__Args__path"] = Path.Combine(_config.LogDirectory, "gateway-.log"),
                ["Audit__SpoolDirectory"] = Path.Combine(_config.LogDirectory, "spool"),
                ["ReverseProxy__Clusters__acme__Destinations__primary__Address"] = _backend.Address.ToString(),
            });
        var address = await gateway.ListeningAsync();
        using var client = LoopbackHttp.Client(address.Port, "acme.localhost");

        using var response = await client.GetAsync("/api/echo/env");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("from-env", Assert.Single(response.Headers.GetValues("X-Sample-App")));
        Assert.Contains($"Configuration directory: {_config.Path}", gateway.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidConfiguration_ExitsWithCode2_AndNamesTheKey()
    {
        _config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["globex-events"]!["Metadata"]!["SupportClass"] = "public");
        await using var gateway = GatewayProcess.Start(["--config-dir", _config.Path, "--urls", "http://127.0.0.1:0", "--Gateway:Demo:HostSampleApps=false", $"--Audit:SpoolDirectory={Path.Combine(_config.LogDirectory, "spool")}"]);

        var exitCode = await gateway.WaitForExitAsync();

        Assert.Equal(GatewayProgram.ConfigurationErrorExitCode, exitCode);
        Assert.Contains("ReverseProxy:Routes:globex-events:Metadata:SupportClass", gateway.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddressInUse_ExitsWithCode2_InOneLineWithoutAStackTrace()
    {
        using var occupant = new TcpListener(IPAddress.Loopback, 0);
        occupant.Start();
        var port = ((IPEndPoint)occupant.LocalEndpoint).Port;
        await using var gateway = GatewayProcess.Start(["--config-dir", _config.Path, "--urls", $"http://127.0.0.1:{port}", "--Gateway:Demo:HostSampleApps=false", $"--Audit:SpoolDirectory={Path.Combine(_config.LogDirectory, "spool")}"]);

        var exitCode = await gateway.WaitForExitAsync();

        Assert.Equal(GatewayProgram.ConfigurationErrorExitCode, exitCode);
        var error = gateway.StandardError.Trim();
        Assert.Equal($"The gateway cannot start: Failed to bind to address http://127.0.0.1:{port}: address already in use.", error);
        Assert.DoesNotContain("   at ", gateway.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DemoMode_HostsTheSampleAppsItRoutesTo()
    {
        var (acmePort, globexPort) = (LoopbackPorts.Reserve(), LoopbackPorts.Reserve());
        await using var gateway = GatewayProcess.Start(
        [
            "--config-dir", RepoPaths.ConfigDir,
            "--urls", "http://127.0.0.1:0",
            $"--Gateway:Demo:SampleApps:acme=http://127.0.0.1:{acmePort}",
            $"--Gateway:Demo:SampleApps:globex=http://127.0.0.1:{globexPort}",
            $"--ReverseProxy:Clusters:acme:Destinations:primary:Address=http://127.0.0.1:{acmePort}/",
            $"--ReverseProxy:Clusters:globex:Destinations:primary:Address=http://127.0.0.1:{globexPort}/",
            $"--Serilog:WriteTo:File:Args:path={Path.Combine(_config.LogDirectory, "gateway-.log")}",
            $"--Audit:SpoolDirectory={Path.Combine(_config.LogDirectory, "spool")}",
        ]);
        var address = await gateway.ListeningAsync();

        foreach (var tenant in new[] { "acme", "globex" })
        {
            using var client = LoopbackHttp.Client(address.Port, $"{tenant}.localhost");
            using var response = await client.GetAsync("/api/orders");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(tenant, Assert.Single(response.Headers.GetValues("X-Sample-App")));
            using var orders = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(JsonValueKind.Array, orders.RootElement.ValueKind);
        }
    }

}
