using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// <see cref="FakeTimeProvider"/> plus the two things a test of a timer-driven loop needs to
/// see: how many timer callbacks ran, and when a timer is next armed (created or re-armed).
/// </summary>
internal sealed class TimerCountingTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _armed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _fired;

    /// <summary>How many timer callbacks have run so far.</summary>
    public long FiredCount => Interlocked.Read(ref _fired);

    /// <summary>Completes when a timer is next armed on this clock.</summary>
    public Task WhenTimerArmedAsync()
    {
        lock (_lock)
        {
            return _armed.Task;
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new CountingTimer(this, base.CreateTimer(s => { Interlocked.Increment(ref _fired); callback(s); }, state, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));
        timer.Change(dueTime, period);
        return timer;
    }

    private void Armed()
    {
        TaskCompletionSource armed;
        lock (_lock)
        {
            armed = _armed;
            _armed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        armed.TrySetResult();
    }

    private sealed class CountingTimer(TimerCountingTimeProvider owner, ITimer inner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = inner.Change(dueTime, period);
            if (changed && dueTime != Timeout.InfiniteTimeSpan)
            {
                owner.Armed();
            }

            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
