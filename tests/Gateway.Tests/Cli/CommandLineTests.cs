using Gateway.Cli;
using Gateway.Hosting;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Cli;

/// <summary>The command line itself: help, typed options, unknown tokens, and what reaches the server.</summary>
public sealed class CommandLineTests
{
    public static TheoryData<string[], string[]> HelpOfEveryVerb => new()
    {
        { [], ["token", "hash-password", "policy", "config", "audit", "init", "--config-dir", "--urls", "--Section:Key=value"] },
        { ["token"], ["--user", "--role", "--tenant", "--issuer", "--lifetime", "--config-dir"] },
        { ["hash-password"], ["standard input", "PBKDF2"] },
        { ["policy"], ["explain"] },
        { ["policy", "explain"], ["--tenant", "--method", "--path", "--deny-data", "--deny-config", "--config-dir", "--Section:Key=value"] },
        { ["config"], ["check"] },
        { ["config", "check"], ["--config-dir", "--Section:Key=value"] },
        { ["audit"], ["export"] },
        { ["audit", "export"], ["--spool-dir", "--unshipped", "--config-dir"] },
        { ["init"], ["--out", "--admin", "--tenant", "--host"] },
    };

    [Theory]
    [MemberData(nameof(HelpOfEveryVerb))]
    public async Task Help_OfEveryVerb_Exits0AndNamesItsOptions(string[] verb, string[] expected)
    {
        foreach (var help in new[] { "--help", "-h" })
        {
            var server = new RecordingServer();
            var result = await RunAsync([.. verb, help], server);

            Assert.Equal(0, result.Exit);
            Assert.Empty(result.Error);
            Assert.StartsWith("Description:", result.Output, StringComparison.Ordinal);
            Assert.Contains("Usage:", result.Output, StringComparison.Ordinal);
            Assert.Contains(string.Join(' ', verb) + " [", result.Output, StringComparison.Ordinal);
            foreach (var text in expected)
            {
                Assert.Contains(text, result.Output, StringComparison.Ordinal);
            }

            Assert.Null(server.Args);
        }
    }

