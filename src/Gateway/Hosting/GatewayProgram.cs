namespace Gateway.Hosting;

/// <summary>The process entry: runs the gateway and turns configuration errors into a clear message and exit code 2.</summary>
public static class GatewayProgram
{
    public const int ConfigurationErrorExitCode = 2;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length > 0 && Cli.CliVerbs.Names.Contains(args[0]))
        {
            return await Cli.CliVerbs.RunAsync(args, Console.In, Console.Out, Console.Error);
        }

        WebApplication app;
        try
        {
            app = await GatewayApp.CreateAsync(args);
        }
        catch (GatewayConfigurationException ex)
        {
            await Console.Error.WriteLineAsync("The gateway cannot start: its configuration is invalid.");
            foreach (var error in ex.Errors)
            {
                await Console.Error.WriteLineAsync("  - " + error);
            }

            return ConfigurationErrorExitCode;
        }

        await using (app)
        {
            await app.RunAsync();
        }

        return 0;
    }
}
