using System.Collections.Concurrent;
using System.Threading.Channels;
using Gateway.Events;
using Gateway.Grants;
using Gateway.Hosting;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

/// <summary>
/// The outbox's engine on each instance. Support events are taken off the bus into a bounded
/// in-memory queue (publishing never waits or does I/O), written to the outbox by this loop (one
/// delivery per subscribed endpoint, <see cref="IWebhookStore.EnqueueAsync"/>), and due entries
/// are claimed for a lease and attempted, up to <see cref="WebhooksOptions.MaxConcurrentDeliveries"/>
/// at once. A failed attempt is retried after <see cref="WebhooksOptions.FirstRetryDelay"/>,
/// doubling up to <see cref="WebhooksOptions.MaxRetryDelay"/>, for <see cref="WebhooksOptions.RetryFor"/>;
/// then the delivery is dead-lettered. Also the publisher of <c>grant.expired</c>: each
/// <c>grant.created</c> schedules a check at the grant's expiry, which reads the grant then and
/// announces the expiry unless the grant was revoked before it.
/// <para>
/// The loop sleeps until the earliest entry falls due or it is told of news (a local event, an
/// attempt finished, another instance's change heard through the store); with nothing scheduled it
/// sends the store nothing at all. On stop it gives back the deliveries it was attempting and writes
/// the events still queued, so a restart loses none of them.
/// </para>
/// </summary>
internal sealed partial class WebhookDispatcher : BackgroundService
{
    /// <summary>Events written to the outbox in one store call.</summary>
    private const int SaveBatch = 100;

    /// <summary>Longest sleep while the store's news of other instances cannot be heard.</summary>
    private static readonly TimeSpan PollWhenDeaf = TimeSpan.FromSeconds(5);

    /// <summary>Longest single sleep: timers take no more than about 49 days, and a grant may run a year.</summary>
    private static readonly TimeSpan LongestSleep = TimeSpan.FromHours(1);

    private static readonly TimeSpan FirstStoreRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxStoreRetry = TimeSpan.FromSeconds(30);

