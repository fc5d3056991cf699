using Gateway.Cli;

namespace Gateway.Hosting;

/// <summary>
/// The process entry: parses the command line (<see cref="GatewayCommandLine"/>) and runs a verb,
/// prints help, or runs the gateway; configuration errors become a clear message and exit code 2.
/// </summary>
public static class GatewayProgram
{
    public const int ConfigurationErrorExitCode = CliExitCodes.Usage;

    public static Task<int> RunAsync(string[] args) => RunAsync(args, CliConsole.Standard);

    /// <summary>As <see cref="RunAsync(string[])"/>, writing to <paramref name="console"/> (tests).</summary>
    internal static Task<int> RunAsync(string[] args, CliConsole console) =>
        GatewayCommandLine.RunAsync(args, console, (serverArgs, _) => RunServerAsync(serverArgs, console.Error), CancellationToken.None);

    /// <summary>Builds and runs the gateway with the program's arguments, unchanged.</summary>
    private static async Task<int> RunServerAsync(string[] args, TextWriter error)
    {
        WebApplication app;
        try
        {
            app = await GatewayApp.CreateAsync(args);
        }
        catch (GatewayConfigurationException ex)
        {
            await error.WriteLineAsync("The gateway cannot start: its configuration is invalid.");
            foreach (var line in ex.Errors)
            {
                await error.WriteLineAsync("  - " + line);
            }

            return ConfigurationErrorExitCode;
        }

        await using (app)
        {
            try
            {
                await app.RunAsync();
            }
            catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
            {
                // Kestrel says which address; one line, no stack trace.
                await error.WriteLineAsync($"The gateway cannot start: {ex.Message}");
                return ConfigurationErrorExitCode;
            }
        }

        return 0;
    }
}
