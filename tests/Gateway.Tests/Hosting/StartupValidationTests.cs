using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Gateway.Cli;
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

    [Fact]
    public async Task Production_RefusesTheShippedDemoSigningKey_NamingIt()
    {
        var error = await StartExpectingFailureAsync("--Gateway:Production=true");

        Assert.Contains(error.Errors, e => e.StartsWith("Management:Issuers:demo:SigningKey: is the demo key shipped in config/gateway.json", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Production_RefusesEverySymmetricKey()
    {
        var error = await StartExpectingFailureAsync(
            "--Gateway:Production=true",
            "--Management:Issuers:ops:Issuer=https://ops.example",
            "--Management:Issuers:ops:Audience=gateway",
            $"--Management:Issuers:ops:SigningKey={Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}");

        Assert.Contains(error.Errors, e => e.StartsWith("Management:Issuers:ops:SigningKey: shared symmetric keys are refused in a configuration marked Gateway:Production", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Production_RefusesMetadataOverHttp_AndRequireHttpsMetadataFalse_OneLineEach()
    {
        var error = await StartExpectingFailureAsync(
            "--Gateway:Production=true",
            "--Management:Issuers:kc:Issuer=http://keycloak.internal/realms/acme",
            "--Management:Issuers:kc:Audience=gateway",
            "--Management:Issuers:kc:Authority=http://keycloak.internal/realms/acme",
            "--Management:Issuers:kc:RequireHttpsMetadata=false");

        Assert.Single(error.Errors, e => e.StartsWith("Management:Issuers:kc:Authority: metadata over http is refused", StringComparison.Ordinal));
        Assert.Single(error.Errors, e => e.StartsWith("Management:Issuers:kc:RequireHttpsMetadata: must be true in a configuration marked Gateway:Production", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HttpMetadata_NeedsRequireHttpsMetadataFalse_EvenOutsideProduction()
    {
        var error = await StartExpectingFailureAsync(
            "--Management:Issuers:kc:Issuer=http://keycloak.internal/realms/acme",
            "--Management:Issuers:kc:Audience=gateway",
            "--Management:Issuers:kc:MetadataAddress=http://keycloak.internal/realms/acme/.well-known/openid-configuration");

        Assert.Contains(error.Errors, e => e.StartsWith("Management:Issuers:kc:MetadataAddress: must be https, unless RequireHttpsMetadata is false", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Production_AcceptsAnHttpsDiscoveryIssuer_InPlaceOfTheDemoKey()
    {
        _config.WriteSupportUsers(("ops-admin", "a-fresh-password-for-this-test"));

        await using var gateway = await GatewayHost.StartAsync(_config, new Dictionary<string, Uri>(), ProductionArgs.Create());

        Assert.NotEqual(0, gateway.Port);
    }

    [Fact]
    public async Task ConfigCheck_OfAProductionConfigurationWithDemoKeys_Exits2_WithOneLinePerProblem()
    {
        var settingsPath = Path.Combine(_config.Path, "gateway.json");
        var settings = JsonNode.Parse(File.ReadAllText(settingsPath))!;
        settings["Gateway"]!["Production"] = true;
        settings["Gateway"]!["Demo"]!["HostSampleApps"] = false;
        settings["Management"]!["Issuers"]!["kc"] = new JsonObject
        {
            ["Issuer"] = "http://keycloak.internal/realms/acme",
            ["Audience"] = "gateway",
            ["Authority"] = "http://keycloak.internal/realms/acme",
            ["RequireHttpsMetadata"] = false,
        };
        File.WriteAllText(settingsPath, settings.ToJsonString());
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await CliVerbs.RunAsync(["config", "check", "--config-dir", _config.Path], TextReader.Null, output, error);

        Assert.Equal(2, exit);
        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Single(lines, l => l.StartsWith("- Management:Issuers:demo:SigningKey:", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("- Management:Issuers:kc:Authority:", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("- Management:Issuers:kc:RequireHttpsMetadata:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Management:Issuers:demo: set exactly one of SigningKey, PublicKeyPem, Authority and MetadataAddress (found SigningKey, Authority)", "--Management:Issuers:demo:Authority=https://login.example.com/realms/ops")]
    [InlineData("Management:Issuers:demo:KeyId:", "--Management:Issuers:demo:SigningKey=", "--Management:Issuers:demo:Authority=https://login.example.com/realms/ops")]
    [InlineData("Management:Issuers:demo:Authority:", "--Management:Issuers:demo:SigningKey=", "--Management:Issuers:demo:KeyId=", "--Management:Issuers:demo:Authority=login.example.com")]
    [InlineData("Management:Issuers:demo:RoleMap:admins:", "--Management:Issuers:demo:RoleMap:admins=administrator")]
    [InlineData("Management:Issuers:demo:RoleMap:ops:", "--Management:Issuers:demo:Tenant=acme", "--Management:Issuers:demo:RoleMap:ops=platform-admin")]
    [InlineData("Management:Issuers:demo:Tenant:", "--Management:Issuers:demo:Tenant=initech")]
    [InlineData("Management:Issuers:demo:Claims:Roles:", "--Management:Issuers:demo:Claims:Roles=realm_access..roles")]
    [InlineData("Management:Issuers:demo:RefreshInterval:", "--Management:Issuers:demo:RefreshInterval=00:00:00.100")]
    [InlineData("Management:Issuers:demo:PagesClientId:", "--Management:Issuers:demo:PagesClientId=gateway-pages")]
    [InlineData("Management:Issuers:demo:PagesClientSecret: only with PagesClientId", "--Management:Issuers:demo:SigningKey=", "--Management:Issuers:demo:KeyId=", "--Management:Issuers:demo:Authority=https://login.example.com/realms/ops", "--Management:Issuers:demo:PagesClientSecret=s3cret")]
    [InlineData("Management:MetadataTimeout:", "--Management:MetadataTimeout=00:00:00")]
    public async Task InvalidIssuerSetting_StopsStartup_NamingTheKey(string line, params string[] settings)
    {
        var error = await StartExpectingFailureAsync(settings);

        Assert.Contains(error.Errors, e => e.StartsWith(line, StringComparison.Ordinal));
    }

    public void Dispose() => _config.Dispose();

    private async Task<GatewayConfigurationException> StartExpectingFailureAsync(params string[] extra) =>
        await Assert.ThrowsAsync<GatewayConfigurationException>(() => GatewayHost.StartAsync(
            _config,
            new Dictionary<string, Uri>(),
            extra));
}
