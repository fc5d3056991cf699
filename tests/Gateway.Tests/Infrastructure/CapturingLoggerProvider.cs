using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Infrastructure;

internal sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception = null);

/// <summary>Records what the gateway logs, after the same <c>Logging:LogLevel</c> filters Serilog gets.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();

    public IReadOnlyList<CapturedLog> Entries => [.. _entries];

    /// <summary>
    /// Warnings, errors and anything logged with an exception, leaving out the notices a demo
    /// configuration writes at start-up (generated session and audit signing keys, no shipping configured).
    /// </summary>
    public IReadOnlyList<CapturedLog> Noisy =>
        [.. _entries.Where(e => (e.Level >= LogLevel.Warning || (e.Exception is not null && e.Level >= LogLevel.Information))
            && e.EventId.Id is not (1600 or 1920 or 1931))];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Clear() => _entries.Clear();

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<CapturedLog> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new CapturedLog(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
