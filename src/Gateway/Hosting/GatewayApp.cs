using Gateway.Auditing;
using Gateway.Authentication;
using Gateway.Grants;
using Gateway.Health;
using Gateway.Management;
using Gateway.Pages;
using Gateway.Policy;
using Gateway.Problems;
using Gateway.Proxying;
using Gateway.Routing;
using Gateway.Sessions;
using Gateway.SupportSessions;
using Gateway.Telemetry;
using Gateway.Tenancy;
using Gateway.Webhooks;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>Builds the gateway: the same code path for <c>dotnet run</c>, the container and the tests.</summary>
public static partial class GatewayApp
{
    /// <summary>
    /// Builds a ready-to-run gateway from command-line arguments. Invalid configuration throws
    /// with every problem named by its key (see <see cref="GatewayProgram"/> for how it is shown).
    /// </summary>
    /// <param name="args">As given to the program: <c>--config-dir</c>, <c>--urls</c>, <c>--Section:Key=value</c>.</param>
    /// <param name="configure">Lets a test host add services or logging providers before the app is built.</param>
    public static async Task<WebApplication> CreateAsync(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var configDir = ConfigDirectory.Resolve(args, Environment.GetEnvironmentVariable);
        ConfigDirectory.CheckSettingsFile(configDir);
        var settingsArgs = ConfigDirectory.WithoutOption(args);

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = settingsArgs });

        // Files in the configuration directory sit below environment variables and the command
        // line, as appsettings.json would; secret files (GATEWAY_SECRETS_DIR) override the file.
        builder.Configuration.Sources.Clear();
        builder.Configuration
            .AddJsonFile(Path.Combine(configDir, ConfigDirectory.SettingsFile), optional: false, reloadOnChange: false)
            .AddSecretsDirectory(Environment.GetEnvironmentVariable)
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddEnvironmentVariables()
            .AddCommandLine(settingsArgs);

        builder.AddGatewayLogging();
        var managementListener = new ManagementListener(builder.Configuration);
        builder.Services.AddSingleton(managementListener);
        if (managementListener.Enabled)
        {
            // One set of addresses for Kestrel: the tenant-facing ones and the operators' ones.
            var urls = (builder.Configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            builder.WebHost.UseUrls([.. urls, .. (builder.Configuration[ManagementListener.SettingKey] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // The backend decides how large a body it takes; routes may set MaxRequestBodySize.
            kestrel.Limits.MaxRequestBodySize = null;
        });

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(new Policy.GatewayStartArguments([.. args]));
        builder.Services.AddTrustedProxies(builder.Configuration);
        builder.Services.AddGatewayTenancy(builder.Configuration);
        builder.Services.AddGatewayRouting(builder.Configuration, new RouteConfigurationSource(configDir, settingsArgs));
        builder.Services.AddGatewayGrants(builder.Configuration);
        builder.Services.AddManagementAuthentication(builder.Configuration);
        builder.Services.AddSupportWebhooks(builder.Configuration);
        builder.Services.AddSupportSessions(builder.Configuration, configDir);
        builder.Services.AddSupportSessionRecords(builder.Configuration);
        builder.Services.AddSupportSignIn(builder.Configuration);
        builder.Services.AddSupportPages();
        builder.Services.AddGatewayAudit(builder.Configuration);
        builder.Services.AddHostedService<ConfigurationAuditService>();
        builder.Services.AddGatewayHealth();
        builder.Services.AddGatewayTelemetry(builder.Configuration);
        builder.Services.AddGatewayJson();
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<GatewayExceptionHandler>();
        builder.Services.AddManagementAuthorization();
        builder.Services.AddOptionsWithValidateOnStart<DemoOptions>()
            .Bind(builder.Configuration.GetSection(DemoOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        builder.Services.AddSingleton<IValidateOptions<DemoOptions>, DemoOptionsValidator>();
        builder.Services.AddHostedService<DemoBackendsService>();

        configure?.Invoke(builder);

        var app = builder.Build();
        await InitializeAsync(app, configDir);

        app.UseExceptionHandler();
        // Before anything reads the client's address (throttle, audit, session records).
        app.UseTrustedProxies();
        app.UseMiddleware<ManagementListenerMiddleware>();
        app.UseGatewayMetricsOnManagementListener();
        app.UseMiddleware<TenantResolutionMiddleware>();
        app.UseAuthentication();
        app.UseAuthorization();

        var gateway = app.MapGroup(GatewayPaths.Reserved.Value!);
        gateway.MapGatewayHealth();
        gateway.MapGatewayMetrics(app);
        gateway.MapGatewayManagement();
        gateway.MapSupportEndpoints();
        gateway.MapPolicyEndpoints();
        gateway.MapSessionEndpoints();
        gateway.MapWebhookEndpoints();
        app.MapSupportPages(gateway);
        gateway.MapFallback("{**rest}", context => GatewayProblem.Create(ProblemCode.NotFound).WriteAsync(context));
        // The gateway's own endpoints always win over proxy routes, whatever order those declare.
        gateway.WithOrder(int.MinValue);

        app.MapGatewayProxy();
        app.Services.GetRequiredService<GatewayRouteResolver>().Attach(app);

        app.Lifetime.ApplicationStarted.Register(() => LogListening(app));
        return app;
    }

    private static readonly string[] KnownGatewaySections = ["Production", "Tenants", "Routing", "Demo", "ForwardedHeaders", "ManagementUrls"];

    /// <summary>Validates options and loads the routes now, so bad configuration stops start-up with its keys named.</summary>
    private static async Task InitializeAsync(WebApplication app, string configDir)
    {
        var errors = new List<string>(app.Services.GetRequiredService<ManagementListener>().Errors);
        foreach (var section in app.Configuration.GetSection("Gateway").GetChildren())
        {
            if (!KnownGatewaySections.Contains(section.Key, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"{section.Path}: unknown setting (known: {string.Join(", ", KnownGatewaySections)}).");
            }
        }

        foreach (var resolve in new Func<object>[]
                 {
                     () => app.Services.GetRequiredService<IOptions<TenancyOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<TrustedProxyOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<RoutingOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<DemoOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<GrantsOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<RedisOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<ManagementOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<SupportOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<AuditOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<SupportCredentialOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<SessionsOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<SecretsOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<WebhooksOptions>>().Value,
                     () => app.Services.GetRequiredService<IOptions<TelemetryOptions>>().Value,
                 })
        {
            try
            {
                resolve();
            }
            catch (OptionsValidationException ex)
            {
                errors.AddRange(ex.Failures);
            }
            catch (InvalidOperationException ex)
            {
                // The binder refuses keys it does not know (a typo must not be silently ignored).
                errors.Add(ex.Message);
            }
        }

        // The support-user directory stands on its own: its problems are reported with the settings'.
        try
        {
            await app.Services.GetRequiredService<SupportUserDirectory>().InitializeAsync();
        }
        catch (GatewayConfigurationException ex)
        {
            errors.AddRange(ex.Errors);
        }

        if (errors.Count > 0)
        {
            throw new GatewayConfigurationException(errors);
        }

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(GatewayApp));
        LogConfigDirectory(logger, configDir);
        await app.Services.GetRequiredService<RouteConfigFileProvider>().InitializeAsync();
        CheckDemoMaterial(app);
    }

    /// <summary>
    /// Demo material (committed keys and passwords) protects nothing: refused in production (each
    /// by its own setting's validator), and outside production accepted only while every listen
    /// address is loopback (or <c>Gateway:Demo:AllowNonLoopback</c> says a demo container knows better).
    /// </summary>
    private static void CheckDemoMaterial(WebApplication app)
    {
        if (app.Configuration.GetValue<bool>("Gateway:Production"))
        {
            return; // every piece of demo material is refused by the validator of its own setting
        }

        var demo = DemoMaterial.InUse(app.Services, app.Configuration);
        var exposed = DemoMaterial.NonLoopbackListenAddresses(app.Configuration);
        if (demo.Count > 0 && exposed.Count > 0 && !app.Configuration.GetValue<bool>("Gateway:Demo:AllowNonLoopback"))
        {
            throw new GatewayConfigurationException(
                [.. exposed.Select(a => $"Urls: '{a}' is reachable beyond this machine, but this configuration trusts demo material that anyone with the repository knows: {string.Join("; ", demo)}. Create a real deployment with 'dotnet run --project src/Gateway -- init --out DIR' (see docs/production.md), or listen on 127.0.0.1 only.")]);
        }
    }

    private static void LogListening(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var tenants = app.Services.GetRequiredService<IOptions<TenancyOptions>>().Value.Tenants;
        var hosts = string.Join(", ", tenants.SelectMany(t => t.Value.Hosts.Select(h => $"{h} ({t.Key})")));
        LogListening(app.Logger, string.Join(", ", addresses), hosts);
    }

    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Configuration directory: {ConfigDirectory}")]
    private static partial void LogConfigDirectory(ILogger logger, string configDirectory);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information,
        Message = "Gateway listening on {Addresses}; tenant hosts: {TenantHosts}. Try: curl -H 'Host: acme.localhost' <address>/api/orders")]
    private static partial void LogListening(ILogger logger, string addresses, string tenantHosts);
}
