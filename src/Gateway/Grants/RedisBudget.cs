namespace Gateway.Grants;

/// <summary>
/// One Redis call within the store's budget, failing closed: caller cancellation propagates;
/// every other failure (timeout, connection, server error, a reply that cannot be read) becomes
/// <see cref="GrantStoreUnavailableException"/>. Shared by the grant store and the session store.
/// </summary>
internal sealed partial class RedisBudget(TimeSpan budget, ILogger logger)
{
    public async Task<T> RunAsync<TReply, T>(string operation, Func<Task<TReply>> call, Func<TReply, T> interpret, CancellationToken cancellationToken)
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
