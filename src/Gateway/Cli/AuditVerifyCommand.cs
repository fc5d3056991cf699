using System.CommandLine;
using Gateway.Auditing;

namespace Gateway.Cli;

/// <summary>
/// <c>audit verify</c>: checks a spool or an NDJSON export against the hash chain and the signed
/// digests (<see cref="AuditVerifier"/>). Exit 0 clean, 1 problems, 2 bad usage or unreadable input.
/// </summary>
internal static class AuditVerifyCommand
{
    public static Command Create(CliConsole console)
    {
        var spoolDir = new Option<string?>("--spool-dir") { Description = "A spool directory (Audit:SpoolDirectory).", HelpName = "dir" };
        var export = new Option<string?>("--export") { Description = "An NDJSON export: 'audit export' output, or Elasticsearch hits (_source per line); '-' reads standard input.", HelpName = "file" };
        var jwks = new Option<string?>("--jwks") { Description = "The gateway's JWKS (a file or its URL, /_gateway/.well-known/jwks.json) with the audit key that signs digests.", HelpName = "file|url" };
        var key = new Option<string?>("--key") { Description = "The audit public key as a PEM file (instead of --jwks).", HelpName = "pem-file" };
        var command = new Command("verify", "Check a spool or an export against the hash chain and the signed digests: exit 0 clean, 1 problems found.")
        {
            spoolDir, export, jwks, key,
        };
        command.SetAction((parse, cancellationToken) => AuditVerifier.RunAsync(
            parse.GetValue(spoolDir), parse.GetValue(export), parse.GetValue(jwks), parse.GetValue(key),
            console.Input, console.Output, console.Error, cancellationToken));
        return command;
    }
}
