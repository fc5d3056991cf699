using Gateway.Authentication;
using Gateway.Grants;
using Gateway.Problems;
using Gateway.Routing;
using Gateway.Tenancy;

namespace Gateway.Policy;

/// <summary>
/// Everything a support decision depends on, known before anything is forwarded. Built by the
/// request path from the verified credentials, by the live-session re-check from a request in
/// flight, by explain and replay from what they are asked.
/// </summary>
/// <param name="User">The authenticated support user, as the directory knows it now.</param>
/// <param name="RequestedTarget">The tenant user named in the login (<c>jill$john</c>), or null for <c>jill$</c>.</param>
/// <param name="SessionId">The session token's session, or null for HTTP Basic.</param>
/// <param name="Route">The matched route's compiled policy; null when admission to the tenant alone is asked (the login endpoint).</param>
/// <param name="IsUpgrade">A protocol upgrade (WebSocket) or tunnel: a two-way channel, a write wherever writes are refused.</param>
/// <param name="DesignatedAdmin">The tenant's designated admin, whom <c>jill$</c> acts as when no grant names a grantor.</param>
/// <param name="CredentialFingerprint">For a session token: the user's password as it was when the session began (see <see cref="SupportUser.CredentialFingerprint"/>).</param>
internal readonly record struct SupportRequestFacts(
    TenantId Tenant,
    SupportUser User,
    string? RequestedTarget,
    string? SessionId,
    SupportAccess Access,
    SupportRoutePolicy? Route,
    string Method,
    bool IsUpgrade,
    string? DesignatedAdmin,
    string? CredentialFingerprint = null,
    SessionFacts? Session = null);

/// <summary>What is known of the request's support session: whether it has ended, and what it was admitted under.</summary>
internal sealed record SessionFacts(bool Ended, IReadOnlyCollection<string> AdmittedUnder);

/// <summary>The answer: allowed (with the user acted as), or the problem to refuse with and why.</summary>
internal readonly record struct SupportVerdict(ProblemCode? Problem, string Reason, string? TargetUser, string? Detail = null, AccessNeed Need = AccessNeed.Any, SupportAccess? Access = null)
{
    public bool Allowed => Problem is null;
}

/// <summary>
/// The one support decision (permission, grant, session, target, route class and isolation). Pure:
/// no I/O, no clock, no state; the request path, the live-session re-check, explain and replay all
/// call <see cref="Decide"/>, so none of them can drift from what is enforced.
/// </summary>
internal static class SupportAuthorizer
{
    /// <summary>GET, HEAD and OPTIONS read; every other method, known or not, counts as a write.</summary>
    public static bool IsRead(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method);

    /// <summary>The reason given when a session's grants have all ended (the session's end reason follows from it).</summary>
    public const string SessionGrantsEnded = "the grants the support session was admitted under have all ended";

    public static SupportVerdict Decide(in SupportRequestFacts facts)
    {
        if (!facts.User.IsPermittedFor(facts.Tenant.Value))
        {
            return Refuse(ProblemCode.SupportNotPermitted, "the support user may not support this tenant");
        }

        var access = facts.Access;
        if (!access.IsActive)
        {
            return Refuse(ProblemCode.SupportNoGrant, "the tenant has no active support grant", access.DeniedBy);
        }

        if ((facts.SessionId is not null && access.IsSessionRevoked(facts.SessionId)) || facts.Session is { Ended: true })
        {
            return Refuse(ProblemCode.SupportSessionEnded, "the support session has ended");
        }

        // A session lives only while what admitted it does: once every grant it was admitted
        // under has ended, it has ended too, whatever is granted later.
        if (facts.Session is { AdmittedUnder.Count: > 0 } session && !access.StillHasAny(session.AdmittedUnder))
        {
            return Refuse(ProblemCode.SupportSessionEnded, SessionGrantsEnded);
        }

        if (facts.CredentialFingerprint is { } fingerprint && fingerprint != facts.User.CredentialFingerprint)
        {
            return Refuse(ProblemCode.SupportSessionEnded, "the support user's password changed after the session began");
        }

        // jill$ acts as a grant's grantor (the longest-running grant that names one); when every
        // grant is limited to some users, the first user of the longest; else the designated admin.
        var target = facts.RequestedTarget ?? access.LongestGrantor ?? access.LongestScopedTarget ?? facts.DesignatedAdmin;
        if (target is null)
        {
            return Refuse(ProblemCode.SupportNoTarget, "no user to act as");
        }

        // Only the entries that let support act as this user count (isolation adds up over those).
        var scoped = access.ForTarget(target);
        if (!scoped.IsActive)
        {
            return Refuse(ProblemCode.SupportTargetNotGranted, $"no active grant lets support act as {target}");
        }

        if (facts.Route is not { } route)
        {
            return new SupportVerdict(null, "support access is active for the tenant", target, Access: scoped);
        }

        var verdict = RouteVerdict(route.Class, facts.Method, facts.IsUpgrade, scoped.DenyData, scoped.DenyConfig);
        return verdict with { TargetUser = target, Need = Need(route.Class, facts.Method, facts.IsUpgrade), Access = scoped };
    }

    /// <summary>Which grants can admit such a request on their own (the ones named as admitting it).</summary>
    private static AccessNeed Need(RouteClass routeClass, string method, bool upgrade) => routeClass switch
    {
        RouteClass.Data => AccessNeed.Data,
        RouteClass.Config when upgrade || !IsRead(method) => AccessNeed.ConfigWrite,
        _ => AccessNeed.Any,
    };

    /// <summary>Route class against isolation (permissions add up over the tenant's entries: the access carries the effective isolation).</summary>
    private static SupportVerdict RouteVerdict(RouteClass routeClass, string method, bool upgrade, bool denyData, bool denyConfig) => routeClass switch
    {
        RouteClass.Open => Allow("open route: always allowed to support sessions"),
        RouteClass.Forbidden => Refuse(ProblemCode.SupportForbiddenRoute, "forbidden route: never allowed to support sessions"),
        RouteClass.Data when denyData => Refuse(ProblemCode.SupportIsolationData, "data route under denyData: every method is blocked"),
        RouteClass.Data => Allow("data route and no denyData"),
        RouteClass.Config when upgrade && denyConfig => Refuse(ProblemCode.SupportIsolationConfig, "config route under denyConfig: an upgrade opens a two-way channel, which counts as a write"),
        RouteClass.Config when IsRead(method) && !upgrade => Allow("config route, read method"),
        RouteClass.Config when denyConfig => Refuse(ProblemCode.SupportIsolationConfig, $"config route under denyConfig: {method} is a write"),
        RouteClass.Config => Allow("config route and no denyConfig"),
        _ => Refuse(ProblemCode.SupportForbiddenRoute, "unknown route class: refused"),
    };

    private static SupportVerdict Allow(string reason) => new(null, reason, null);

    private static SupportVerdict Refuse(ProblemCode problem, string reason, string? detail = null) => new(problem, reason, null, detail);
}
