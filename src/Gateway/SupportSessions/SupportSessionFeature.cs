using Gateway.Grants;
using Gateway.Policy;
using Gateway.Tenancy;

namespace Gateway.SupportSessions;

/// <summary>
/// An admitted support request (<see cref="AdmittedBy"/>: the grants that let it through, a
/// bounded list): set on <see cref="HttpContext.Features"/> by
/// <see cref="SupportSessionsMiddleware"/> once the one decision allowed it; read by the identity
/// transform and the audit record.
/// </summary>
internal sealed record SupportSessionFeature(
    TenantId Tenant,
    string SupportUser,
    string TargetUser,
    SupportAccess Access,
    SupportCredentialKind Credential,
    string? SessionId,
    SupportRoutePolicy Route,
    AdmittingGrants AdmittedBy,
    string? CredentialFingerprint,
    Sessions.LiveSession Live)
{
    /// <summary>The audit "who": <c>jill$john</c>.</summary>
    public string Who { get; } = $"{SupportUser}${TargetUser}";

    /// <summary>Isolation as forwarded to the backend: <c>denyData,denyConfig</c>, one of them, or <c>none</c>.</summary>
    public string Isolation => Access.Isolation;
}