    private readonly IWebhookStore _store;
    private readonly IGrantStore _grants;
    private readonly SupportEventBus _events;
    private readonly WebhookSender _sender;
    private readonly WebhooksOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly Channel<SupportEvent> _queue;
    private readonly List<OutboxEvent> _unsaved = [];
    private readonly ConcurrentDictionary<string, ClaimedDelivery> _attempting = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Task, byte> _running = new();
    private readonly LogRateLimit _droppedLog;
    private readonly string _owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}";
    private readonly Lock _idleLock = new();
    private TaskCompletionSource _wake = NewSignal();
    private TaskCompletionSource _idle = NewSignal();
    private volatile bool _claimNow = true;
    private int _inFlight;
    private long _dropped;

    public WebhookDispatcher(
        IWebhookStore store,
        IGrantStore grants,
        SupportEventBus events,
        WebhookSender sender,
        IOptions<WebhooksOptions> options,
        TimeProvider time,
        ILogger<WebhookDispatcher> logger)
    {
        _store = store;
        _grants = grants;
        _events = events;
        _sender = sender;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _droppedLog = new LogRateLimit(time);
        _queue = Channel.CreateBounded<SupportEvent>(new BoundedChannelOptions(_options.MaxQueuedEvents)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite answers false when full: never waits
        });
    }

    /// <summary>Events dropped because the queue was full (the store unreachable for long).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Completes when nothing is queued, saved-but-unclaimed work is not due, and no attempt is in
    /// flight: the loop sleeps until its next due time. Tests advance a fake clock only then.
    /// Any news (an event, a change heard) makes it pending again before it is acted on.
    /// </summary>
    internal Task WhenIdleAsync()
    {
        lock (_idleLock)
        {
            return _idle.Task;
        }
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        _events.Published += OnPublished;
        _store.DueChanged += OnDueChanged;
        await _store.StartAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await base.StopAsync(cancellationToken);
        }
        finally
        {
            _events.Published -= OnPublished;
            _store.DueChanged -= OnDueChanged;
        }
    }

    /// <summary>The next state of a delivery after an attempt at <paramref name="now"/>.</summary>
    internal static WebhookDelivery AfterAttempt(WebhookDelivery delivery, AttemptResult result, DateTimeOffset now, WebhooksOptions options)
    {
        var tried = delivery with { Attempts = delivery.Attempts + 1, LastAttemptAt = now, LastStatusCode = result.StatusCode };
        if (result.Delivered)
        {
            return tried with { Status = DeliveryStatus.Delivered, DeliveredAt = now, NextAttemptAt = null, LastError = null };
        }

        var failures = delivery.Failures + 1;
        var next = now + RetryDelay(failures, options);
        return next > delivery.RetryingSince + options.RetryFor
            ? tried with { Status = DeliveryStatus.Dead, DeadAt = now, NextAttemptAt = null, Failures = failures, LastError = result.Error }
            : tried with { Status = DeliveryStatus.Pending, NextAttemptAt = next, Failures = failures, LastError = result.Error };
    }

    /// <summary>The wait after the <paramref name="failures"/>th failure in a row: the first delay, doubling, capped.</summary>
    internal static TimeSpan RetryDelay(int failures, WebhooksOptions options)
    {
        var delay = options.FirstRetryDelay;
        for (var i = 1; i < failures && delay < options.MaxRetryDelay; i++)
        {
            delay *= 2;
        }

        return delay < options.MaxRetryDelay ? delay : options.MaxRetryDelay;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        DateTimeOffset? nextDue = null;
        DateTimeOffset? saveAgainAt = null;
        DateTimeOffset? claimAgainAt = null;
        var saveRetry = FirstStoreRetry;
        var claimRetry = FirstStoreRetry;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var wake = ResetWake();
                var now = _time.GetUtcNow();

                if (saveAgainAt is null || saveAgainAt <= now)
                {
                    saveAgainAt = null;
                    if (!await SaveQueuedAsync(stoppingToken))
                    {
                        saveAgainAt = now + saveRetry;
                        saveRetry = Min(saveRetry * 2, MaxStoreRetry);
                    }
                    else
                    {
                        saveRetry = FirstStoreRetry;
                    }
                }

                var capacity = _options.MaxConcurrentDeliveries - Volatile.Read(ref _inFlight);
                if (capacity > 0 && (claimAgainAt is null || claimAgainAt <= now) && (_claimNow || nextDue <= now))
                {
                    _claimNow = false;
                    claimAgainAt = null;
                    try
                    {
                        // Not cancelled by the stop: a claim that ran in Redis must come back, so that what it
                        // took is attempted or given back, not left to its lease. The store's budget bounds it.
                        var batch = await _store.ClaimAsync(now, _options.LeaseDuration, _owner, capacity, CancellationToken.None);
                        nextDue = batch.NextDue;
                        claimRetry = FirstStoreRetry;
                        foreach (var claim in batch.Deliveries)
                        {
                            _attempting[claim.Delivery.Id] = claim;
                            Run(() => AttemptAsync(claim, stoppingToken));
                        }

                        foreach (var check in batch.Checks)
                        {
                            Run(() => CheckExpiryAsync(check, stoppingToken));
                        }

                        if (batch.Deliveries.Count + batch.Checks.Count >= capacity)
                        {
                            _claimNow = true; // there may be more due than there was room for
                        }
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        LogStoreUnavailable(_logger, "claim", ex.Message);
                        claimAgainAt = now + claimRetry;
                        claimRetry = Min(claimRetry * 2, MaxStoreRetry);
                    }
                }

                var claimable = _options.MaxConcurrentDeliveries - Volatile.Read(ref _inFlight) > 0;
                if (_queue.Reader.Count > 0 && saveAgainAt is null || claimable && _claimNow && claimAgainAt is null)
                {
                    continue;
                }

                var until = Earliest(
                    saveAgainAt,
                    claimable ? claimAgainAt ?? nextDue : null,
                    claimable && !_store.HearsOtherInstances ? now + PollWhenDeaf : null,
                    claimable && _claimNow ? claimAgainAt : null);
                if (Volatile.Read(ref _inFlight) == 0 && _unsaved.Count == 0 && _queue.Reader.Count == 0)
                {
                    MarkIdle(wake);
                }

                using var sleeping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var delay = until is { } at
                    ? Task.Delay(Min(Max(at - _time.GetUtcNow(), TimeSpan.Zero), LongestSleep), _time, sleeping.Token)
                    : Task.Delay(Timeout.InfiniteTimeSpan, sleeping.Token);
                await Task.WhenAny(wake, delay);
                await sleeping.CancelAsync();
                if (delay.IsCompletedSuccessfully)
                {
                    MarkBusy();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await ShutDownAsync();
        }
    }

    /// <summary>Lets the attempts end (their sends are cancelled), gives back what they held, writes what is queued.</summary>
    private async Task ShutDownAsync()
    {
        try
        {
            await Task.WhenAll(_running.Keys);
        }
        catch (Exception)
        {
            // Each attempt logged its own failure.
        }

        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _store.ReleaseAsync([.. _attempting.Values], _time.GetUtcNow(), budget.Token);
            _attempting.Clear();
        }
        catch (Exception ex) when (ex is GrantStoreUnavailableException or OperationCanceledException)
        {
            // Their leases run out instead; another instance (or this one, restarted) takes them then.
            LogStoreUnavailable(_logger, "release on stop", ex.Message);
        }

        while (_queue.Reader.Count > 0 || _unsaved.Count > 0)
        {
            try
            {
                if (!await SaveQueuedAsync(budget.Token))
                {
                    break;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        var lost = _unsaved.Count + _queue.Reader.Count;
        if (lost > 0)
        {
            LogLostOnStop(_logger, lost);
        }
    }

    /// <summary>Writes queued events to the outbox in batches. False when the store could not take them (they are kept for later).</summary>
    private async Task<bool> SaveQueuedAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            while (_unsaved.Count < SaveBatch && _queue.Reader.TryRead(out var supportEvent))
            {
                if (ToOutbox(supportEvent) is { } outboxEvent)
                {
                    _unsaved.Add(outboxEvent);
                }
            }

            if (_unsaved.Count == 0)
            {
                return true;
            }

            try
            {
                var created = await _store.EnqueueAsync(_unsaved, _time.GetUtcNow(), doneCheck: null, cancellationToken);
                if (created > 0 || _unsaved.Any(e => e.Expiry is not null))
                {
                    _claimNow = true; // a claim also learns when the earliest entry (a new expiry check) falls due
                }

                _unsaved.Clear();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Kept for the next round: enqueuing is idempotent per event, so a write that did land is not doubled.
                LogStoreUnavailable(_logger, "enqueue", ex.Message);
                return false;
            }
        }
    }

    private OutboxEvent? ToOutbox(SupportEvent e)
    {
        try
        {
            return new OutboxEvent(
                WebhookIds.NewEventId(),
                e.Type,
                e.Tenant,
                e.At,
                WebhookPayloads.Body(e),
                e.Type == SupportEventTypes.GrantCreated && e.Grant is { } grant ? new ExpiryCheck(e.Tenant, grant.Id.Value, grant.ExpiresAt) : null);
        }
        catch (Exception ex)
        {
            LogEventUnwritable(_logger, e.Type, ex);
            return null;
        }
    }

    private async Task AttemptAsync(ClaimedDelivery claim, CancellationToken stoppingToken)
    {
        var keep = false;
        try
        {
            var result = await _sender.SendAsync(claim, stoppingToken);
            var now = _time.GetUtcNow();
            var updated = AfterAttempt(claim.Delivery, result, now, _options);
            // Recorded even while stopping: the attempt happened.
            var recorded = await _store.RecordAttemptAsync(updated, claim.Lease, now + _options.DeliveryRetention, CancellationToken.None);
            if (!recorded)
            {
                LogLeaseLost(_logger, claim.Delivery.Id, claim.Registration.Id);
            }
            else if (updated.Status == DeliveryStatus.Delivered)
            {
                LogDelivered(_logger, claim.Delivery.EventType, claim.Delivery.Id, claim.Registration.Id, updated.Attempts);
            }
            else if (updated.Status == DeliveryStatus.Dead)
            {
                LogDeadLettered(_logger, claim.Delivery.EventType, claim.Delivery.Id, claim.Registration.Id, updated.Attempts, updated.LastError ?? "");
            }
            else
            {
                LogAttemptFailed(_logger, claim.Delivery.EventType, claim.Delivery.Id, claim.Registration.Id, updated.Attempts, updated.LastError ?? "", updated.NextAttemptAt);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            keep = true; // given back on stop
        }
        catch (Exception ex)
        {
            // Not recorded: the lease runs out and the delivery is attempted again (same webhook-id).
            LogAttemptUnrecorded(_logger, claim.Delivery.Id, ex.GetType().Name, ex.Message);
        }
        finally
        {
            if (!keep)
            {
                _attempting.TryRemove(claim.Delivery.Id, out _);
            }

            Done();
        }
    }

    private async Task CheckExpiryAsync(ExpiryCheck check, CancellationToken stoppingToken)
    {
        try
        {
            var grant = GrantId.TryParse(check.GrantId, out var id) ? await _grants.GetGrantAsync(check.Tenant, id, stoppingToken) : null;
            var now = _time.GetUtcNow();
            if (grant is not null && grant.ExpiresAt > now)
            {
                return; // not yet (clocks apart): the lease brings the check back
            }

            // Announced unless the grant was revoked before its expiry (or is gone from history).
            var expired = grant is not null && (grant.Status != GrantStatus.Revoked || grant.RevokedAt >= grant.ExpiresAt)
                ? new SupportEvent(SupportEventTypes.GrantExpired, check.Tenant, grant.ExpiresAt, Grant: grant)
                : null;
            OutboxEvent[] events = expired is null
                ? []
                : [new OutboxEvent(WebhookIds.ExpiredEventId(check.Tenant, check.GrantId), expired.Type, expired.Tenant, expired.At, WebhookPayloads.Body(expired))];
            if (await _store.EnqueueAsync(events, now, doneCheck: check, stoppingToken) > 0)
            {
                _claimNow = true;
            }

            if (expired is not null)
            {
                // For other subscribers in this process; this dispatcher has fanned it out already.
                _events.Publish(expired);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // The lease brings the check back.
            LogCheckFailed(_logger, check.Tenant, check.GrantId, ex.GetType().Name, ex.Message);
        }
        finally
        {
            Done();
        }
    }

    /// <summary>Counts an attempt or check in flight until its <see cref="Done"/>; tracks its task for the stop.</summary>
    private void Run(Func<Task> start)
    {
        Interlocked.Increment(ref _inFlight);
        var task = start();
        _running[task] = 0;
        _ = task.ContinueWith(t => _running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The end of an attempt or check: counted out before the loop is woken, so the loop sees it.</summary>
    private void Done()
    {
        Interlocked.Decrement(ref _inFlight);
        _claimNow = true;
        Wake();
    }

    private void OnPublished(SupportEvent supportEvent)
    {
        if (supportEvent.Type == SupportEventTypes.GrantExpired || !SupportEventTypes.All.Contains(supportEvent.Type))
        {
            return; // grant.expired comes from this dispatcher, already fanned out
        }

        if (!_queue.Writer.TryWrite(supportEvent))
        {
            var total = Interlocked.Increment(ref _dropped);
            if (_droppedLog.ShouldLog(out _))
            {
                LogDropped(_logger, supportEvent.Type, total, _options.MaxQueuedEvents);
            }

            return;
        }

        // Woken first: a round that is about to report idle sees the news (see MarkIdle).
        Wake();
        MarkBusy();
    }

    private void OnDueChanged()
    {
        _claimNow = true;
        Wake();
        MarkBusy();
    }

    private Task ResetWake()
    {
        var fresh = NewSignal();
        Interlocked.Exchange(ref _wake, fresh);
        return fresh.Task;
    }

    private void Wake() => Volatile.Read(ref _wake).TrySetResult();

    private void MarkIdle(Task wake)
    {
        lock (_idleLock)
        {
            // Only if nothing arrived since this round began.
            if (!wake.IsCompleted)
            {
                _idle.TrySetResult();
            }
        }
    }

    private void MarkBusy()
    {
        lock (_idleLock)
        {
            if (_idle.Task.IsCompleted)
            {
                _idle = NewSignal();
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static DateTimeOffset? Earliest(params DateTimeOffset?[] times) => times.Where(t => t is not null).Min();

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    [LoggerMessage(EventId = 1800, Level = LogLevel.Debug, Message = "Webhook {EventType} delivered ({DeliveryId} to {WebhookId}, attempt {Attempt})")]
    private static partial void LogDelivered(ILogger logger, string eventType, string deliveryId, string webhookId, int attempt);

    [LoggerMessage(EventId = 1801, Level = LogLevel.Information, Message = "Webhook {EventType} attempt {Attempt} failed ({DeliveryId} to {WebhookId}): {Error}; next attempt at {NextAttemptAt:O}")]
    private static partial void LogAttemptFailed(ILogger logger, string eventType, string deliveryId, string webhookId, int attempt, string error, DateTimeOffset? nextAttemptAt);

    [LoggerMessage(EventId = 1802, Level = LogLevel.Warning, Message = "Webhook {EventType} dead-lettered after {Attempts} attempts ({DeliveryId} to {WebhookId}): {Error}")]
    private static partial void LogDeadLettered(ILogger logger, string eventType, string deliveryId, string webhookId, int attempts, string error);

    [LoggerMessage(EventId = 1803, Level = LogLevel.Warning, Message = "Webhook outbox: the store is unavailable ({Operation}): {Reason}; retrying")]
    private static partial void LogStoreUnavailable(ILogger logger, string operation, string reason);

    [LoggerMessage(EventId = 1804, Level = LogLevel.Error, Message = "Webhook event {EventType} dropped: the queue holds {Capacity} events not yet written to the outbox ({Total} dropped since start)")]
    private static partial void LogDropped(ILogger logger, string eventType, long total, int capacity);

    [LoggerMessage(EventId = 1805, Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} to {WebhookId}: its lease was lost (retried by hand, taken over, or the endpoint removed); this attempt's outcome is dropped")]
    private static partial void LogLeaseLost(ILogger logger, string deliveryId, string webhookId);

    [LoggerMessage(EventId = 1806, Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId}: the attempt's outcome could not be recorded ({ExceptionType}: {Reason}); it is attempted again when its lease runs out")]
    private static partial void LogAttemptUnrecorded(ILogger logger, string deliveryId, string exceptionType, string reason);

    [LoggerMessage(EventId = 1807, Level = LogLevel.Warning, Message = "Grant expiry check for {Tenant}/{GrantId} failed ({ExceptionType}: {Reason}); retried when its lease runs out")]
    private static partial void LogCheckFailed(ILogger logger, string tenant, string grantId, string exceptionType, string reason);

    [LoggerMessage(EventId = 1808, Level = LogLevel.Error, Message = "Webhook event {EventType} could not be written and is dropped")]
    private static partial void LogEventUnwritable(ILogger logger, string eventType, Exception exception);

    [LoggerMessage(EventId = 1809, Level = LogLevel.Error, Message = "{Count} webhook event(s) could not be written to the outbox before the gateway stopped and are lost")]
    private static partial void LogLostOnStop(ILogger logger, int count);
}
