using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Hosting;
using OtpNet;
using QRCoder;

namespace Gateway.Authentication;

/// <summary>
/// <c>mfa enroll USER [--config-dir D] [--issuer NAME]</c> (<see cref="Cli.MfaEnrollCommand"/>): gives a support user a new TOTP secret,
/// writes it encrypted (<see cref="SecretProtector"/>, key <c>Secrets:EncryptionKey</c>) into the
/// directory's <c>support-users.json</c> (a running gateway picks it up by hot reload), and prints the
/// <c>otpauth://</c> URI and its QR code for the user's authenticator app. The plain secret exists
/// only in that output. Enrolling again replaces the secret (a lost phone).
/// </summary>
internal static class MfaEnrollment
{
    public const string DefaultIssuer = "Support gateway";

    /// <summary>Enrols <paramref name="name"/>; exit code 0, or 1 with one line on <paramref name="error"/> (arguments are the command line's to check).</summary>
    public static async Task<int> EnrollAsync(string name, string? configDir, string issuer, TextWriter output, TextWriter error)
    {
        var directory = ConfigDirectory.Resolve(configDir is null ? [] : [ConfigDirectory.Option, configDir], Environment.GetEnvironmentVariable);
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(directory, ConfigDirectory.SettingsFile), optional: false, reloadOnChange: false)
            .AddSecretsDirectory(Environment.GetEnvironmentVariable)
            .AddEnvironmentVariables()
            .Build();
        var key = configuration[$"{SecretsOptions.SectionName}:EncryptionKey"];
        var production = configuration.GetValue<bool>("Gateway:Production");
        var validation = new SecretsOptionsValidator(configuration).Validate(null, new SecretsOptions { EncryptionKey = key });
        if (validation.Failed)
        {
            await error.WriteLineAsync($"mfa enroll: {validation.FailureMessage}");
            return 1;
        }

        var protector = new SecretProtector(key);
        var file = Path.Combine(directory, SupportDirectorySource.DefaultFileName);
        JsonObject document;
        try
        {
            document = JsonNode.Parse(await File.ReadAllTextAsync(file), documentOptions: SupportUserDirectoryParser.JsonOptions) as JsonObject
                ?? throw new JsonException("not a JSON object");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            await error.WriteLineAsync($"mfa enroll: {file} cannot be read ({ex.GetType().Name}).");
            return 1;
        }

        var users = Child(document, "SupportUsers") is JsonObject section ? Child(section, "Users") as JsonObject : null;
        var entry = users?.FirstOrDefault(u => string.Equals(u.Key, name, StringComparison.OrdinalIgnoreCase));
        if (entry?.Value is not JsonObject user)
        {
            await error.WriteLineAsync($"mfa enroll: no support user '{name}' in {file}.");
            return 1;
        }

        var canonical = entry.Value.Key;
        var secret = KeyGeneration.GenerateRandomKey(20);
        foreach (var existing in user.Where(p => string.Equals(p.Key, "Mfa", StringComparison.OrdinalIgnoreCase)).Select(p => p.Key).ToList())
        {
            user.Remove(existing);
        }

        user["Mfa"] = new JsonObject { ["TotpSecret"] = protector.Protect(secret, SupportMfa.Purpose(canonical)) };

        // Only a file the gateway will accept is written, in one step (write, then rename), so a
        // running gateway never reads half of it.
        var text = document.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        var errors = new List<string>();
        using (var check = JsonDocument.Parse(text))
        {
            SupportUserDirectoryParser.Parse(check.RootElement, errors);
        }

        if (errors.Count > 0)
        {
            await error.WriteLineAsync($"mfa enroll: {file} would not be valid, nothing written:");
            foreach (var line in errors)
            {
                await error.WriteLineAsync("  - " + line);
            }

            return 1;
        }

        var staging = file + ".enroll.tmp";
        await File.WriteAllTextAsync(staging, text + "\n");
        File.Move(staging, file, overwrite: true);

        var uri = OtpAuthUri(canonical, secret, issuer);
        await output.WriteLineAsync($"Enrolled support user '{canonical}' for two-step sign-in ({file}).");
        if (protector.UsesDemoKey)
        {
            await output.WriteLineAsync("The secret is encrypted with the demo key (Secrets:EncryptionKey is empty): fine for the demo, refused in production.");
        }

        await output.WriteLineAsync("Scan this QR code with an authenticator app (or enter the URI's secret by hand), then sign in with its 6-digit code:");
        await output.WriteLineAsync();
        await output.WriteLineAsync(QrCode(uri));
        await output.WriteLineAsync(uri);
        return 0;
    }

    /// <summary>The key URI authenticator apps read (Google's "Key Uri Format"): TOTP, SHA-1, 6 digits, 30 s.</summary>
    public static string OtpAuthUri(string user, byte[] secret, string issuer) =>
        $"otpauth://totp/{Uri.EscapeDataString(issuer)}:{Uri.EscapeDataString(user)}?secret={Base32Encoding.ToString(secret).TrimEnd('=')}"
        + $"&issuer={Uri.EscapeDataString(issuer)}&algorithm=SHA1&digits={SupportMfa.Digits}&period={SupportMfa.StepSeconds}";

    /// <summary>The QR code as text (two modules per character), readable by a phone camera from a terminal.</summary>
    public static string QrCode(string text)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(text, QRCodeGenerator.ECCLevel.M);
        return new AsciiQRCode(data).GetGraphicSmall();
    }

    private static JsonNode? Child(JsonObject parent, string name) =>
        parent.FirstOrDefault(p => string.Equals(p.Key, name, StringComparison.OrdinalIgnoreCase)).Value;
}
