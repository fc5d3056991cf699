using Gateway.Hosting;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Routing;

/// <summary>
/// Serves YARP its routes from the routes file in the configuration directory and hot-reloads
/// them. A change is applied only when the whole new file passes <see cref="RouteConfigLoader"/>;
/// otherwise it is logged and the last good generation stays in force. (The stock JSON
/// configuration provider would instead empty the section when a half-written or malformed
/// file is read, which would drop every route.)
/// </summary>
internal sealed partial class RouteConfigFileProvider : IProxyConfigProvider, IDisposable
{
    private readonly RouteConfigLoader _loader;
    private readonly RouteConfigurationSource _source;
    private readonly RoutingOptions _options;
    private readonly ILogger<RouteConfigFileProvider> _logger;
    private readonly HotReloadedFile<RouteTable> _file;
    private long _nextRevision = 1;

    public RouteConfigFileProvider(
        RouteConfigLoader loader,
        RouteConfigurationSource source,
        IOptions<RoutingOptions> options,
        TimeProvider time,
        ILogger<RouteConfigFileProvider> logger)
    {
        _loader = loader;
        _source = source;
        _options = options.Value;
        _logger = logger;
        _file = new HotReloadedFile<RouteTable>(source.Directory, _options.RoutesFile, _options.ReloadDebounce, time, _ => LoadAsync(), logger);
        _file.Applied += OnApplied;
        _file.Rejected += OnRejected;
    }

    /// <summary>Raised after a changed file was validated and applied.</summary>
    public event Action<RouteTable>? Applied;

    /// <summary>Raised after a changed file was rejected; the previous generation stays in force.</summary>
    public event Action<RouteConfigException>? Rejected;

    public RouteTable Current => _file.Current;

    /// <summary>The errors of the last rejected reload, until a later reload succeeds.</summary>
    public RouteConfigException? LastRejection => _file.LastRejection is { } errors ? new RouteConfigException(errors) : null;

    public string RoutesPath => _file.FilePath;

    IProxyConfig IProxyConfigProvider.GetConfig() => Current;

    /// <summary>Loads the routes once at start-up. Throws <see cref="GatewayConfigurationException"/> naming the keys when they are invalid.</summary>
    public async Task InitializeAsync()
    {
        var table = await _file.InitializeAsync();
        LogLoaded(_logger, table.Revision, table.Routes.Count, table.Clusters.Count, RoutesPath);
    }

    /// <summary>Re-reads the routes file now. Never throws: a bad file is logged and reported through <see cref="Rejected"/>.</summary>
    public Task ReloadAsync() => _file.ReloadAsync();

    public void Dispose() => _file.Dispose();

    private async Task<FileLoad<RouteTable>> LoadAsync()
    {
        IConfiguration configuration;
        try
        {
            configuration = _source.Build(_options.RoutesFile);
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or FileNotFoundException or IOException)
        {
            var detail = ex.InnerException is null ? ex.Message : $"{ex.Message} {ex.InnerException.Message}";
            return FileLoad<RouteTable>.Bad([$"{_options.RoutesFile}: {detail}"]);
        }

        try
        {
            return FileLoad<RouteTable>.Good(await _loader.LoadAsync(configuration, Interlocked.Increment(ref _nextRevision) - 1));
        }
        catch (RouteConfigException ex)
        {
            return FileLoad<RouteTable>.Bad(ex.Errors);
        }
    }

    private void OnApplied(RouteTable previous, RouteTable next)
    {
        previous.SignalSuperseded();
        LogLoaded(_logger, next.Revision, next.Routes.Count, next.Clusters.Count, RoutesPath);
        Applied?.Invoke(next);
    }

    private void OnRejected(IReadOnlyList<string> errors)
    {
        LogRejected(_logger, Current.Revision, errors.Count, string.Join(Environment.NewLine, errors));
        Rejected?.Invoke(new RouteConfigException(errors));
    }

    [LoggerMessage(EventId = 1100, Level = LogLevel.Information,
        Message = "Route configuration revision {Revision} in force: {RouteCount} routes, {ClusterCount} clusters, from {RoutesPath}")]
    private static partial void LogLoaded(ILogger logger, long revision, int routeCount, int clusterCount, string routesPath);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Error,
        Message = "Route configuration change rejected; revision {Revision} stays in force. {ErrorCount} error(s):\n{Errors}")]
    private static partial void LogRejected(ILogger logger, long revision, int errorCount, string errors);
}

/// <summary>
/// Where the routes come from: the routes file in the configuration directory, overlaid by the
/// same environment variables and command-line arguments as the rest of the configuration,
/// so <c>ReverseProxy__Clusters__acme__Destinations__primary__Address</c> works.
/// </summary>
internal sealed class RouteConfigurationSource(string directory, string[] commandLineArgs)
{
    public string Directory { get; } = directory;

    public IConfiguration Build(string routesFile) =>
        new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(Directory, routesFile), optional: false, reloadOnChange: false)
            .AddEnvironmentVariables()
            .AddCommandLine(commandLineArgs)
            .Build();
}
