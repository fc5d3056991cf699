using System.Text.Json.Serialization;

namespace Gateway.Grants;

/// <summary>Body of <c>POST /_gateway/tenants/{tenant}/support/grants</c>. Every field is optional.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record CreateGrantRequest
{
    public string? Reason { get; init; }

    public int? DurationHours { get; init; }

    /// <summary>A date (<c>yyyy-MM-dd</c>); the grant ends at 23:59:59 of that day in the tenant's time zone.</summary>
    public DateOnly? CloseDate { get; init; }

    public string? Grantor { get; init; }

    public bool? DenyData { get; init; }

    public bool? DenyConfig { get; init; }

    /// <summary>The only users support may act as (a tenant user may name only themself); absent: every user.</summary>
    public IReadOnlyList<string>? Targets { get; init; }
}

/// <summary>Body of <c>PUT /_gateway/platform/support</c>: the whole settings object.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record PlatformSettingsRequest
{
    public required bool EnabledForAllTenants { get; init; }

    public required int RequestDurationHours { get; init; }

    public required bool DefaultDenyData { get; init; }

    public required bool DefaultDenyConfig { get; init; }
}

/// <summary>Body of <c>PUT /_gateway/platform/tenants/{tenant}/support</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record TenantOverrideRequest
{
    public required TenantOverrideMode Mode { get; init; }

    public DateTimeOffset? Until { get; init; }
}
