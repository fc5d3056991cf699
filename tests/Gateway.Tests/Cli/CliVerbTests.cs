using Gateway.Authentication;
using Gateway.Cli;
using Gateway.Tests.Infrastructure;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Gateway.Tests.Cli;

public sealed class CliVerbTests : IDisposable
{
    private readonly TempConfigDirectory _config = new();

    [Fact]
    public async Task Token_PrintsAManagementTokenWithTheGivenClaims()
    {
        var (exit, output, _) = await RunAsync("token", "--config-dir", _config.Path, "--user", "ann", "--role", "tenant-admin", "--tenant", "acme");

        Assert.Equal(0, exit);
        var jwt = new JsonWebToken(output.Trim());
        Assert.Equal("ann", jwt.Subject);
        Assert.Equal("acme", jwt.GetClaim("tenant").Value);
        Assert.Equal("tenant-admin", jwt.GetClaim("roles").Value);
        Assert.Equal("https://demo-issuer.gateway.invalid", jwt.Issuer);
        Assert.Equal("HS256", jwt.Alg);
    }

    [Fact]
    public async Task Token_RefusesAProductionConfiguration()
    {
        var settings = Path.Combine(_config.Path, "gateway.json");
        File.WriteAllText(settings, File.ReadAllText(settings).Replace("\"Production\": false", "\"Production\": true", StringComparison.Ordinal));

        var (exit, output, error) = await RunAsync("token", "--config-dir", _config.Path, "--user", "olivia", "--role", "platform-admin");

        Assert.Equal(1, exit);
        Assert.Empty(output);
        Assert.Contains("Gateway:Production", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--user", "ann", "--role", "superuser", "--tenant", "acme")]
    [InlineData("--user", "ann", "--role", "tenant-admin")]
    [InlineData("--user", "ann", "--role", "tenant-admin", "--tenant", "initech")]
    [InlineData("--role", "platform-admin")]
    [InlineData("--user", "ann", "--role", "platform-admin", "--bogus", "x")]
    public async Task Token_BadArguments_Exit2WithAMessage(params string[] args)
    {
        var (exit, output, error) = await RunAsync(["token", "--config-dir", _config.Path, .. args]);

        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.StartsWith("token:", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HashPassword_PrintsAVerifiablePbkdf2Hash()
    {
        var (exit, output, _) = await RunAsync(new StringReader("correct horse battery staple\n"), "hash-password");

        Assert.Equal(0, exit);
        var hash = output.Trim();
        Assert.StartsWith("pbkdf2-sha256$600000$", hash, StringComparison.Ordinal);
        Assert.DoesNotContain("correct horse", hash, StringComparison.Ordinal);
        Assert.True(PasswordHasher.Verify("correct horse battery staple", hash));
        Assert.False(PasswordHasher.Verify("correct horse battery stapler", hash));
    }

    [Fact]
    public async Task HashPassword_EmptyInput_Exit2()
    {
        var (exit, output, _) = await RunAsync(new StringReader(""), "hash-password");

        Assert.Equal(2, exit);
        Assert.Empty(output);
    }

    [Fact]
    public async Task Verbs_RunFromTheGatewayBinary()
    {
        await using var process = GatewayProcess.Start(["token", "--config-dir", _config.Path, "--user", "olivia", "--role", "platform-admin"]);

        Assert.Equal(0, await process.WaitForExitAsync());
        Assert.Equal(3, process.StandardOutput.Trim().Split('.').Length);
    }

    [Theory]
    [InlineData("PUT", "/api/settings/theme", "false", "true", 1, "support.isolation.config")]
    [InlineData("GET", "/api/settings/theme", "true", "true", 0, null)]
    [InlineData("GET", "/api/orders", "true", "false", 1, "support.isolation.data")]
    [InlineData("GET", "/api/orders", "false", "true", 0, null)]
    [InlineData("GET", "/api/credentials/password", "false", "false", 1, "support.forbidden_route")]
    [InlineData("GET", "/api/echo/..%2fcredentials", "false", "false", 1, "support.request.ambiguous")]
    public async Task PolicyExplain_SaysWhichRouteClassAndWhy(string method, string path, string denyData, string denyConfig, int expectedExit, string? code)
    {
        var (exit, output, _) = await RunAsync("policy", "explain", "--config-dir", _config.Path, "--tenant", "acme", "--method", method, "--path", path, "--deny-data", denyData, "--deny-config", denyConfig);

        Assert.Equal(expectedExit, exit);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal(expectedExit == 0, json.RootElement.GetProperty("allowed").GetBoolean());
        Assert.Equal(code, json.RootElement.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("reason").GetString()));
    }

    [Fact]
    public async Task ConfigCheck_AcceptsAGoodDirectory_AndNamesTheKeysOfABadOne()
    {
        var (ok, okOutput, _) = await RunAsync("config", "check", "--config-dir", _config.Path);
        Assert.Equal(0, ok);
        Assert.StartsWith("configuration OK: 20 routes, 2 clusters, 2 support users", okOutput, StringComparison.Ordinal);

        _config.EditRoutes(r => r["ReverseProxy"]!["Routes"]!["acme-orders"]!["Metadata"]!["SupportClass"] = "secret");
        var (bad, badOutput, error) = await RunAsync("config", "check", "--config-dir", _config.Path);
        Assert.Equal(2, bad);
        Assert.Empty(badOutput);
        Assert.Contains("ReverseProxy:Routes:acme-orders:Metadata:SupportClass", error, StringComparison.Ordinal);
    }

    public void Dispose() => _config.Dispose();

    private static Task<(int Exit, string Output, string Error)> RunAsync(params string[] args) => RunAsync(TextReader.Null, args);

    private static async Task<(int Exit, string Output, string Error)> RunAsync(TextReader input, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await CliVerbs.RunAsync(args, input, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}
