using Gateway.Grants;

namespace Gateway.Authentication;

/// <summary>How a support request proved who it is.</summary>
internal enum SupportCredentialKind
{
    Basic,
    SessionToken,
}

/// <summary>
/// An authenticated, authorised support request: set on <see cref="HttpContext.Features"/>
/// by <see cref="SupportRequestMiddleware"/>, read by the identity transform and the audit.
/// </summary>
internal sealed record SupportSessionFeature(
    string Tenant,
    string SupportUser,
    string TargetUser,
    SupportAccess Access,
    SupportCredentialKind Credential,
    string? SessionId)
{
    /// <summary>The audit "who": <c>jill$john</c>.</summary>
    public string Who => $"{SupportUser}${TargetUser}";

    /// <summary>Isolation as forwarded to the backend: <c>denyData,denyConfig</c>, one of them, or <c>none</c>.</summary>
    public string Isolation => (Access.DenyData, Access.DenyConfig) switch
    {
        (true, true) => "denyData,denyConfig",
        (true, false) => "denyData",
        (false, true) => "denyConfig",
        _ => "none",
    };
}
