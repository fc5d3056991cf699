using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Primitives;

namespace SampleTenantApp;

/// <summary>
/// Counts the requests that reached this app, by decoded request path. Registered as a singleton;
/// tests resolve it from <c>app.Services</c> to prove which backend a request reached (or that none did).
/// </summary>
public sealed class SampleAppHits
{
    // A mutable box per path makes the hot path one lookup plus one Interlocked.Increment,
    // with no allocation once a path has been seen.
    private readonly ConcurrentDictionary<string, StrongBox<long>> _byPath = new(StringComparer.Ordinal);
    private long _total;

    internal SampleAppHits()
    {
    }

    /// <summary>Requests seen since start or the last <see cref="Reset"/>.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Requests whose path starts with <paramref name="pathPrefix"/> (ordinal, case-sensitive).</summary>
    public long For(string pathPrefix)
    {
        ArgumentNullException.ThrowIfNull(pathPrefix);
        long count = 0;
        foreach (var (path, hits) in _byPath)
        {
            if (path.StartsWith(pathPrefix, StringComparison.Ordinal))
            {
                count += Interlocked.Read(ref hits.Value);
            }
        }

        return count;
    }

    public void Reset()
    {
        _byPath.Clear();
        Interlocked.Exchange(ref _total, 0);
    }

    internal void Record(string path)
    {
        Interlocked.Increment(ref _total);
        var hits = _byPath.GetOrAdd(path, static _ => new StrongBox<long>());
        Interlocked.Increment(ref hits.Value);
    }
}

/// <summary>First in the pipeline: counts the request and stamps <c>X-Sample-App</c> on the response.</summary>
internal sealed class SampleAppMiddleware
{
    internal const string HeaderName = "X-Sample-App";

    private readonly RequestDelegate _next;
    private readonly SampleAppHits _hits;
    private readonly StringValues _name;
    private readonly Func<object, Task> _stampHeader;

    public SampleAppMiddleware(RequestDelegate next, SampleAppHits hits, SampleAppOptions options)
    {
        _next = next;
        _hits = hits;
        _name = new StringValues(options.Name);
        _stampHeader = StampHeader;
    }

    public Task InvokeAsync(HttpContext context)
    {
        _hits.Record(context.Request.Path.Value ?? string.Empty);

        // Stamped when the response starts rather than now, so responses whose headers were
        // cleared on the way (the exception handler does that) still carry it.
        context.Response.OnStarting(_stampHeader, context);
        return _next(context);
    }

    private Task StampHeader(object state)
    {
        ((HttpContext)state).Response.Headers[HeaderName] = _name;
        return Task.CompletedTask;
    }
}
