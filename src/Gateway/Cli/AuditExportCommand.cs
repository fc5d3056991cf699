using System.CommandLine;
using Gateway.Auditing;

namespace Gateway.Cli;

/// <summary>
/// <c>audit export</c>: the audit spool as NDJSON (one ECS event per line) on standard output,
/// oldest first; <c>--unshipped</c> starts at the shipping checkpoint. Safe beside a running gateway.
/// </summary>
internal static class AuditExportCommand
{
    public static Command Create(CliConsole console)
    {
        var spoolDir = new Option<string?>("--spool-dir") { Description = "The spool directory (default: Audit:SpoolDirectory of the configuration).", HelpName = "dir" };
        var unshipped = new Option<bool>("--unshipped") { Description = "Only events not yet shipped to Elasticsearch (from the shipping checkpoint on)." };
        var configDir = CliOptions.ConfigDir();
        var command = new Command("export", "Print the audit spool as NDJSON (one ECS event per line), oldest first.")
        {
            spoolDir, unshipped, configDir,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var directory = parse.GetValue(spoolDir);
            if (directory is null)
            {
                var configuration = CliConfiguration.Load(parse.GetValue(configDir));
                directory = configuration[$"{AuditOptions.SectionName}:SpoolDirectory"] is { Length: > 0 } configured ? configured : new AuditOptions().SpoolDirectory;
            }

            if (!Directory.Exists(directory))
            {
                await console.Error.WriteLineAsync($"audit export: no spool at '{Path.GetFullPath(directory)}'.");
                return CliExitCodes.Refused;
            }

            var skipped = 0L;
            foreach (var line in AuditSpoolReader.ReadEntries(directory, parse.GetValue(unshipped), s => skipped += s.Bytes))
            {
                cancellationToken.ThrowIfCancellationRequested();
                await console.Output.WriteLineAsync(line.Json);
            }

            if (skipped > 0)
            {
                await console.Error.WriteLineAsync($"audit export: skipped {skipped} byte(s) that are not whole records (a torn tail or corruption).");
            }

            return CliExitCodes.Done;
        });
        return command;
    }
}
