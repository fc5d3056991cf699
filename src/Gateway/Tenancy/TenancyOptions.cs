namespace Gateway.Tenancy;

/// <summary>The tenants this gateway fronts and the hosts each is served at (section <c>Gateway:Tenants</c>).</summary>
internal sealed class TenancyOptions
{
    public const string SectionName = "Gateway:Tenants";

    /// <summary>Tenant id → tenant. Ids are lower-case names such as <c>acme</c>.</summary>
    public Dictionary<string, TenantOptions> Tenants { get; init; } = new(StringComparer.Ordinal);
}

internal sealed class TenantOptions
{
    /// <summary>Host names (no port) whose requests belong to this tenant. Matched case-insensitively.</summary>
    public List<string> Hosts { get; init; } = [];

    /// <summary>IANA time zone of the tenant; grant close dates end at 23:59:59 in this zone.</summary>
    public string TimeZone { get; init; } = "UTC";

    /// <summary>The tenant account a support login without a target user (<c>jill$</c>) acts as, unless a grant names a grantor.</summary>
    public string? DesignatedAdmin { get; init; }

    /// <summary>
    /// Whom a grant by a user who is not a tenant admin lets support act as: every user of the
    /// tenant (<see cref="GrantScope.Tenant"/>, the default), or only its creator (<see cref="GrantScope.Creator"/>).
    /// </summary>
    public GrantScope NonAdminGrantScope { get; init; } = GrantScope.Tenant;
}

internal enum GrantScope
{
    /// <summary>A grant covers every user of the tenant.</summary>
    Tenant,

    /// <summary>A grant covers only the user who created it.</summary>
    Creator,
}
