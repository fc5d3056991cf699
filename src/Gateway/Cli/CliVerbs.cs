namespace Gateway.Cli;

/// <summary>
/// Runs a verb of the gateway binary in-process with the given streams (tests, helpers). The
/// process itself enters through <see cref="Hosting.GatewayProgram"/>; both parse with
/// <see cref="GatewayCommandLine"/>. Exit codes: 0 done, 1 refused, 2 bad usage or configuration.
/// </summary>
internal static class CliVerbs
{
    public static Task<int> RunAsync(string[] args, TextReader input, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        return GatewayCommandLine.RunAsync(args, new CliConsole(input, output, error), NoServerAsync, cancellationToken);

        async Task<int> NoServerAsync(string[] serverArgs, CancellationToken token)
        {
            await error.WriteLineAsync("Gateway: name a verb (see --help); the server runs only from the gateway binary.");
            return CliExitCodes.Usage;
        }
    }
}
