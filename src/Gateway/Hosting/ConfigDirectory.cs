namespace Gateway.Hosting;

/// <summary>
/// Finds the configuration directory: <c>--config-dir</c>, else <c>GATEWAY_CONFIG_DIR</c>, else
/// <c>./config</c> when it holds a gateway.json (a checkout), else the copy shipped beside the binary.
/// </summary>
internal static class ConfigDirectory
{
    public const string EnvironmentVariable = "GATEWAY_CONFIG_DIR";
    public const string Option = "--config-dir";
    public const string SettingsFile = "gateway.json";

    public static string Resolve(IReadOnlyList<string> args, Func<string, string?> getEnvironmentVariable)
    {
        string? chosen = null;
        string origin = "";
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == Option)
            {
                if (i + 1 >= args.Count || string.IsNullOrWhiteSpace(args[i + 1]))
                {
                    throw new GatewayConfigurationException($"{Option}: a directory must follow the option.");
                }

                (chosen, origin) = (args[i + 1], Option);
            }
            else if (args[i].StartsWith(Option + "=", StringComparison.Ordinal))
            {
                (chosen, origin) = (args[i][(Option.Length + 1)..], Option);
            }
        }

        if (chosen is null && getEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } fromEnvironment)
        {
            (chosen, origin) = (fromEnvironment, EnvironmentVariable);
        }

        if (chosen is null)
        {
            var local = Path.Combine(Directory.GetCurrentDirectory(), "config");
            chosen = File.Exists(Path.Combine(local, SettingsFile)) ? local : Path.Combine(AppContext.BaseDirectory, "config");
            origin = "default";
        }

        var full = Path.GetFullPath(chosen);
        if (!Directory.Exists(full))
        {
            throw new GatewayConfigurationException($"{origin}: configuration directory '{full}' does not exist.");
        }

        if (!File.Exists(Path.Combine(full, SettingsFile)))
        {
            throw new GatewayConfigurationException($"{origin}: configuration directory '{full}' has no {SettingsFile}.");
        }

        return full;
    }

    /// <summary>The sections a settings file may hold; anything else is a typo or a setting of another program.</summary>
    public static readonly string[] KnownSections =
        ["Urls", "Gateway", "Grants", "Redis", "Management", "Support", "Audit", "Telemetry", "Secrets", "Sessions", "Webhooks", "Logging", "Serilog"];

    /// <summary>
    /// Reads the settings file as the configuration system will, and refuses what it would
    /// misread or silently ignore: invalid JSON (with line and byte, never the content, which may
    /// hold secrets) and unknown top-level sections. Throws <see cref="GatewayConfigurationException"/>.
    /// </summary>
    public static void CheckSettingsFile(string directory)
    {
        var path = Path.Combine(directory, SettingsFile);
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(path), new System.Text.Json.JsonDocumentOptions
            {
                CommentHandling = System.Text.Json.JsonCommentHandling.Skip,
                AllowTrailingCommas = true,
            });
            if (document.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object)
            {
                throw new GatewayConfigurationException($"{SettingsFile}: the settings must be one JSON object.");
            }

            var unknown = document.RootElement.EnumerateObject()
                .Where(p => !KnownSections.Contains(p.Name, StringComparer.OrdinalIgnoreCase))
                .Select(p => $"{SettingsFile}: {p.Name}: unknown section (known: {string.Join(", ", KnownSections)}).")
                .ToList();
            if (unknown.Count > 0)
            {
                throw new GatewayConfigurationException(unknown);
            }
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new GatewayConfigurationException(
                $"{SettingsFile}: not valid JSON (line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}).");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new GatewayConfigurationException($"{SettingsFile}: cannot be read ({ex.GetType().Name}).");
        }
    }

    /// <summary>A directory of secret files in key-per-file form (<c>Support__SigningKeyPem</c>), e.g. mounted container secrets.</summary>
    public const string SecretsEnvironmentVariable = "GATEWAY_SECRETS_DIR";

    /// <summary>
    /// Adds <see cref="SecretsEnvironmentVariable"/>'s directory as configuration: each file's name is
    /// a key (<c>__</c> for <c>:</c>), its content the value. A named directory that does not exist
    /// stops start-up rather than leaving the gateway without its keys.
    /// </summary>
    public static IConfigurationBuilder AddSecretsDirectory(this IConfigurationBuilder builder, Func<string, string?> getEnvironmentVariable)
    {
        if (getEnvironmentVariable(SecretsEnvironmentVariable) is not { Length: > 0 } directory)
        {
            return builder;
        }

        var full = Path.GetFullPath(directory);
        if (!Directory.Exists(full))
        {
            throw new GatewayConfigurationException($"{SecretsEnvironmentVariable}: secrets directory '{full}' does not exist.");
        }

        return builder.AddKeyPerFile(full, optional: false);
    }

    /// <summary>Drops <c>--config-dir D</c> so the command-line configuration source does not see it as a setting.</summary>
    public static string[] WithoutOption(IReadOnlyList<string> args)
    {
        var rest = new List<string>(args.Count);
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == Option)
            {
                i++;
            }
            else if (!args[i].StartsWith(Option + "=", StringComparison.Ordinal))
            {
                rest.Add(args[i]);
            }
        }

        return [.. rest];
    }
}

/// <summary>Configuration that stops start-up. The message names the setting at fault.</summary>
internal sealed class GatewayConfigurationException : Exception
{
    public GatewayConfigurationException(string message)
        : base(message)
    {
        Errors = [message];
    }

    public GatewayConfigurationException(IReadOnlyList<string> errors)
        : base(string.Join(Environment.NewLine, errors))
    {
        Errors = errors;
    }

    public IReadOnlyList<string> Errors { get; }
}
