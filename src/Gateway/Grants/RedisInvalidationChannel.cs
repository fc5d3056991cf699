using StackExchange.Redis;

namespace Gateway.Grants;

/// <summary>
/// The grant store's invalidation channel: hears the tenants that the store's scripts PUBLISH
/// and tells whether it is hearing them (<see cref="Connected"/>). Subscribes once, confirms the
/// subscription with a PING on the subscription connection, follows the multiplexer's
/// connection events and probes that connection with a heartbeat for what raises no event (a
/// stalled server). Every loss or return of the subscription raises
/// <see cref="IGrantStore.AllTenants"/>, since anything may have been missed meanwhile; each
/// loss starts a new generation, which voids subscribe attempts and heartbeats begun before it.
/// Owned by <see cref="RedisGrantStore"/>, which logs under its own category.
/// </summary>
internal sealed partial class RedisInvalidationChannel : IDisposable
{
    /// <summary>Consecutive subscribe failures (about 0.75 s of retrying) before a warning is logged.</summary>
    private const int WarnAfterFailures = 5;

    /// <summary>How often the subscription connection is probed (finds half-open connections a library event would not report).</summary>
    private static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(1);

    /// <summary>First retry of a failed subscribe; doubles up to <see cref="HeartbeatInterval"/>.</summary>
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(50);

    /// <summary>Floor of the budget for background subscription work, which is not on the request path.</summary>
    private static readonly TimeSpan MinBackgroundBudget = TimeSpan.FromSeconds(1);

    private readonly IConnectionMultiplexer _redis;
    private readonly ISubscriber _subscriber;
    private readonly RedisChannel _channel;
    private readonly TimeSpan _backgroundBudget;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<RedisChannel, RedisValue> _onMessage;
    private readonly Lock _stateLock = new();
    private readonly SemaphoreSlim _subscribeGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();

    // Tenants this instance announced and has not heard back yet, with when (Stopwatch): the invalidation lag.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _expected = new(StringComparer.Ordinal);
    private bool _connected;
    private long _generation;
    private int _subscribeFailures; // guarded by _subscribeGate
    private bool _handlerRegistered; // guarded by _subscribeGate
    private int _started;
    private int _disposed;

    /// <param name="storeTimeout">The store's budget; background work gets at least <see cref="MinBackgroundBudget"/>.</param>
    public RedisInvalidationChannel(IConnectionMultiplexer redis, string channel, TimeSpan storeTimeout, TimeProvider time, ILogger logger)
    {
        _redis = redis;
        _subscriber = redis.GetSubscriber();
        _channel = RedisChannel.Literal(channel);
        _backgroundBudget = storeTimeout > MinBackgroundBudget ? storeTimeout : MinBackgroundBudget;
        _time = time;
        _logger = logger;
        _onMessage = OnMessage;
    }

    /// <summary>True while a confirmed subscription is up (<see cref="IGrantStore.InvalidationsConnected"/>).</summary>
    public bool Connected => Volatile.Read(ref _connected);

    /// <summary>Raised with each tenant heard or raised locally (<see cref="IGrantStore.Invalidated"/>).</summary>
    public event Action<string>? Invalidated;

    /// <summary>
    /// Raised when a tenant this instance announced (<see cref="Expect"/>) is heard back on the
    /// subscription, with how long that took: the path by which other instances hear it too.
    /// </summary>
    public event Action<TimeSpan>? HeardBack;

    /// <summary>A write about to announce <paramref name="tenant"/>; only counts when someone listens to <see cref="HeardBack"/>.</summary>
    public void Expect(string tenant)
    {
        if (HeardBack is not null)
        {
            // The latest write wins: several writes in a row are heard back as one lag, the last one's.
            _expected[tenant] = System.Diagnostics.Stopwatch.GetTimestamp();
        }
    }

    /// <summary>
    /// Subscribes and starts watching the subscription. Never fails because Redis is down:
    /// <see cref="Connected"/> stays false until a later attempt (on reconnect, or the
    /// heartbeat) succeeds.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0 || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        _redis.ConnectionFailed += OnConnectionFailed;
        _redis.ConnectionRestored += OnConnectionRestored;

