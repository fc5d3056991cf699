using Gateway.Auditing;
using Gateway.Policy;
using Gateway.Problems;
using Gateway.SupportSessions;
using Gateway.Tenancy;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxying;

/// <summary>
/// The gateway's steps inside YARP's per-request pipeline, in the order they run. This is the one
/// place that order is written; each step's own file says what it does.
/// </summary>
internal static partial class GatewayProxyPipeline
{
    public static WebApplication MapGatewayProxy(this WebApplication app)
    {
        app.MapReverseProxy(proxy =>
        {
            // 1. /_gateway is never proxied (the gateway's endpoints are ordered first; this is the second line).
            proxy.Use(RefuseReservedPrefix);

            // 2. Every proxied call leaves exactly one audit event, whatever the steps below do.
            proxy.UseMiddleware<ProxyAuditMiddleware>();

            // 2b. A Connection header may not make the proxy drop the request's framing, host or credentials.
            proxy.Use(RefuseUnremovableHopByHop);

            // 3. A failed forward becomes a problem document instead of YARP's empty 502/504.
            proxy.Use(ReportForwarderErrors);

            // 4. Support requests: read once, decide once, admit with audit room, or refuse.
            proxy.UseSupportSessions();

            // 4b. Support sessions' HTML pages show who is acting (decided per response, before any body byte).
            proxy.UseMiddleware<Banner.SupportBannerMiddleware>();

            // 5. YARP's own steps; forwarding then applies the transforms (raw target, identity).
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
        })
        // Each route's support policy, compiled once per configuration, as endpoint metadata.
        .WithSupportRoutePolicies(app.Services);

        // A known tenant host with a path no route serves: say so rather than an empty 404.
        app.MapFallback("{**path}", context => GatewayProblem.Create(ProblemCode.NoRoute).WriteAsync(context));
        return app;
    }

    /// <summary>
    /// Defence in depth for the reserved prefix: the gateway's own endpoints are ordered ahead of
    /// every proxy route, and if a route still matched a <c>/_gateway</c> path it is refused here.
    /// </summary>
    private static Task RefuseReservedPrefix(HttpContext context, Func<Task> next) =>
        context.Request.Path.StartsWithSegments(GatewayPaths.Reserved, StringComparison.OrdinalIgnoreCase)
            ? GatewayProblem.Create(ProblemCode.NotFound).WriteAsync(context)
            : next();

    private static Task RefuseUnremovableHopByHop(HttpContext context, Func<Task> next) =>
        Routing.ConnectionHeaderTransformProvider.FirstUnremovable(context.Request.Headers.Connection) is { } name
            ? GatewayProblem.Create(ProblemCode.ConnectionHeaderRefused, $"Connection names '{name}', which a proxy cannot remove without changing the request.").WriteAsync(context)
            : next();

    /// <summary>Turns a failed forward into a problem document instead of YARP's empty 502/504.</summary>
    private static async Task ReportForwarderErrors(HttpContext context, Func<Task> next)
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

        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(GatewayProxyPipeline));
        LogForwardFailed(logger, error.Error, context.Features.Get<TenantFeature>()?.Tenant.Value, error.Exception);
        await GatewayProblem.Create(code).WriteAsync(context);
    }

    [LoggerMessage(EventId = 1200, Level = LogLevel.Warning, Message = "Forwarding failed ({ForwarderError}) for tenant {Tenant}")]
    private static partial void LogForwardFailed(ILogger logger, ForwarderError forwarderError, string? tenant, Exception? exception);
}
