using Gateway.Events;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Gateway.Grants;
using Gateway.Tenancy;
using Microsoft.Extensions.Options;

namespace Gateway.Sessions;

/// <summary>
/// This instance's view of the support sessions it serves. A request finds its session in memory
/// (a token session by its id, a Basic one by its (tenant, user, target) key); only the first
/// request of a session on an instance reads or opens its record in the store. What requests do
/// is added up in memory and flushed off the request path (<see cref="SessionMaintenance"/>).
/// Ending a session (logout, an admin, idle, expiry, the grants it was admitted under) always
/// succeeds for the caller: if the store cannot take it now, it is refused locally at once and
/// retried until it can.
/// </summary>
internal sealed partial class SessionTracker(
    ISessionStore store,
    IGrantStore grants,
    SupportEventBus events,
    IOptions<SessionsOptions> options,
    IOptions<GrantsOptions> grantsOptions,
    TimeProvider time,
    ILogger<SessionTracker> logger)
{
    private readonly ConcurrentDictionary<(string Tenant, string Id), LiveSession> _sessions = new();
    private readonly ConcurrentDictionary<string, LiveSession> _basic = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<PendingEnd> _pendingEnds = new();

    private readonly ConcurrentDictionary<string, byte> _grantChecks = new(StringComparer.Ordinal);
    private TaskCompletionSource _work = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _subscribed;

    private SessionsOptions Options => options.Value;

    /// <summary>Whether this instance holds sessions or ends to retry (then the maintenance loop ticks).</summary>
    public bool HasLocalWork => !_sessions.IsEmpty || !_pendingEnds.IsEmpty;

    /// <summary>Completes when a session is next taken into memory or an end is queued (read it before <see cref="HasLocalWork"/>).</summary>
    public Task WorkArrived => Volatile.Read(ref _work).Task;

    /// <summary>When the earliest active session anywhere falls due (null: none is active).</summary>
    public Task<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken) => store.NextDueAsync(cancellationToken);

    private LiveSession Hold(LiveSession live)
    {
        var held = _sessions.GetOrAdd((live.Tenant, live.Id), live);
        if (ReferenceEquals(held, live))
        {
            Interlocked.Exchange(ref _work, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }

        return held;
    }

    /// <summary>Sessions this instance holds in memory (tests and metrics).</summary>
    public int Count => _sessions.Count;

    /// <summary>Sessions held here that have not ended (the active-sessions metric): a walk that takes no lock, unlike <see cref="Count"/>.</summary>
    public int ActiveCount
    {
        get
        {
            var active = 0;
            foreach (var (_, session) in _sessions)
            {
                if (!session.Ended)
                {
                    active++;
                }
            }

            return active;
        }
    }

    public static string NewId() => "s_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>Ends sessions at once when grants are revoked here (other instances' revocations are found by the sweep).</summary>
    public void SubscribeToGrantChanges()
    {
        if (_subscribed)
        {
            return;
        }

        _subscribed = true;
        events.Published += e =>
        {
            if (e.Type == SupportEventTypes.GrantRevoked && _grantChecks.TryAdd(e.Tenant, 0))
            {
                _ = Task.Run(() => CheckGrantsOfAsync(e.Tenant));
            }
        };
    }

    private async Task CheckGrantsOfAsync(string tenant)
    {
        _grantChecks.TryRemove(tenant, out _);
        try
        {
            await EndSessionsWithoutGrantsAsync(tenant, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // The sweep ends them later; a revocation itself has already succeeded.
            LogGrantCheckFailed(logger, tenant, ex.GetType().Name);
        }
    }

    /// <summary>
    /// Ends the active sessions (of one tenant, or all) whose grants have all ended, revoked or
    /// expired, with reason <c>grants-ended</c>; read fresh from the grant store, off the request path.
    /// </summary>
    public async Task EndSessionsWithoutGrantsAsync(string? tenant, CancellationToken cancellationToken)
    {
        var accessOf = new Dictionary<string, SupportAccess>(StringComparer.Ordinal);
        // Every active session is in the due index (by idle timeout or token expiry).
        foreach (var (sessionTenant, id) in await store.DueAsync(DateTimeOffset.MaxValue, MaxActiveChecked, cancellationToken))
        {
            if ((tenant is not null && sessionTenant != tenant) || await store.GetAsync(sessionTenant, id, cancellationToken) is not { IsActive: true, AdmittedUnder.Count: > 0 } session)
            {
                continue;
            }

            if (!accessOf.TryGetValue(sessionTenant, out var access))
            {
                access = SupportAccess.Evaluate(await grants.GetStateAsync(sessionTenant, cancellationToken), time.GetUtcNow());
                accessOf[sessionTenant] = access;
            }

            if (!access.StillHasAny(session.AdmittedUnder))
            {
                await EndAsync(sessionTenant, id, SessionEndReasons.GrantsEnded, by: null, cancellationToken);
            }
        }
    }

    /// <summary>Active sessions looked at per grant check (the rest wait for their next request or the next sweep).</summary>
    private const int MaxActiveChecked = 10_000;

    /// <summary>Records a token session at login and holds it. Throws when the store cannot answer (the login fails closed).</summary>
    public async Task<LiveSession> StartTokenSessionAsync(SupportSessionRecord record, CancellationToken cancellationToken)
    {
        if (await store.StartAsync(record, cancellationToken))
        {
            events.Publish(new SupportEvent(SupportEventTypes.SessionStarted, record.Tenant, record.StartedAt, Session: record));
        }

        return Hold(new LiveSession(record, basicKey: null));
    }

    /// <summary>The session of a request with a session token; read from the store the first time this instance sees it.</summary>
    public async ValueTask<LiveSession> ForTokenAsync(TenantId tenant, string sessionId, Func<SupportSessionRecord> recordIfUnknown, CancellationToken cancellationToken)
    {
        if (_sessions.TryGetValue((tenant.Value, sessionId), out var known))
        {
            return known;
        }

        var record = await store.GetAsync(tenant.Value, sessionId, cancellationToken);
        if (record is null)
        {
            // Issued before records existed, or past their retention: record it now.
            record = recordIfUnknown();
            if (await store.StartAsync(record, cancellationToken))
            {
                events.Publish(new SupportEvent(SupportEventTypes.SessionStarted, record.Tenant, record.StartedAt, Session: record));
            }
        }

        return Hold(new LiveSession(record, basicKey: null));
    }

    /// <summary>
    /// The HTTP Basic session of (tenant, support user, target): the one in memory while not idle,
    /// else the store's open one, else a new one. Basic has no sign-in, so a session whose grants
    /// have all ended (or that ended idle or expired) is closed and the request starts a new one;
    /// one a tenant admin ended stays refused for an idle timeout.
    /// </summary>
    public async ValueTask<LiveSession> ForBasicAsync(TenantId tenant, string supportUser, string? requestedTarget, SupportAccess access, Func<string, SupportSessionRecord> newRecord, CancellationToken cancellationToken)
    {
        var key = $"{tenant.Value}:{supportUser.ToLowerInvariant()}:{requestedTarget ?? "$"}";
        var live = await OpenBasicAsync(tenant, key, newRecord, cancellationToken);
        if (live.Facts is { AdmittedUnder.Count: > 0 } facts && !access.StillHasAny(facts.AdmittedUnder) && !live.Ended)
        {
            await EndAsync(tenant.Value, live.Id, SessionEndReasons.GrantsEnded, by: null, cancellationToken);
        }

        if (live.EndReason is { } reason && ReleasesBasicKey(reason))
        {
            _basic.TryRemove(KeyValuePair.Create(key, live));
            await store.ReleaseBasicAsync(key, live.Id, cancellationToken);
            live = await OpenBasicAsync(tenant, key, newRecord, cancellationToken);
        }

        return live;
    }

    private static bool ReleasesBasicKey(string reason) =>
        reason is SessionEndReasons.GrantsEnded or SessionEndReasons.Idle or SessionEndReasons.Expired;

    private async ValueTask<LiveSession> OpenBasicAsync(TenantId tenant, string key, Func<string, SupportSessionRecord> newRecord, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_basic.TryGetValue(key, out var known) && known.LastActivityAt + Options.IdleTimeout > now)
        {
            return known;
        }

        var (record, started) = await store.OpenBasicAsync(newRecord(NewId()), key, Options.IdleTimeout, cancellationToken);
        if (started)
        {
            events.Publish(new SupportEvent(SupportEventTypes.SessionStarted, record.Tenant, record.StartedAt, Session: record));
        }

        var live = _sessions.TryGetValue((tenant.Value, record.Id), out var held) ? held : Hold(new LiveSession(record, key));
        _basic[key] = live;
        return live;
    }

    /// <summary>A refusal within a known session: counted, and published (at most once a minute per session).</summary>
    public void Denied(LiveSession session, string code)
    {
        var now = time.GetUtcNow();
        session.Denied(code, now);
        if (now - session.LastDeniedEventAt >= TimeSpan.FromMinutes(1))
        {
            session.LastDeniedEventAt = now;
            events.Publish(new SupportEvent(SupportEventTypes.SessionDenied, session.Tenant, now, Detail: code, Session: Snapshot(session)));
        }
    }

    /// <summary>
    /// Ends a session once, everywhere: its record, the tenant's list of ended sessions (so every
    /// instance refuses it and closes its live connections), its report, its event. True when the
    /// store took it now; false when it will be retried (the session is refused here meanwhile).
    /// </summary>
    public async Task<bool> EndAsync(string tenant, string id, string reason, string? by, CancellationToken cancellationToken)
    {
        var live = _sessions.GetValueOrDefault((tenant, id));
        live?.MarkEnded(reason);
        try
        {
            await EndInStoreAsync(tenant, id, reason, by, live, cancellationToken);
            return true;
        }
        catch (GrantStoreUnavailableException ex)
        {
            LogEndPending(logger, tenant, id, reason, ex.GetType().Name);
            _pendingEnds.Enqueue(new PendingEnd(tenant, id, reason, by, time.GetUtcNow()));
            Interlocked.Exchange(ref _work, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            return false;
        }
    }

    /// <summary>Adds each session's delta to its record. Called by the maintenance loop (and before an end).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        foreach (var session in _sessions.Values)
        {
            await FlushOneAsync(session, cancellationToken);
        }

        // Forget sessions that ended, or fell idle here (the store's sweep ends them everywhere).
        var now = time.GetUtcNow();
        foreach (var (key, session) in _sessions)
        {
            if (session.Ended || session.LastActivityAt + Options.IdleTimeout + Options.IdleTimeout < now)
            {
                _sessions.TryRemove(KeyValuePair.Create(key, session));
                if (session.BasicKey is { } basicKey)
                {
                    _basic.TryRemove(KeyValuePair.Create(basicKey, session));
                }
            }
        }
    }

    /// <summary>Ends the sessions past their idle timeout or expiry (any instance may; ending is idempotent), and retries pending ends.</summary>
    public async Task SweepAsync(CancellationToken cancellationToken)
    {
        var retry = _pendingEnds.Count;
        while (retry-- > 0 && _pendingEnds.TryDequeue(out var pending))
        {
            await EndAsync(pending.Tenant, pending.Id, pending.Reason, pending.By, cancellationToken);
        }

        await EndSessionsWithoutGrantsAsync(tenant: null, cancellationToken);

        var now = time.GetUtcNow();
        foreach (var (tenant, id) in await store.DueAsync(now, 500, cancellationToken))
        {
            var record = await store.GetAsync(tenant, id, cancellationToken);
            if (record is { IsActive: true })
            {
                var reason = record.ExpiresAt is { } expires && expires <= now ? SessionEndReasons.Expired : SessionEndReasons.Idle;
                await EndAsync(tenant, id, reason, by: null, cancellationToken);
            }
        }
    }

    private async Task FlushOneAsync(LiveSession session, CancellationToken cancellationToken)
    {
        if (session.TakeDelta() is not { } delta)
        {
            return;
        }

        try
        {
            if (await store.FlushAsync(delta, Options.IdleTimeout, Options, cancellationToken) && !session.Ended)
            {
                events.Publish(new SupportEvent(SupportEventTypes.SessionFirstWrite, session.Tenant, delta.NewWrites[0].At, Session: Snapshot(session)));
            }
        }
        catch (GrantStoreUnavailableException)
        {
            session.Restore(delta); // carried by the next flush
            throw;
        }
    }

    private async Task EndInStoreAsync(string tenant, string id, string reason, string? by, LiveSession? live, CancellationToken cancellationToken)
    {
        if (live is not null)
        {
            await FlushOneAsync(live, cancellationToken);
        }

        var now = time.GetUtcNow();
        var end = new SessionEnd(now, reason, by);
        var ended = await store.EndAsync(tenant, id, end, now + grantsOptions.Value.HistoryRetention, cancellationToken);

        // Every instance refuses the session from now on (and closes its live connections): for a
        // token as long as it could still be presented, for Basic for an idle timeout.
        var refuseUntil = (ended?.ExpiresAt ?? live?.ExpiresAt) is { } expires && expires > now + Options.IdleTimeout ? expires : now + Options.IdleTimeout;
        await grants.RevokeSessionAsync(tenant, id, refuseUntil, cancellationToken);
        if (ended is null)
        {
            return; // already ended (elsewhere) or unknown
        }

        var report = SessionReport.From(ended, end);
        await store.SaveReportAsync(tenant, id, report, cancellationToken);
        events.Publish(new SupportEvent(SupportEventTypes.SessionEnded, tenant, now, Session: ended with { Report = report }));
        LogEnded(logger, tenant, id, reason);
    }

    private static SupportSessionRecord Snapshot(LiveSession s) => new()
    {
        Id = s.Id,
        Tenant = s.Tenant,
        SupportUser = s.SupportUser,
        TargetUser = s.TargetUser,
        Credential = s.BasicKey is null ? "sessiontoken" : "basic",
        StartedAt = s.StartedAt,
        LastActivityAt = s.LastActivityAt,
    };

    private sealed record PendingEnd(string Tenant, string Id, string Reason, string? By, DateTimeOffset Since);

    [LoggerMessage(EventId = 1710, Level = LogLevel.Information, Message = "Support session {SessionId} of tenant {Tenant} ended: {Reason}")]
    private static partial void LogEnded(ILogger logger, string tenant, string sessionId, string reason);

    [LoggerMessage(EventId = 1713, Level = LogLevel.Warning, Message = "Support sessions of tenant {Tenant} could not be checked after a revocation ({Error}); the sweep ends them")]
    private static partial void LogGrantCheckFailed(ILogger logger, string tenant, string error);

    [LoggerMessage(EventId = 1711, Level = LogLevel.Warning,
        Message = "Support session {SessionId} of tenant {Tenant} ({Reason}) is refused here, but the store could not record its end ({Error}); retrying")]
    private static partial void LogEndPending(ILogger logger, string tenant, string sessionId, string reason, string error);
}