        // Retries run in the background whatever happens to this first attempt.
        _ = HeartbeatAsync(_stopping.Token);
        await SubscribeAsync("start-up", cancellationToken);
    }

    /// <summary>Raises <see cref="Invalidated"/> to each handler; a throwing handler neither stops the others nor reaches Redis.</summary>
    public void Raise(string tenant)
    {
        var handlers = Invalidated;
        if (handlers is null)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                ((Action<string>)handler)(tenant);
            }
            catch (Exception ex)
            {
                LogHandlerFailed(_logger, ex);
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (_stateLock)
        {
            _generation++;
            _connected = false;
        }

        _stopping.Cancel();
        _redis.ConnectionFailed -= OnConnectionFailed;
        _redis.ConnectionRestored -= OnConnectionRestored;
        try
        {
            RedisGrantStore.Observe(_subscriber.UnsubscribeAsync(_channel, _onMessage, CommandFlags.FireAndForget));
        }
        catch (Exception ex)
        {
            LogUnsubscribeFailed(_logger, ex);
        }
    }

    private void OnMessage(RedisChannel channel, RedisValue message)
    {
        try
        {
            var tenant = (string?)message;
            if (string.IsNullOrEmpty(tenant))
            {
                LogBadMessage(_logger);
                return;
            }

            if (!_expected.IsEmpty && _expected.TryRemove(tenant, out var announced))
            {
                HeardBack?.Invoke(System.Diagnostics.Stopwatch.GetElapsedTime(announced));
            }

            Raise(tenant);
        }
        catch (Exception ex)
        {
            LogHandlerFailed(_logger, ex);
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        try
        {
            if (e.ConnectionType != ConnectionType.Interactive)
            {
                MarkDisconnected($"{e.ConnectionType} connection to {e.EndPoint} failed ({e.FailureType})", e.Exception, raiseAlways: true);
            }
        }
        catch (Exception ex)
        {
            LogHandlerFailed(_logger, ex);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType != ConnectionType.Interactive && Volatile.Read(ref _disposed) == 0)
        {
            // Off the multiplexer's thread: resubscribing waits for Redis.
            _ = Task.Run(() => SubscribeQuietlyAsync("connection restored"));
        }
    }

    private void MarkDisconnected(string reason, Exception? exception, bool raiseAlways)
    {
        bool wasConnected;
        lock (_stateLock)
        {
            _generation++;
            wasConnected = _connected;
            _connected = false;
        }

        if (wasConnected)
        {
            LogInvalidationsLost(_logger, reason, exception);
        }

        if (wasConnected || raiseAlways)
        {
            // Anything may have been missed from now on: caches must not answer.
            Raise(IGrantStore.AllTenants);
        }
    }

    private async Task SubscribeQuietlyAsync(string trigger)
    {
        try
        {
            await SubscribeAsync(trigger, _stopping.Token);
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    /// <summary>
    /// (Re)subscribes and confirms the subscription with a round trip on the subscription
    /// connection; only then reports connected and raises <see cref="IGrantStore.AllTenants"/>.
    /// A connection failure during the attempt (new generation) voids it.
    /// </summary>
    private async Task SubscribeAsync(string trigger, CancellationToken cancellationToken)
    {
        await _subscribeGate.WaitAsync(cancellationToken);
        try
        {
            long generation;
            lock (_stateLock)
            {
                generation = _generation;
            }

            // The handler is registered once: the client keeps the registration across
            // disconnects and sends SUBSCRIBE again by itself on every reconnect, so a later
            // attempt only has to confirm that the subscription is back (registering again would
            // add the handler twice).
            if (!_handlerRegistered)
            {
                _handlerRegistered = true;
                await Bounded(_subscriber.SubscribeAsync(_channel, _onMessage), cancellationToken);
            }
            else if (_subscriber.SubscribedEndpoint(_channel) is null && _redis.IsConnected)
            {
                // Connected, yet the client has not sent SUBSCRIBE again (yet): ask for it, taking
                // the handler off first so it is never registered twice.
                await Bounded(_subscriber.UnsubscribeAsync(_channel, _onMessage), cancellationToken);
                await Bounded(_subscriber.SubscribeAsync(_channel, _onMessage), cancellationToken);
            }

            if (_subscriber.SubscribedEndpoint(_channel) is null)
            {
                SubscribeFailed(trigger, "no Redis server is connected", null);
                return;
            }

            // Ordered after SUBSCRIBE on the same connection: when this answers, we are subscribed.
            await Bounded(_subscriber.PingAsync(), cancellationToken);
            lock (_stateLock)
            {
                if (generation != _generation || Volatile.Read(ref _disposed) != 0)
                {
                    return;
                }

                _connected = true;
            }

            _subscribeFailures = 0;
            LogInvalidationsConnected(_logger, _channel.ToString()!, trigger);
            Raise(IGrantStore.AllTenants);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            SubscribeFailed(trigger, ex.Message, ex);
        }
        finally
        {
            _subscribeGate.Release();
        }
    }

    /// <summary>
    /// Probes the subscription connection every <see cref="HeartbeatInterval"/>: a connection
    /// that stopped answering (half-open, server stalled) raises no event from the library. While
    /// not subscribed, retries sooner (from <see cref="FirstRetryDelay"/>, doubling): right after
    /// the multiplexer connects, its subscription connection is often not up yet.
    /// </summary>
    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        try
        {
            var retryDelay = FirstRetryDelay;
            while (true)
            {
                var connected = Connected;
                await Task.Delay(connected ? HeartbeatInterval : retryDelay, _time, cancellationToken);
                if (!Connected)
                {
                    retryDelay = connected ? FirstRetryDelay : Min(retryDelay * 2, HeartbeatInterval);
                    if (_subscribeGate.CurrentCount > 0)
                    {
                        await SubscribeAsync("retry", cancellationToken);
                    }

                    continue;
                }

                long generation;
                lock (_stateLock)
                {
                    generation = _generation;
                }

                try
                {
                    await Bounded(_subscriber.PingAsync(), cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    if (Interlocked.Read(ref _generation) == generation)
                    {
                        MarkDisconnected("the subscription connection did not answer a heartbeat", ex, raiseAlways: false);
                        retryDelay = FirstRetryDelay;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Disposed.
        }
        catch (Exception ex)
        {
            LogHeartbeatStopped(_logger, ex);
        }
    }

    /// <summary>
    /// One warning when failures persist (right after connecting, the first attempts often come
    /// before the subscription connection is up); the retries around it, every second during an
    /// outage, are debug.
    /// </summary>
    private void SubscribeFailed(string trigger, string reason, Exception? exception)
    {
        if (++_subscribeFailures == WarnAfterFailures)
        {
            LogSubscribeFailed(_logger, trigger, _subscribeFailures, reason, exception);
        }
        else
        {
            LogSubscribeRetryFailed(_logger, trigger, _subscribeFailures, reason, exception);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private async Task Bounded(Task task, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(_backgroundBudget, cancellationToken);
        }
        catch
        {
            RedisGrantStore.Observe(task);
            throw;
        }
    }

    // The grant store's event-id range; 1303 is logged by RedisGrantStore itself.
    [LoggerMessage(EventId = 1300, Level = LogLevel.Warning,
        Message = "Grant invalidations lost: {Reason}. Cached grant state is not used until the subscription is back")]
    private static partial void LogInvalidationsLost(ILogger logger, string reason, Exception? exception);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Information, Message = "Grant invalidations connected on channel {Channel} ({Trigger})")]
    private static partial void LogInvalidationsConnected(ILogger logger, string channel, string trigger);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning,
        Message = "Subscribing to grant invalidations keeps failing ({Trigger}, attempt {Attempt}): {Reason}; retrying every second")]
    private static partial void LogSubscribeFailed(ILogger logger, string trigger, int attempt, string reason, Exception? exception);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Warning, Message = "Ignored an empty grant invalidation message")]
    private static partial void LogBadMessage(ILogger logger);

    [LoggerMessage(EventId = 1305, Level = LogLevel.Error, Message = "A grant invalidation handler failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1306, Level = LogLevel.Error, Message = "The grant invalidation heartbeat stopped unexpectedly")]
    private static partial void LogHeartbeatStopped(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1307, Level = LogLevel.Debug, Message = "Unsubscribing from grant invalidations failed")]
    private static partial void LogUnsubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1308, Level = LogLevel.Debug, Message = "Subscribing to grant invalidations failed ({Trigger}, attempt {Attempt}): {Reason}")]
    private static partial void LogSubscribeRetryFailed(ILogger logger, string trigger, int attempt, string reason, Exception? exception);
}
