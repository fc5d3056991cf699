using System.CommandLine;
using System.Text.Json;
using Gateway.Policy;

namespace Gateway.Cli;

/// <summary>
/// <c>policy explain</c>: what the route policy does with one request of a support session. Prints
/// JSON; exit 0 when a support session with that isolation would be let through, 1 when refused.
/// </summary>
internal static class PolicyExplainCommand
{
    public static Command Create(CliConsole console)
    {
        var tenant = new Option<string>("--tenant") { Description = "The tenant whose routes are consulted.", HelpName = "id", Required = true };
        var method = new Option<string>("--method") { Description = "The HTTP method.", HelpName = "method", DefaultValueFactory = _ => "GET" };
        var path = new Option<string>("--path") { Description = "The request target, as sent (path and query, percent-encoding kept).", HelpName = "path", Required = true };
        var denyData = CliOptions.Boolean("--deny-data", "Whether the grant blocks data routes.", defaultValue: true);
        var denyConfig = CliOptions.Boolean("--deny-config", "Whether the grant blocks writes to config routes.", defaultValue: true);
        var configDir = CliOptions.ConfigDir();

        var command = new Command("explain", "Explain what the route policy does with one request of a support session: JSON; exit 0 allowed, 1 refused.")
        {
            tenant, method, path, denyData, denyConfig, configDir,
        };
        var settings = CliOptions.Settings(command);
        command.Arguments.Add(settings);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var request = new ExplainRequest
            {
                Tenant = parse.GetRequiredValue(tenant),
                Method = parse.GetRequiredValue(method),
                Path = parse.GetRequiredValue(path),
                DenyData = parse.GetValue(denyData).Value,
                DenyConfig = parse.GetValue(denyConfig).Value,
            };
            if (PolicyEndpoints.Validate(request) is { } invalid)
            {
                await console.Error.WriteLineAsync($"policy explain: {invalid}");
                return CliExitCodes.Usage;
            }

            await using var app = await CliConfiguration.BuildAppAsync(parse.GetValue(configDir), parse.GetValue(settings) ?? []);
            var explanation = await app.Services.GetRequiredService<PolicyExplainer>()
                .ExplainAsync(request.Tenant, request.Method, request.Path, request.DenyData, request.DenyConfig);
            await console.Output.WriteLineAsync(JsonSerializer.Serialize(explanation, PolicyJsonContext.Default.PolicyExplanation));
            return explanation.Allowed ? CliExitCodes.Done : CliExitCodes.Refused;
        });
        return command;
    }
}
