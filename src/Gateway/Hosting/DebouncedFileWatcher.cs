using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace Gateway.Hosting;

/// <summary>
/// Watches one file of the configuration directory and calls back once per burst of changes:
/// editors write a file in several steps, so notifications are collapsed for
/// <c>debounce</c> (on the injected clock) before the callback runs.
/// </summary>
internal sealed class DebouncedFileWatcher : IDisposable
{
    private readonly PhysicalFileProvider _files;
    private readonly Lock _lock = new();
    private readonly TimeSpan _debounce;
    private readonly TimeProvider _time;
    private readonly Func<Task> _onChanged;
    private readonly IDisposable _registration;
    private ITimer? _timer;
    private bool _disposed;

    public DebouncedFileWatcher(string directory, string fileName, TimeSpan debounce, TimeProvider time, Func<Task> onChanged)
    {
        _files = new PhysicalFileProvider(directory);
        _debounce = debounce;
        _time = time;
        _onChanged = onChanged;
        _registration = ChangeToken.OnChange(() => _files.Watch(fileName), Schedule);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _timer?.Dispose();
        }

        _registration.Dispose();
        _files.Dispose();
    }

    private void Schedule()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _timer?.Dispose();
            _timer = _time.CreateTimer(_ => _ = _onChanged(), null, _debounce, Timeout.InfiniteTimeSpan);
        }
    }
}
