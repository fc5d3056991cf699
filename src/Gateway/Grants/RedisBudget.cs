namespace Gateway.Grants;

/// <summary>
/// One Redis call within the store's budget, failing closed: caller cancellation propagates;
/// every other failure (timeout, connection, server error, a reply that cannot be read) becomes
/// <see cref="GrantStoreUnavailableException"/>. Shared by the grant store and the session store;
/// with <paramref name="metrics"/> (the grant store's) each call's duration and outcome is
/// recorded, and traced as a child span when traces are exported.
/// </summary>
internal sealed partial class RedisBudget(TimeSpan budget, ILogger logger, Telemetry.GatewayMetrics? metrics = null)
{
    public async Task<T> RunAsync<TReply, T>(string operation, Func<Task<TReply>> call, Func<TReply, T> interpret, CancellationToken cancellationToken)
    {
        if (metrics is null)
        {
            return await RunUnmeasuredAsync(operation, call, interpret, cancellationToken);
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var span = Telemetry.GatewayTracing.StartGrantStoreCall(operation);
        var outcome = Telemetry.GrantStoreOutcome.Unavailable;
        try
        {
            var result = await RunUnmeasuredAsync(operation, call, interpret, cancellationToken);
            outcome = Telemetry.GrantStoreOutcome.Ok;
            return result;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = Telemetry.GrantStoreOutcome.Cancelled;
            throw;
        }
        finally
        {
            metrics.GrantStoreCall(operation, outcome, started);
            span?.SetStatus(outcome == Telemetry.GrantStoreOutcome.Unavailable ? System.Diagnostics.ActivityStatusCode.Error : System.Diagnostics.ActivityStatusCode.Unset);
        }
    }

    private async Task<T> RunUnmeasuredAsync<TReply, T>(string operation, Func<Task<TReply>> call, Func<TReply, T> interpret, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Task<TReply> task;
        try
        {
            task = call();
        }
        catch (Exception ex)
        {
            throw Unavailable(operation, ex);
        }

        TReply reply;
        try
        {
            reply = await task.WaitAsync(budget, cancellationToken);
        }
        catch (TimeoutException ex) when (!task.IsCompleted)
        {
            // The command stays queued in the multiplexer; nobody waits for its outcome.
            RedisGrantStore.Observe(task);
            LogUnavailable(logger, operation, "timeout", null);
            throw new GrantStoreUnavailableException(
                $"The grant store (Redis) did not answer {operation} within {budget.TotalMilliseconds:0} ms.", ex);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            RedisGrantStore.Observe(task);
            throw;
        }
        catch (Exception ex)
        {
            throw Unavailable(operation, ex);
        }

        try
        {
            return interpret(reply);
        }
        catch (Exception ex)
        {
            // Unreadable data must not pass for an answer: fail closed.
            throw Unavailable(operation, ex);
        }
    }

    private GrantStoreUnavailableException Unavailable(string operation, Exception ex)
    {
        var message = $"The grant store (Redis) failed on {operation} (budget {budget.TotalMilliseconds:0} ms): {ex.GetType().Name}: {ex.Message}";
        LogUnavailable(logger, operation, ex.GetType().Name, ex);
        return new GrantStoreUnavailableException(message, ex);
    }

    [LoggerMessage(EventId = 1303, Level = LogLevel.Debug, Message = "Grant store call {Operation} failed: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string operation, string reason, Exception? exception);
}
