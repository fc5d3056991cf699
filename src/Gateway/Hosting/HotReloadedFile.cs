using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace Gateway.Hosting;

/// <summary>What a load of a hot-reloaded file produced: a value, or the errors (each naming its key) that refuse it.</summary>
internal readonly record struct FileLoad<T>(T? Value, IReadOnlyList<string> Errors)
    where T : class
{
    public static FileLoad<T> Good(T value) => new(value, []);

    public static FileLoad<T> Bad(IReadOnlyList<string> errors) => new(null, errors);
}

/// <summary>
/// A configuration file that is hot-reloaded and keeps the last good value: the one
/// keep-last-good shell of every such file (the routes, the support-user directory). A change is
/// applied only when the whole new file loads without an error; otherwise it is reported through
/// <see cref="Rejected"/> and the previous value stays in force. Editors write files in several
/// steps, so a burst of change notifications within the debounce (on the injected clock) is one
/// reload. Reloads never overlap and never throw.
/// </summary>
internal sealed partial class HotReloadedFile<T> : IDisposable
    where T : class
{
    private readonly string _directory;
    private readonly string _fileName;
    private readonly TimeSpan _debounce;
    private readonly TimeProvider _time;
    private readonly Func<T?, Task<FileLoad<T>>> _load;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _reloadLock = new(1, 1);
    private readonly Lock _timerLock = new();
    private volatile T? _current;
    private PhysicalFileProvider? _files;
    private IDisposable? _registration;
    private ITimer? _timer;
    private bool _disposed;

    /// <param name="load">Reads and validates the file; given the value in force (null at start-up).</param>
    public HotReloadedFile(string directory, string fileName, TimeSpan debounce, TimeProvider time, Func<T?, Task<FileLoad<T>>> load, ILogger logger)
    {
        _directory = directory;
        _fileName = fileName;
        _debounce = debounce;
        _time = time;
        _load = load;
        _logger = logger;
    }

    /// <summary>Raised with the value in force before and the one applied.</summary>
    public event Action<T, T>? Applied;

    /// <summary>Raised with the errors of a rejected change; the value in force stays.</summary>
    public event Action<IReadOnlyList<string>>? Rejected;

    public T Current => _current ?? throw new InvalidOperationException($"{_fileName} is not loaded yet.");

    /// <summary>The errors of the last rejected change, until a later change is applied.</summary>
    public IReadOnlyList<string>? LastRejection { get; private set; }

    public string FilePath => Path.Combine(_directory, _fileName);

    /// <summary>Loads the file at start-up and starts watching it. Throws <see cref="GatewayConfigurationException"/> with the errors.</summary>
    public async Task<T> InitializeAsync()
    {
        var loaded = await _load(null);
        if (loaded.Value is null)
        {
            throw new GatewayConfigurationException(loaded.Errors);
        }

        _current = loaded.Value;
        lock (_timerLock)
        {
            if (!_disposed)
            {
                _files = new PhysicalFileProvider(_directory);
                _registration = ChangeToken.OnChange(() => _files.Watch(_fileName), Schedule);
            }
        }

        return loaded.Value;
    }

    /// <summary>Reads the file again now. Never throws: a bad file is reported through <see cref="Rejected"/>.</summary>
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
            var loaded = await _load(previous);
            if (loaded.Value is not { } next)
            {
                LastRejection = loaded.Errors;
                Rejected?.Invoke(loaded.Errors);
                return;
            }

            _current = next;
            LastRejection = null;
            Applied?.Invoke(previous, next);
        }
        catch (Exception ex)
        {
            // A reload runs on a timer thread: nothing may escape, and the last good value stays.
            LogReloadFailed(_logger, _fileName, ex);
        }
        finally
        {
            _reloadLock.Release();
        }
    }

    public void Dispose()
    {
        lock (_timerLock)
        {
            _disposed = true;
            _timer?.Dispose();
        }

        _registration?.Dispose();
        _files?.Dispose();
    }

    private void Schedule()
    {
        lock (_timerLock)
        {
            if (_disposed)
            {
                return;
            }

            _timer?.Dispose();
            _timer = _time.CreateTimer(_ => _ = ReloadAsync(), null, _debounce, Timeout.InfiniteTimeSpan);
        }
    }

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "Reloading {FileName} failed unexpectedly; the last good version stays in force")]
    private static partial void LogReloadFailed(ILogger logger, string fileName, Exception exception);
}
