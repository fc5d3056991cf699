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
    private readonly TimeProvider _time;
    private readonly ILogger<RouteConfigFileProvider> _logger;
    private readonly SemaphoreSlim _reloadLock = new(1, 1);
    private RouteTable? _current;
    private long _nextRevision = 1;
    private DebouncedFileWatcher? _watcher;
    private volatile bool _disposed;

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
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised after a changed file was validated and applied.</summary>
    public event Action<RouteTable>? Applied;

    /// <summary>Raised after a changed file was rejected; the previous generation stays in force.</summary>
    public event Action<RouteConfigException>? Rejected;

    public RouteTable Current => _current ?? throw new InvalidOperationException("Routes are not loaded yet.");

    /// <summary>The errors of the last rejected reload, until a later reload succeeds.</summary>
    public RouteConfigException? LastRejection { get; private set; }

    public string RoutesPath => Path.Combine(_source.Directory, _options.RoutesFile);

    IProxyConfig IProxyConfigProvider.GetConfig() => Current;

    /// <summary>Loads the routes once at start-up. Throws <see cref="RouteConfigException"/> when they are invalid.</summary>
    public async Task InitializeAsync()
    {
        _current = await LoadAsync();
        Watch();
        LogLoaded(_logger, _current.Revision, _current.Routes.Count, _current.Clusters.Count, RoutesPath);
    }

    private async Task<RouteTable> LoadAsync()
    {
        IConfiguration configuration;
        try
        {
            configuration = _source.Build(_options.RoutesFile);
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or FileNotFoundException or IOException)
        {
            var detail = ex.InnerException is null ? ex.Message : $"{ex.Message} {ex.InnerException.Message}";
            throw new RouteConfigException([$"{_options.RoutesFile}: {detail}"]);
        }

        return await _loader.LoadAsync(configuration, Interlocked.Increment(ref _nextRevision) - 1);
    }

    private void Watch()
    {
        if (!_disposed)
        {
            _watcher = new DebouncedFileWatcher(_source.Directory, _options.RoutesFile, _options.ReloadDebounce, _time, ReloadAsync);
        }
    }

    /// <summary>Re-reads the routes file now. Never throws: a bad file is logged and reported through <see cref="Rejected"/>.</summary>
    public async Task ReloadAsync()
    {
        await _reloadLock.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }

            var previous = Current;
            RouteTable next;
            try
            {
                next = await LoadAsync();
            }
            catch (RouteConfigException ex)
            {
                LastRejection = ex;
                LogRejected(_logger, previous.Revision, ex.Errors.Count, string.Join(Environment.NewLine, ex.Errors));
                Rejected?.Invoke(ex);
                return;
            }

            LastRejection = null;
            _current = next;
            previous.SignalSuperseded();
            LogLoaded(_logger, next.Revision, next.Routes.Count, next.Clusters.Count, RoutesPath);
            Applied?.Invoke(next);
        }
        catch (Exception ex)
        {
            // A reload runs on a timer thread: nothing may escape, and the last good routes stay.
            LogReloadFailed(_logger, ex);
        }
        finally
        {
            _reloadLock.Release();
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _watcher?.Dispose();
    }

    [LoggerMessage(EventId = 1100, Level = LogLevel.Information,
        Message = "Route configuration revision {Revision} in force: {RouteCount} routes, {ClusterCount} clusters, from {RoutesPath}")]
    private static partial void LogLoaded(ILogger logger, long revision, int routeCount, int clusterCount, string routesPath);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Error,
        Message = "Route configuration change rejected; revision {Revision} stays in force. {ErrorCount} error(s):\n{Errors}")]
    private static partial void LogRejected(ILogger logger, long revision, int errorCount, string errors);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Error,
        Message = "Route configuration reload failed unexpectedly; the last good routes stay in force")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);
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
