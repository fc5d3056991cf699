using Gateway.Hosting;

namespace Gateway.Cli;

/// <summary>How verbs read the gateway's configuration: one place, so every verb sees what the server would.</summary>
internal static class CliConfiguration
{
    /// <summary>
    /// The settings file of the configuration directory with environment overrides, without
    /// building the gateway (no validation, nothing started): for verbs that need a few keys.
    /// </summary>
    public static IConfiguration Load(string? configDir)
    {
        var directory = ConfigDirectory.Resolve(ConfigDirArgs(configDir), Environment.GetEnvironmentVariable);
        ConfigDirectory.CheckSettingsFile(directory);
        return new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(directory, ConfigDirectory.SettingsFile), optional: false, reloadOnChange: false)
            .AddSecretsDirectory(Environment.GetEnvironmentVariable)
            .AddEnvironmentVariables()
            .Build();
    }

    /// <summary>
    /// The gateway as start-up builds it (every validator runs, routes and support users are
    /// loaded), never started, logging off, sample apps off. Invalid configuration throws
    /// <see cref="GatewayConfigurationException"/> naming every key at fault.
    /// </summary>
    /// <param name="settings">Configuration overrides as the server takes them (<c>--Section:Key=value</c>).</param>
    public static Task<WebApplication> BuildAppAsync(string? configDir, IReadOnlyList<string> settings)
    {
        string[] args =
        [
            .. ConfigDirArgs(configDir),
            .. settings,
            // Last, so they win: nothing listens and no demo app starts, whatever the overrides say.
            "--urls", "http://127.0.0.1:0",
            "--Gateway:Demo:HostSampleApps=false",
        ];
        return GatewayApp.CreateAsync(args, builder => builder.Logging.ClearProviders());
    }

    private static string[] ConfigDirArgs(string? configDir) => configDir is null ? [] : [ConfigDirectory.Option, configDir];
}
