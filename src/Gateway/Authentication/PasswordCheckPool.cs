using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

/// <summary>
/// Where PBKDF2 runs: a few dedicated threads at the lowest scheduling priority, never the request
/// threads. PBKDF2 is slow on purpose; a flood of password guesses must not take the CPU from the
/// tenants' own traffic. At most <see cref="SupportOptions.MaxConcurrentPasswordChecks"/> checks
/// are in flight; a check that finds none free is refused at once (the caller answers 429), so the
/// flood waits in no queue. On Linux each thread gets nice 19, so the kernel runs request threads
/// first and a check uses the CPU that is left over: under a flood, logins slow down, ordinary
/// traffic does not.
/// </summary>
internal sealed partial class PasswordCheckPool : IDisposable
{
    private const int LowestPriority = 19;
    private readonly SemaphoreSlim _slots;
    private readonly BlockingCollection<Action> _work = new(new ConcurrentQueue<Action>());
    private readonly Thread[] _threads;
    private readonly ILogger<PasswordCheckPool> _logger;
    private int _priorityLogged;

    public PasswordCheckPool(IOptions<SupportOptions> options, ILogger<PasswordCheckPool> logger)
    {
        _logger = logger;
        var count = options.Value.MaxConcurrentPasswordChecks;
        _slots = new SemaphoreSlim(count, count);
        _threads = new Thread[count];
        for (var i = 0; i < count; i++)
        {
            _threads[i] = new Thread(Run) { IsBackground = true, Name = $"password-check-{i}", Priority = ThreadPriority.Lowest };
            _threads[i].Start();
        }
    }

    /// <summary>
    /// Runs <paramref name="check"/> on a password-check thread; false (and no task) when every
    /// slot is taken.
    /// </summary>
    public bool TryRun<T>(Func<T> check, out Task<T> result)
    {
        if (!_slots.Wait(0))
        {
            result = Task.FromResult<T>(default!);
            return false;
        }

        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        result = completion.Task;
        _work.Add(() =>
        {
            T value;
            try
            {
                value = check();
            }
            catch (Exception ex)
            {
                _slots.Release();
                completion.SetException(ex);
                return;
            }

            // The slot is free before the caller hears the answer: its next check must find it free.
            _slots.Release();
            completion.SetResult(value);
        });
        return true;
    }

    public void Dispose() => _work.CompleteAdding();

    private void Run()
    {
        LowerThisThreadsPriority();
        foreach (var work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }

    /// <summary>Linux keeps a nice value per thread: 19 for this one (raising it needs no privilege). Elsewhere the thread priority set at creation is all.</summary>
    private void LowerThisThreadsPriority()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            if (SetPriority(0 /* PRIO_PROCESS */, GetTid(), LowestPriority) != 0 && Interlocked.Exchange(ref _priorityLogged, 1) == 0)
            {
                LogPriorityNotLowered(_logger, Marshal.GetLastPInvokeError());
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            if (Interlocked.Exchange(ref _priorityLogged, 1) == 0)
            {
                LogPriorityNotLowered(_logger, -1);
            }
        }
    }

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [LoggerMessage(EventId = 1330, Level = LogLevel.Warning, Message = "Password checks run at normal priority: the thread's nice value could not be raised (errno {Errno}); a login flood competes with ordinary traffic for the CPU")]
    private static partial void LogPriorityNotLowered(ILogger logger, int errno);
}
