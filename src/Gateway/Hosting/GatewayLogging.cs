using Serilog;
using Serilog.Extensions.Logging;
using Serilog.Settings.Configuration;

namespace Gateway.Hosting;

internal static class GatewayLogging
{
    /// <summary>
    /// Serilog writes (sinks from the <c>Serilog</c> section: console and rolling file);
    /// <c>Logging:LogLevel</c> decides what is written, for Serilog and any other provider alike.
    /// </summary>
    public static void AddGatewayLogging(this WebApplicationBuilder builder)
    {
        var readerOptions = new ConfigurationReaderOptions(
            typeof(ConsoleLoggerConfigurationExtensions).Assembly,
            typeof(FileLoggerConfigurationExtensions).Assembly)
        {
            SectionName = "Serilog",
        };
        var logger = new LoggerConfiguration()
            .MinimumLevel.Verbose()
            .ReadFrom.Configuration(builder.Configuration, readerOptions)
            .Enrich.FromLogContext()
            // An address already in use is reported by the program in one line (exit code 2), not with the host's stack trace.
            .Filter.ByExcluding(e => e.Exception is IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException })
            .CreateLogger();

        // AddProvider rather than AddSerilog: AddSerilog also adds a filter rule that lets every
        // level through to Serilog, which would bypass Logging:LogLevel.
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new SerilogLoggerProvider(logger, dispose: true));

        // The health-check service logs every degraded probe; the gateway logs state changes instead (HealthTransitions).
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.Critical);
        // ASP.NET Core's key ring warns that the key it makes at start is not encrypted; that key is
        // kept in memory and never used (Pages/SupportPagesExtensions.cs, UnusedKeyRing).
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection.KeyManagement.XmlKeyManager", LogLevel.Error);
    }
}