    [Fact]
    public async Task Help_WinsOverMissingRequiredOptions()
    {
        var result = await CliRunner.RunAsync("init", "--help");

        Assert.Equal(0, result.Exit);
        Assert.Contains("--out <dir> (REQUIRED)", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--deny-data", "maybe")]
    [InlineData("--deny-config", "maybe")]
    [InlineData("--deny-data", "1")]
    public async Task PolicyExplain_ABooleanThatIsNotTrueOrFalse_Exits2NamingTheOption(string option, string value)
    {
        var result = await CliRunner.RunAsync("policy", "explain", "--tenant", "acme", "--path", "/api/orders", option, value);

        Assert.Equal(2, result.Exit);
        Assert.Empty(result.Output);
        Assert.Equal($"policy explain: {option}: '{value}' is not true or false.", result.ErrorLines[0]);
        AssertUsageErrorShape(result);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-01:00:00")]
    [InlineData("00:00:00")]
    public async Task Token_ALifetimeThatIsNotAPositiveTimeSpan_Exits2NamingTheOption(string value)
    {
        var result = await CliRunner.RunAsync("token", "--user", "olivia", "--role", "platform-admin", "--lifetime", value);

        Assert.Equal(2, result.Exit);
        Assert.Empty(result.Output);
        Assert.StartsWith("token: --lifetime:", result.ErrorLines[0], StringComparison.Ordinal);
        AssertUsageErrorShape(result);
    }

    [Theory]
    [InlineData("token", "--user", "olivia", "--role", "platform-admin", "--bogus")]
    [InlineData("hash-password", "--bogus")]
    [InlineData("policy", "explain", "--tenant", "acme", "--path", "/", "--bogus")]
    [InlineData("policy", "explain", "--tenant", "acme", "--path", "/", "stray")]
    [InlineData("config", "check", "--bogus")]
    [InlineData("config", "check", "--Gateway:Production")]
    [InlineData("audit", "export", "--bogus")]
    [InlineData("init", "--out", "/nonexistent/never-written", "--bogus")]
    [InlineData("policy", "describe")]
    [InlineData("policy")]
    public async Task UnknownOptionsAndWords_Exit2WithOneLineEach(params string[] args)
    {
        var result = await CliRunner.RunAsync(args);

        Assert.Equal(2, result.Exit);
        Assert.Empty(result.Output);
        Assert.StartsWith(args[0], result.ErrorLines[0], StringComparison.Ordinal);
        AssertUsageErrorShape(result);
        Assert.False(Directory.Exists("/nonexistent/never-written"));
    }

    [Theory]
    [InlineData("tokn", "--user", "olivia")]
    [InlineData("--bogus")]
    [InlineData("--Gateway:Production")]
    [InlineData("--urls")]
    public async Task Root_AMistypedVerbOrUnknownOption_Exits2AndNeverStartsTheServer(params string[] args)
    {
        var server = new RecordingServer();
        var result = await RunAsync(args, server);

        Assert.Equal(2, result.Exit);
        Assert.Null(server.Args);
        Assert.StartsWith("Gateway: ", result.ErrorLines[0], StringComparison.Ordinal);
        AssertUsageErrorShape(result);
    }

    [Theory]
    [InlineData("--config-dir", "/srv/gateway/config")]
    [InlineData("--Gateway:Production=false")]
    public async Task Root_ServerOptionsBeforeAVerb_Exit2InsteadOfBeingIgnored(params string[] serverArgs)
    {
        var server = new RecordingServer();
        var result = await RunAsync([.. serverArgs, "token", "--user", "olivia", "--role", "platform-admin"], server);

        Assert.Equal(2, result.Exit);
        Assert.Empty(result.Output);
        Assert.Null(server.Args);
        Assert.Equal($"token: '{string.Join(' ', serverArgs)}' before the verb is for the server; give the verb's own options after it.", result.ErrorLines[0]);
        AssertUsageErrorShape(result);
    }

    [Theory]
    [InlineData]
    [InlineData("--config-dir", "/srv/gateway/config", "--urls", "http://+:8080")]
    [InlineData("--config-dir=/srv/gateway/config", "--urls=http://+:8080")]
    [InlineData("--Gateway:Production=true", "--Redis:Configuration=redis:6379,password=x,abortConnect=false", "--urls", "http://127.0.0.1:0")]
    [InlineData("--Audit:SpoolDirectory", "/var/spool/gateway", "--Support:SigningKeyPem=@not-a-response-file")]
    [InlineData("--environment=Production", "--ReverseProxy:Clusters:acme:Destinations:primary:Address=http://10.0.0.5:8080/")]
    public async Task Root_WithoutAVerb_RunsTheServerWithTheArgumentsUnchanged(params string[] args)
    {
        var server = new RecordingServer(exitCode: 7);
        var result = await RunAsync(args, server);

        Assert.Equal(7, result.Exit);
        Assert.Equal(args, server.Args);
        Assert.Empty(result.Error);
    }

    [Fact]
    public async Task GatewayProgram_Help_Exits0WithoutBuildingTheGateway()
    {
        // The directory does not exist: building the gateway would fail with exit code 2.
        string[] args = ["--config-dir", "/nonexistent/gateway-config"];

        var help = await RunProgramAsync([.. args, "--help"]);
        var server = await RunProgramAsync(args);

        Assert.Equal(0, help.Exit);
        Assert.Contains("Usage:", help.Output, StringComparison.Ordinal);
        Assert.Empty(help.Error);
        Assert.Equal(GatewayProgram.ConfigurationErrorExitCode, server.Exit);
        Assert.Contains("/nonexistent/gateway-config", server.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GatewayBinary_Help_PrintsUsageAndExits0()
    {
        await using var process = GatewayProcess.Start(["--help"]);

        Assert.Equal(0, await process.WaitForExitAsync());
        Assert.Contains("Usage:", process.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("listening", process.StandardOutput, StringComparison.OrdinalIgnoreCase);
    }

    private static void AssertUsageErrorShape(CliRunner.Result result)
    {
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Error, StringComparison.Ordinal);
        Assert.StartsWith("Run 'Gateway ", result.ErrorLines[^1], StringComparison.Ordinal);
    }

    private static async Task<CliRunner.Result> RunAsync(string[] args, RecordingServer server)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await GatewayCommandLine.RunAsync(args, new CliConsole(TextReader.Null, output, error), server.RunAsync, CancellationToken.None);
        return new CliRunner.Result(exit, output.ToString(), error.ToString());
    }

    private static async Task<CliRunner.Result> RunProgramAsync(string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await GatewayProgram.RunAsync(args, new CliConsole(TextReader.Null, output, error));
        return new CliRunner.Result(exit, output.ToString(), error.ToString());
    }

    /// <summary>Stands in for the server: records the arguments it would have started with.</summary>
    private sealed class RecordingServer(int exitCode = 0)
    {
        public string[]? Args { get; private set; }

        public Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
        {
            Args = args;
            return Task.FromResult(exitCode);
        }
    }
}
