using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

/// <summary>
/// Where PBKDF2 runs: a few dedicated threads at the lowest scheduling priority, never the request
/// threads. PBKDF2 is slow on purpose; a flood of password guesses must not take the CPU from the
/// tenants' own traffic. At most <see cref="SupportOptions.MaxConcurrentPasswordChecks"/> checks
/// are in flight; a check that finds none free is refused at once (the caller answers 429), so the
/// flood waits in no queue. On Linux each thread runs under the SCHED_IDLE policy (and nice 19,
/// which is what remains if the policy cannot be set): the kernel runs a waking request thread at
/// once on a core where only a check runs, instead of letting the check finish its time slice, so
/// a check uses the CPU that is left over: under a flood, logins slow down, ordinary traffic does
/// not. (With nice 19 alone, a flood's checks still doubled ordinary traffic's p99 on two cores.)
/// </summary>
internal sealed partial class PasswordCheckPool : IDisposable
{
    private const int LowestPriority = 19;
    private const int SchedIdle = 5;
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

    /// <summary>
    /// Linux keeps a scheduling policy and a nice value per thread: SCHED_IDLE and 19 for this one
    /// (lowering either needs no privilege). Elsewhere the thread priority set at creation is all.
    /// </summary>
    private void LowerThisThreadsPriority()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            // Nice 19 first: it is what remains if the policy cannot be set (SCHED_IDLE ignores it).
            var niceApplied = SetPriority(0 /* PRIO_PROCESS */, GetTid(), LowestPriority) == 0;
            var parameters = new SchedParam { Priority = 0 };
            if (SetScheduler(0 /* this thread */, SchedIdle, ref parameters) != 0 && Interlocked.Exchange(ref _priorityLogged, 1) == 0)
            {
                LogPriorityNotLowered(_logger, Marshal.GetLastPInvokeError(), niceApplied);
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            if (Interlocked.Exchange(ref _priorityLogged, 1) == 0)
            {
                LogPriorityNotLowered(_logger, -1, false);
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SchedParam
    {
        public int Priority;
    }

    [DllImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static extern int SetScheduler(int pid, int policy, ref SchedParam parameters);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [LoggerMessage(EventId = 1330, Level = LogLevel.Warning, Message = "Password checks do not run under SCHED_IDLE (errno {Errno}; nice 19 applied: {NiceApplied}); a login flood competes more with ordinary traffic for the CPU")]
    private static partial void LogPriorityNotLowered(ILogger logger, int errno, bool niceApplied);
}
