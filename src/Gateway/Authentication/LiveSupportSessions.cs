using System.Collections.Concurrent;
using Gateway.Grants;
using Gateway.Policy;
using Gateway.Routing;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

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
    ILogger<LiveSupportSessions> logger) : BackgroundService
{
    // The method is kept here: the check loop may run while a request is finishing, when its
    // HttpContext can no longer be read (only aborted, which then does nothing).
    private readonly ConcurrentDictionary<long, (HttpContext Context, SupportSessionFeature Session, RouteClass RouteClass, string Method)> _inFlight = new();
    private readonly SemaphoreSlim _changed = new(0, 1);
    private long _nextId;

    /// <summary>Support requests currently in flight (for tests and metrics).</summary>
    public int Count => _inFlight.Count;

    /// <summary>How many in-flight requests were aborted because their access ended.</summary>
    public long Aborted => Interlocked.Read(ref _aborted);

    private long _aborted;

    public IDisposable Register(HttpContext context, SupportSessionFeature session, RouteClass routeClass)
    {
        var id = Interlocked.Increment(ref _nextId);
        _inFlight[id] = (context, session, routeClass, context.Request.Method);
        return new Registration(this, id);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        store.Invalidated += OnInvalidated;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var tick = Task.Delay(options.Value.LiveSessionCheckInterval, time, stoppingToken);
                var change = _changed.WaitAsync(stoppingToken);
                await Task.WhenAny(tick, change);
                if (stoppingToken.IsCancellationRequested)
                {
                    break;
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

        foreach (var byTenant in _inFlight.ToArray().GroupBy(e => e.Value.Session.Tenant))
        {
            var result = await reader.GetAsync(byTenant.Key, cancellationToken);
            foreach (var (id, (context, session, routeClass, method)) in byTenant)
            {
                var reason = StillAllowed(result, session, routeClass, method);
                if (reason is not null && _inFlight.TryRemove(id, out _))
                {
                    Interlocked.Increment(ref _aborted);
                    LogAborted(logger, session.Tenant, reason);
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

    private string? StillAllowed(SupportAccessResult result, SupportSessionFeature session, RouteClass routeClass, string method)
    {
        if (result.Access is not { } access)
        {
            return "grant store unavailable";
        }

        if (!access.IsActive)
        {
            return "support access ended";
        }

        if (session.SessionId is not null && access.IsSessionRevoked(session.SessionId))
        {
            return "session ended";
        }

        if (!directory.TryFind(session.SupportUser, out var user) || !user.IsPermittedFor(session.Tenant))
        {
            return "support user no longer permitted";
        }

        // Isolation may have tightened (a grant that allowed data was revoked, another remains).
        return SupportPolicy.Decide(routeClass, method, access).Allowed ? null : "isolation now denies this route";
    }

    private void OnInvalidated(string tenant)
    {
        // Wake the loop; a pending wake-up already covers this one.
        if (_changed.CurrentCount == 0)
        {
            try
            {
                _changed.Release();
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
        public void Dispose() => owner._inFlight.TryRemove(id, out _);
    }
}
