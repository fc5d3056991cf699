using System.Collections.Concurrent;
using Gateway.Authentication;
using Gateway.Grants;
using Gateway.Policy;
using Gateway.Tenancy;
using Microsoft.Extensions.Options;

namespace Gateway.SupportSessions;

/// <summary>
/// Keeps track of support requests in flight (WebSockets, server-sent events, long downloads
/// included) and aborts those whose access has ended: checked at once when the grant store
/// reports a change, and every <see cref="SupportOptions.LiveSessionCheckInterval"/> for
/// expiries. A store that cannot answer ends them too (fail closed).
/// </summary>
internal sealed partial class LiveSupportSessions(
    SupportAccessReader reader,
    IGrantStore store,
    SupportUserDirectory directory,
    TimeProvider time,
    IOptions<SupportOptions> options,
    IOptions<TenancyOptions> tenancy,
    Auditing.IAuditSink audit,
    ILogger<LiveSupportSessions> logger) : BackgroundService
{
    // The method is kept here: the check loop may run while a request is finishing, when its
    // HttpContext can no longer be read (only aborted, which then does nothing).
    private readonly ConcurrentDictionary<long, (HttpContext Context, SupportSessionFeature Session, string Method, bool Upgrade)> _inFlight = new();
    // One wake-up signal for the check loop: a grant-store change (_changePending set), or the
    // first request coming in flight while the loop is idle (no timer runs without work to check).
    private readonly SemaphoreSlim _wake = new(0, 1);
    private long _nextId;
    private int _count;
    private int _changePending;

    /// <summary>Support requests currently in flight (for tests and metrics).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>How many in-flight requests were aborted because their access ended.</summary>
    public long Aborted => Interlocked.Read(ref _aborted);

    private long _aborted;

    public IDisposable Register(HttpContext context, SupportSessionFeature session, bool upgrade)
    {
        var id = Interlocked.Increment(ref _nextId);
        _inFlight[id] = (context, session, context.Request.Method, upgrade);
        if (Interlocked.Increment(ref _count) == 1)
        {
            Wake(); // the loop may be idle, without a timer: start the periodic checks
        }

        return new Registration(this, id);
    }

    private void Unregister(long id)
    {
        if (_inFlight.TryRemove(id, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        store.Invalidated += OnInvalidated;
        try
        {
            // One wait on the signal at a time, kept across rounds: a fresh wait per round would
            // leave the earlier ones queued, and they would swallow later wake-ups.
            Task? wake = null;
            while (!stoppingToken.IsCancellationRequested)
            {
                wake ??= _wake.WaitAsync(stoppingToken);
                if (Volatile.Read(ref _count) == 0)
                {
                    // Nothing in flight: nothing expires, so no timer until a request arrives or the store changes.
                    await wake;
                }
                else
                {
                    using var tickStop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    var tick = Task.Delay(options.Value.LiveSessionCheckInterval, time, tickStop.Token);
                    await Task.WhenAny(tick, wake);
                    await tickStop.CancelAsync();
                }

                if (stoppingToken.IsCancellationRequested)
                {
                    break;
                }

                if (wake.IsCompleted)
                {
                    wake = null;
                    if (Interlocked.Exchange(ref _changePending, 0) == 0)
                    {
                        continue; // woken by a first request: checks start with the next tick
                    }
                }

                try
                {
                    await CheckAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The next round tries again; the loop must outlive any one failure.
                    LogCheckFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            store.Invalidated -= OnInvalidated;
        }
    }

    /// <summary>Re-checks every in-flight support request and aborts those no longer allowed.</summary>
    internal async Task CheckAsync(CancellationToken cancellationToken)
    {
        if (_inFlight.IsEmpty)
        {
            return;
        }

        // Fail closed on the audit too: no support channel stays open while support work cannot be recorded.
        var auditReason = audit.AcceptsSupportEvents ? null : "the audit trail cannot record support calls";
        foreach (var byTenant in _inFlight.ToArray().GroupBy(e => e.Value.Session.Tenant))
        {
            var result = await reader.GetAsync(byTenant.Key.Value, cancellationToken);
            foreach (var (id, (context, session, method, upgrade)) in byTenant)
            {
                var reason = auditReason ?? StillAllowed(result, session, method, upgrade);
                if (reason is not null && _inFlight.TryRemove(id, out _))
                {
                    Interlocked.Decrement(ref _count);
                    Interlocked.Increment(ref _aborted);
                    LogAborted(logger, session.Tenant.Value, reason);
                    try
                    {
                        context.Abort();
                    }
                    catch (ObjectDisposedException)
                    {
                        // It finished on its own between the snapshot and now.
                    }
                }
            }
        }
    }

    /// <summary>The request path's own decision, made again with the tenant's access and the directory as they are now.</summary>
    private string? StillAllowed(SupportAccessResult result, SupportSessionFeature session, string method, bool upgrade)
    {
        if (result.Access is not { } access)
        {
            return "grant store unavailable";
        }

        if (!directory.TryFind(session.SupportUser, out var user))
        {
            return "support user no longer in the directory";
        }

        // The user it acts as stays the one it was admitted as (a jill$ session does not switch users mid-stream).
        var verdict = SupportAuthorizer.Decide(new SupportRequestFacts(
            session.Tenant, user, session.TargetUser, session.SessionId, access, session.Route, method, upgrade,
            tenancy.Value.Tenants[session.Tenant.Value].DesignatedAdmin, session.CredentialFingerprint, session.Live.Facts));
        return verdict.Allowed ? null : verdict.Reason;
    }

    private void OnInvalidated(string tenant)
    {
        Volatile.Write(ref _changePending, 1);
        Wake();
    }

    /// <summary>Wakes the loop; a pending wake-up already covers this one.</summary>
    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
            }
        }
    }

    [LoggerMessage(EventId = 1631, Level = LogLevel.Error, Message = "Checking live support connections failed")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1630, Level = LogLevel.Information, Message = "Closed a live support connection in tenant {Tenant}: {Reason}")]
    private static partial void LogAborted(ILogger logger, string tenant, string reason);

    private sealed class Registration(LiveSupportSessions owner, long id) : IDisposable
    {
        public void Dispose() => owner.Unregister(id);
    }
}
