using Gateway.Hosting;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Hosting;

/// <summary>A settings file the configuration system would misread or silently ignore stops start-up with one line each.</summary>
public sealed class SettingsFileTests : IDisposable
{
    private readonly TempConfigDirectory _config = new();

    public void Dispose() => _config.Dispose();

    [Fact]
    public async Task InvalidJson_StopsStartup_WithLineAndByte_NotTheContent()
    {
        var path = Path.Combine(_config.Path, "gateway.json");
        var text = File.ReadAllText(path);
        File.WriteAllText(path, text.Replace("\"Production\": false,", "\"Production\": false,, \"Secret\": \"s3cr3t-value\"", StringComparison.Ordinal));

        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(() => GatewayHost.StartAsync(_config, new Dictionary<string, Uri>()));

        var line = Assert.Single(error.Errors);
        Assert.Matches(@"^gateway\.json: not valid JSON \(line \d+, byte \d+\)\.$", line);
        Assert.DoesNotContain("s3cr3t", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownTopLevelSection_StopsStartup_NamingIt()
    {
        var path = Path.Combine(_config.Path, "gateway.json");
        var text = File.ReadAllText(path);
        File.WriteAllText(path, text.Replace("\"Grants\": {", "\"Grantz\": { \"MaxDurationHours\": 1 }, \"Grants\": {", StringComparison.Ordinal));

        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(() => GatewayHost.StartAsync(_config, new Dictionary<string, Uri>()));

        Assert.StartsWith("gateway.json: Grantz: unknown section", Assert.Single(error.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidJson_InConfigCheck_Exits2_WithOneLine()
    {
        File.WriteAllText(Path.Combine(_config.Path, "gateway.json"), "{ \"Gateway\": ");
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await Gateway.Cli.CliVerbs.RunAsync(["config", "check", "--config-dir", _config.Path], TextReader.Null, output, error);

        Assert.Equal(2, exit);
        Assert.Contains("gateway.json: not valid JSON (line", error.ToString(), StringComparison.Ordinal);
    }
}
