using Gateway.Problems;
using Gateway.Tenancy;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Routing;

/// <summary>The gateway's steps inside YARP's per-request pipeline.</summary>
internal static partial class ProxyPipeline
{
    /// <summary>
    /// Defence in depth for the reserved prefix: the gateway's own endpoints are ordered ahead of
    /// every proxy route, and if a route still matched a <c>/_gateway</c> path it is refused here.
    /// </summary>
    public static Task GuardReservedPrefix(HttpContext context, Func<Task> next) =>
        context.Request.Path.StartsWithSegments(GatewayPaths.Reserved, StringComparison.OrdinalIgnoreCase)
            ? GatewayProblem.Create(ProblemCode.NotFound).WriteAsync(context)
            : next();

    /// <summary>Turns a failed forward into a problem document instead of YARP's empty 502/504.</summary>
    public static async Task ReportForwarderErrors(HttpContext context, Func<Task> next)
    {
        await next();

        var error = context.Features.Get<IForwarderErrorFeature>();
        if (error is null || error.Error == ForwarderError.None || context.Response.HasStarted)
        {
            return;
        }

        var code = error.Error switch
        {
            ForwarderError.RequestTimedOut => ProblemCode.BackendTimeout,
            ForwarderError.Request or ForwarderError.RequestCreation or ForwarderError.NoAvailableDestinations
                or ForwarderError.UpgradeRequestDestination => ProblemCode.BackendUnavailable,
            _ when context.Response.StatusCode >= 500 => ProblemCode.BadGateway,
            _ => null, // the client went away or sent a bad body: nothing useful to write
        };

        if (code is null)
        {
            return;
        }

        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ProxyPipeline));
        LogForwardFailed(logger, error.Error, context.Features.Get<TenantFeature>()?.Tenant.Value, error.Exception);
        await GatewayProblem.Create(code).WriteAsync(context);
    }

    [LoggerMessage(EventId = 1200, Level = LogLevel.Warning, Message = "Forwarding failed ({ForwarderError}) for tenant {Tenant}")]
    private static partial void LogForwardFailed(ILogger logger, ForwarderError forwarderError, string? tenant, Exception? exception);
}
