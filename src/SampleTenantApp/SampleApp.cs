using Microsoft.Extensions.DependencyInjection.Extensions;

namespace SampleTenantApp;

/// <summary>
/// The sample tenant app: a real ASP.NET Core app on Kestrel that the gateway demo hosts in-process,
/// the functional tests and benchmark put behind the gateway, and docker-compose runs standalone.
/// </summary>
public static class SampleApp
{
    /// <summary>
    /// Builds, without starting, an app listening on <see cref="SampleAppOptions.Urls"/> with every route mapped.
    /// <paramref name="configure"/> runs last before <c>Build()</c>, so it can override any default here.
    /// </summary>
    public static WebApplication Create(SampleAppOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Urls is not { Length: > 0 })
        {
            throw new ArgumentException("At least one URL is required.", nameof(options));
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(SampleApp).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });

        // Often hosted inside the gateway's process: its appsettings.json, environment variables
        // (ASPNETCORE_URLS, Kestrel__*, Logging__*) and command line are the gateway's, not ours.
        // An empty in-memory source still has to be there for UseUrls and configure to write to.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.ClearProviders().AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(new SampleAppHits());
        services.AddSingleton<OrderStore>();
        services.AddSingleton<SettingsStore>();
        services.AddSingleton<CredentialsState>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddProblemDetails();
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, SampleJsonContext.Default);
            json.SerializerOptions.Encoder = SampleJsonContext.ResponseEncoder;
        });

        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseMiddleware<SampleAppMiddleware>();
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            // Client errors Kestrel raises while a handler reads the body (413 too large, 400
            // malformed) keep their status and are not logged as server failures.
            StatusCodeSelector = static exception =>
                exception is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError,
            SuppressDiagnosticsCallback = static context => context.Exception is BadHttpRequestException,
        });
        app.UseWebSockets();

        app.MapHome();
        app.MapOrders();
        app.MapSettings();
        app.MapCredentials();
        app.MapEcho();
        app.MapRealtime();
        app.MapStreaming();
        app.MapTransparency();
        return app;
    }
}
