using System.Diagnostics;
using Gateway.Auditing;
using Gateway.Problems;
using Gateway.SupportSessions;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Telemetry;

/// <summary>
/// The gateway's <see cref="ActivitySource"/> and what it adds to a proxied request's server span
/// (the span ASP.NET Core's instrumentation records): the tenant and route, and for a support
/// request its decision, refusal code, who acted as whom, session and grants. Never a
/// credential: no password, token, cookie or <c>Authorization</c> value is ever set (the login
/// name is not one). Everything here is skipped unless a tracer provider listens
/// (<see cref="ActivitySource.HasListeners"/>: traces are exported) and the span is recorded.
/// </summary>
internal static class GatewayTracing
{
    public const string SourceName = GatewayMetrics.MeterName;

    // Span attribute names (docs/telemetry.md). user.* are OpenTelemetry's own.
    public const string TenantAttribute = "gateway.tenant";
    public const string RouteIdAttribute = "gateway.route.id";
    public const string UserNameAttribute = "user.name";
    public const string UserIdAttribute = "user.id";
    public const string TargetUserAttribute = "gateway.support.target_user";
    public const string ClaimedUserAttribute = "gateway.support.claimed_user";
    public const string SessionIdAttribute = "gateway.support.session_id";
    public const string GrantIdsAttribute = "gateway.support.grant_ids";
    public const string CredentialAttribute = "gateway.support.credential";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>The request's server span when traces are recorded; null otherwise (the common, free case).</summary>
    public static Activity? RequestSpan(HttpContext context) =>
        Source.HasListeners() && context.Features.Get<IHttpActivityFeature>()?.Activity is { IsAllDataRequested: true } activity
            ? activity
            : null;

    /// <summary>Every proxied request: which tenant, which route.</summary>
    public static void Proxied(HttpContext context, Tenancy.TenantId tenant)
    {
        if (RequestSpan(context) is { } span)
        {
            span.SetTag(TenantAttribute, tenant.Value);
            span.SetTag(RouteIdAttribute, context.Features.Get<Yarp.ReverseProxy.Model.IReverseProxyFeature>()?.Route.Config.RouteId);
        }
    }

    /// <summary>A support request refused with <paramref name="problem"/>; the user as claimed (not verified).</summary>
    public static void SupportRefused(HttpContext context, ProxyCallRecord record, ProblemCode problem)
    {
        if (RequestSpan(context) is not { } span)
        {
            return;
        }

        span.SetTag(GatewayMetrics.DecisionTag, "denied");
        span.SetTag(GatewayMetrics.CodeTag, problem.Value);
        span.SetTag(GatewayMetrics.RouteClassTag, record.Route is { } route ? Routing.RouteClasses.ToConfigName(route.Class) : GatewayMetrics.NoRouteClass);
        if (record.ClaimedWho is { } claimed)
        {
            span.SetTag(ClaimedUserAttribute, claimed);
        }

        if (record.SessionId is { } sessionId)
        {
            span.SetTag(SessionIdAttribute, sessionId);
        }
    }

    /// <summary>A support request admitted: the verified support user, the user acted as, the session and the admitting grants.</summary>
    public static void SupportAdmitted(HttpContext context, SupportSessionFeature session)
    {
        if (RequestSpan(context) is not { } span)
        {
            return;
        }

        span.SetTag(GatewayMetrics.DecisionTag, "allowed");
        span.SetTag(GatewayMetrics.RouteClassTag, Routing.RouteClasses.ToConfigName(session.Route.Class));
        span.SetTag(UserNameAttribute, session.Who);
        span.SetTag(UserIdAttribute, session.SupportUser);
        span.SetTag(TargetUserAttribute, session.TargetUser);
        span.SetTag(CredentialAttribute, session.Credential == SupportCredentialKind.Basic ? "basic" : "sessiontoken");
        if (session.SessionId is { } sessionId)
        {
            span.SetTag(SessionIdAttribute, sessionId);
        }

        span.SetTag(GrantIdsAttribute, session.AdmittedBy.List);
    }

    /// <summary>A span for one grant-store call to Redis, child of the request's when there is one.</summary>
    public static Activity? StartGrantStoreCall(string operation)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity("grant_store " + operation, ActivityKind.Client);
        activity?.SetTag("db.system.name", "redis");
        activity?.SetTag("db.operation.name", operation);
        return activity;
    }
}
