using System.CommandLine;
using Gateway.Authentication;
using Gateway.Routing;

namespace Gateway.Cli;

/// <summary>
/// <c>config check</c>: loads a configuration directory exactly as start-up would, without
/// serving. Exit 0, or 2 with every problem named by its key.
/// </summary>
internal static class ConfigCheckCommand
{
    public static Command Create(CliConsole console)
    {
        var configDir = CliOptions.ConfigDir();
        var command = new Command("check", "Load a configuration directory exactly as start-up would, without serving: exit 0, or 2 with every problem named by its key.")
        {
            configDir,
        };
        var settings = CliOptions.Settings(command);
        command.Arguments.Add(settings);
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var app = await CliConfiguration.BuildAppAsync(parse.GetValue(configDir), parse.GetValue(settings) ?? []);
            var routes = app.Services.GetRequiredService<RouteConfigFileProvider>().Current;
            var users = app.Services.GetRequiredService<SupportUserDirectory>().Users.Count;
            await console.Output.WriteLineAsync($"configuration OK: {routes.Routes.Count} routes, {routes.Clusters.Count} clusters, {users} support users");
            return CliExitCodes.Done;
        });
        return command;
    }
}
