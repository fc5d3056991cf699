using System.CommandLine;
using System.Text.Json;
using Gateway.Policy;

namespace Gateway.Cli;

/// <summary>
/// <c>policy replay --routes CANDIDATE.json --audit EXPORT.ndjson</c>: every recorded support request
/// decided again under candidate routes (<see cref="PolicyReplay"/>); prints the requests whose
/// decision would change, grouped by tenant and route. Exit 0 when none would, 1 when some would.
/// </summary>
internal static class PolicyReplayCommand
{
    public static Command Create(CliConsole console)
    {
        var routes = new Option<FileInfo>("--routes") { Description = "The candidate routes file (the shape of routes.json).", HelpName = "file", Required = true };
        var audit = new Option<FileInfo>("--audit") { Description = "Recorded events, one JSON document per line: 'audit export' output or an Elasticsearch export ({\"_source\": …} per line).", HelpName = "file", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON instead of text." };
        var configDir = CliOptions.ConfigDir();
        var command = new Command("replay", "Decide every recorded support request again under candidate routes and list those whose decision would change; exit 0 none, 1 some.")
        {
            routes, audit, json, configDir,
        };
        var settings = CliOptions.Settings(command);
        command.Arguments.Add(settings);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var candidate = parse.GetRequiredValue(routes);
            var recorded = parse.GetRequiredValue(audit);
            foreach (var file in new[] { candidate, recorded })
            {
                if (!file.Exists)
                {
                    await console.Error.WriteLineAsync($"policy replay: no file '{file.FullName}'.");
                    return CliExitCodes.Usage;
                }
            }

            // The candidate is loaded exactly as the gateway would load it: an invalid file stops here with its keys named.
            await using var app = await CliConfiguration.BuildAppAsync(
                parse.GetValue(configDir), [.. parse.GetValue(settings) ?? [], $"--Gateway:Routing:RoutesFile={candidate.FullName}"]);
            var report = await PolicyReplay.RunAsync(app.Services.GetRequiredService<PolicyExplainer>(), File.ReadLines(recorded.FullName), cancellationToken);
            if (parse.GetValue(json))
            {
                await console.Output.WriteLineAsync(JsonSerializer.Serialize(report, PolicyReplayJsonContext.Default.ReplayReport));
            }
            else
            {
                PolicyReplay.WriteText(report, console.Output);
            }

            return report.AnyChange ? CliExitCodes.Refused : CliExitCodes.Done;
        });
        return command;
    }
}
