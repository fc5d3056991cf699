using System.CommandLine;
using Gateway.Authentication;

namespace Gateway.Cli;

/// <summary><c>hash-password</c>: reads a password on standard input and prints its PBKDF2 hash for the support-user directory.</summary>
internal static class HashPasswordCommand
{
    public static Command Create(CliConsole console)
    {
        var command = new Command("hash-password", "Read a password (one line) on standard input and print its PBKDF2 hash for support-users.json.");
        command.SetAction(async (_, cancellationToken) =>
        {
            var password = await console.Input.ReadLineAsync(cancellationToken);
            if (string.IsNullOrEmpty(password))
            {
                await console.Error.WriteLineAsync("hash-password: give the password on standard input (one line).");
                return CliExitCodes.Usage;
            }

            await console.Output.WriteLineAsync(PasswordHasher.Hash(password));
            return CliExitCodes.Done;
        });
        return command;
    }
}
