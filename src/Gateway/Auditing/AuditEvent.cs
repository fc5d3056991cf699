namespace Gateway.Auditing;

/// <summary>
/// One audit event, shaped after the Elastic Common Schema (field names in the comments).
/// The audit pipeline serialises it to ECS JSON; until then the logging sink writes it.
/// </summary>
internal sealed record AuditEvent
{
    /// <summary><c>@timestamp</c>.</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary><c>event.kind</c>: <c>event</c> for proxied calls and changes, <c>alert</c> is not used.</summary>
    public string Kind { get; init; } = "event";

    /// <summary><c>event.category</c>: e.g. <c>configuration</c>, <c>iam</c>, <c>authentication</c>, <c>web</c>.</summary>
    public required string Category { get; init; }

    /// <summary><c>event.action</c>: e.g. <c>support-grant-created</c>.</summary>
    public required string Action { get; init; }

    /// <summary><c>event.outcome</c>: <c>success</c>, <c>failure</c> or <c>unknown</c>.</summary>
    public string Outcome { get; init; } = "success";

    /// <summary><c>event.reason</c>.</summary>
    public string? Reason { get; init; }

    /// <summary><c>user.name</c>.</summary>
    public string? UserName { get; init; }

    /// <summary><c>user.id</c>.</summary>
    public string? UserId { get; init; }

    /// <summary><c>user.roles</c>.</summary>
    public IReadOnlyList<string>? UserRoles { get; init; }

    /// <summary><c>user.target.name</c>.</summary>
    public string? TargetUserName { get; init; }

    /// <summary><c>organization.id</c>: the tenant.</summary>
    public string? Tenant { get; init; }

    /// <summary><c>gateway.grant.ids</c> (custom).</summary>
    public IReadOnlyList<string>? GrantIds { get; init; }

    /// <summary><c>source.ip</c>.</summary>
    public string? SourceIp { get; init; }

    /// <summary><c>trace.id</c>.</summary>
    public string? TraceId { get; init; }

    /// <summary>Further fields under <c>gateway.*</c> (custom), e.g. the settings that changed.</summary>
    public IReadOnlyDictionary<string, string?>? Details { get; init; }
}