/// <summary>
/// Flushes session counters every <see cref="SessionsOptions.FlushInterval"/> and sweeps idle and
/// expired sessions every <see cref="SessionsOptions.SweepInterval"/> while this instance holds
/// sessions. With none, it runs no timer but one for the earliest session due anywhere (ended
/// for an instance that went away), and wakes when a session arrives.
/// </summary>
internal sealed partial class SessionMaintenance(SessionTracker tracker, IOptions<SessionsOptions> options, TimeProvider time, ILogger<SessionMaintenance> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        tracker.SubscribeToGrantChanges();
        var lastSweep = time.GetUtcNow();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var arrived = tracker.WorkArrived;
                if (tracker.HasLocalWork)
                {
                    await Task.Delay(options.Value.FlushInterval, time, stoppingToken);
                    await RunOnceAsync(tracker.FlushAsync, "flush", stoppingToken);
                    if (time.GetUtcNow() - lastSweep >= options.Value.SweepInterval)
                    {
                        lastSweep = time.GetUtcNow();
                        await RunOnceAsync(tracker.SweepAsync, "sweep", stoppingToken);
                    }

                    continue;
                }

                var wait = await UntilNextDueAsync(stoppingToken);
                using var woken = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var delay = wait is { } w ? Task.Delay(w, time, woken.Token) : Task.Delay(Timeout.InfiniteTimeSpan, woken.Token);
                var first = await Task.WhenAny(delay, arrived);
                await woken.CancelAsync();
                stoppingToken.ThrowIfCancellationRequested();
                if (first == delay)
                {
                    lastSweep = time.GetUtcNow();
                    await RunOnceAsync(tracker.SweepAsync, "sweep", stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>How long until the earliest active session falls due (at least a second; the sweep interval when the store cannot say); null for none.</summary>
    private async Task<TimeSpan?> UntilNextDueAsync(CancellationToken stoppingToken)
    {
        try
        {
            var next = await tracker.NextDueAsync(stoppingToken);
            return next is { } due ? TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, (due - time.GetUtcNow()).Ticks)) : null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogFailed(logger, "next-due read", ex.GetType().Name, ex.Message);
            return options.Value.SweepInterval;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // What this instance counted since the last tick goes to the records before it stops.
        await RunOnceAsync(tracker.FlushAsync, "final flush", cancellationToken);
    }

    private async Task RunOnceAsync(Func<CancellationToken, Task> work, string what, CancellationToken cancellationToken)
    {
        try
        {
            await work(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // The next round tries again; the loop must outlive any one failure.
            LogFailed(logger, what, ex.GetType().Name, ex.Message);
        }
    }

    [LoggerMessage(EventId = 1712, Level = LogLevel.Warning, Message = "Support-session {What} failed ({Error}: {Message}); the next round tries again")]
    private static partial void LogFailed(ILogger logger, string what, string error, string message);
}
