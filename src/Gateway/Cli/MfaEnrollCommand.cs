using System.CommandLine;
using Gateway.Authentication;

namespace Gateway.Cli;

/// <summary><c>mfa enroll USER</c>: a new TOTP secret for a support user, written encrypted into support-users.json (logic: <see cref="MfaEnrollment"/>).</summary>
internal static class MfaEnrollCommand
{
    public static Command Create(CliConsole console)
    {
        var user = new Argument<string>("user") { Description = "The support user (as in support-users.json)." };
        var configDir = CliOptions.ConfigDir();
        var issuer = new Option<string>("--issuer")
        {
            Description = "The name authenticator apps show for the account.",
            HelpName = "name",
            DefaultValueFactory = _ => MfaEnrollment.DefaultIssuer,
        };
        var command = new Command("enroll", "Give a support user a TOTP secret for two-step sign-in: prints the otpauth:// URI and its QR code, writes the secret encrypted into support-users.json.")
        {
            user,
            configDir,
            issuer,
        };
        command.SetAction((parse, _) => MfaEnrollment.EnrollAsync(
            parse.GetValue(user)!, parse.GetValue(configDir), parse.GetValue(issuer)!, console.Output, console.Error));
        return command;
    }
}
