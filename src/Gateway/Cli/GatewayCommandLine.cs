using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Gateway.Hosting;

namespace Gateway.Cli;

/// <summary>Runs the gateway server with the program's arguments, unchanged; returns the exit code.</summary>
internal delegate Task<int> ServerEntry(string[] args, CancellationToken cancellationToken);

/// <summary>
/// The gateway binary's command line: the server when no verb is named, else one verb. Each verb
/// lives in its own file and is registered here with one line; a verb of a group (<c>policy
/// explain</c>) names its group, which is created on first use.
/// </summary>
internal static class GatewayCommandLine
{
    /// <summary>What a verb group is for, shown by <c>--help</c>.</summary>
    private static readonly Dictionary<string, string> GroupDescriptions = new(StringComparer.Ordinal)
    {
        ["policy"] = "Route policy tools.",
        ["config"] = "Configuration directory tools.",
        ["audit"] = "Audit spool tools.",
        ["mfa"] = "Two-step sign-in of support users.",
    };

    // An argument that starts with '@' is a literal here (a configuration value may), not a response file.
    private static readonly ParserConfiguration Parser = new() { ResponseFileTokenReplacer = null };

    /// <summary>Builds the root command. <paramref name="server"/> runs, with <paramref name="args"/>, when no verb is named.</summary>
    public static RootCommand Create(CliConsole console, ServerEntry server, IReadOnlyList<string> args)
    {
        var root = new RootCommand(
            "The support-session gateway. Without a verb it runs the server: --config-dir DIR, --urls URLS and any --Section:Key=value configuration override.");

        Add(root, TokenCommand.Create(console));
        Add(root, HashPasswordCommand.Create(console));
        Add(root, PolicyExplainCommand.Create(console), group: "policy");
        Add(root, PolicyReplayCommand.Create(console), group: "policy");
        Add(root, ConfigCheckCommand.Create(console), group: "config");
        Add(root, AuditExportCommand.Create(console), group: "audit");
        Add(root, AuditVerifyCommand.Create(console), group: "audit");
        Add(root, InitCommand.Create(console));
        Add(root, MfaEnrollCommand.Create(console), group: "mfa");

        // The server's own options are declared so --help lists them; the configuration system
        // reads them (and every override) from the unchanged arguments.
        root.Options.Add(CliOptions.ConfigDir());
        root.Options.Add(new Option<string?>("--urls") { Description = "Where the server listens, e.g. http://127.0.0.1:8080 (';' between several).", HelpName = "urls" });
        // Hidden: listed in the root's description instead, so verbs' usage lines do not repeat it.
        var settings = CliOptions.Settings(root);
        settings.Hidden = true;
        root.Arguments.Add(settings);
        string[] serverArgs = [.. args];
        root.SetAction((_, cancellationToken) => server(serverArgs, cancellationToken));
        return root;
    }

    /// <summary>
    /// Parses <paramref name="args"/> and runs what they ask for: help, a verb, or the server.
    /// Parse errors are written to standard error, one line each, with exit code 2; a verb's
    /// failure is one line too, never a stack trace.
    /// </summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CliConsole console, ServerEntry server, CancellationToken cancellationToken)
    {
        var parse = Create(console, server, args).Parse(args, Parser);
        var verb = VerbPath(parse.CommandResult);
        var misplaced = MisplacedServerArguments(parse);
        if (parse.Action is ParseErrorAction || misplaced is not null)
        {
            foreach (var error in parse.Errors.Select(e => e.Message).Append(misplaced).OfType<string>())
            {
                await console.Error.WriteLineAsync($"{verb}: {OneLine(error)}");
            }

            await console.Error.WriteLineAsync($"Run '{HelpCommand(parse.CommandResult)}' for usage.");
            return CliExitCodes.Usage;
        }

        var invocation = new InvocationConfiguration
        {
            Output = console.Output,
            Error = console.Error,
            // Exceptions are turned into one line below; Ctrl+C is left to the server's host.
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };
        var isServer = parse.CommandResult.Command is RootCommand;
        try
        {
            return await parse.InvokeAsync(invocation, cancellationToken);
        }
        catch (GatewayConfigurationException ex) when (!isServer)
        {
            await console.Error.WriteLineAsync($"{verb}: the configuration is invalid:");
            foreach (var line in ex.Errors)
            {
                await console.Error.WriteLineAsync("  - " + OneLine(line));
            }

            return CliExitCodes.Usage;
        }
        catch (Exception ex) when (!isServer && ex is not OperationCanceledException)
        {
            await console.Error.WriteLineAsync($"{verb}: failed: {OneLine(ex.Message)}");
            return CliExitCodes.Refused;
        }
    }

    /// <summary>
    /// The server's options before a verb (<c>Gateway --config-dir D token ...</c>) would be
    /// silently ignored, the verb running on the default directory: an error instead.
    /// </summary>
    private static string? MisplacedServerArguments(ParseResult parse)
    {
        if (parse.CommandResult.Command is RootCommand || parse.Action is HelpAction)
        {
            return null;
        }

        var given = parse.RootCommandResult.Children
            .Where(c => c is OptionResult { Implicit: false } or ArgumentResult { Tokens.Count: > 0 })
            .SelectMany(c => c.Tokens.Select(t => t.Value).Prepend((c as OptionResult)?.IdentifierToken?.Value))
            .OfType<string>();
        return given.Any()
            ? $"'{string.Join(' ', given)}' before the verb is for the server; give the verb's own options after it."
            : null;
    }

    private static void Add(RootCommand root, Command verb, string? group = null)
    {
        if (group is null)
        {
            root.Subcommands.Add(verb);
            return;
        }

        var parent = root.Subcommands.FirstOrDefault(c => c.Name == group);
        if (parent is null)
        {
            parent = new Command(group, GroupDescriptions.GetValueOrDefault(group, $"The {group} verbs."));
            root.Subcommands.Add(parent);
        }

        parent.Subcommands.Add(verb);
    }

    /// <summary>"policy explain" for that verb, "Gateway" for the root.</summary>
    private static string VerbPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? current = result; current is CommandResult command && command.Command is not RootCommand; current = current.Parent)
        {
            names.Insert(0, command.Command.Name);
        }

        return names.Count == 0 ? ProgramName : string.Join(' ', names);
    }

    private static string HelpCommand(CommandResult result) =>
        result.Command is RootCommand ? $"{ProgramName} --help" : $"{ProgramName} {VerbPath(result)} --help";

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();

    private const string ProgramName = "Gateway";
}
