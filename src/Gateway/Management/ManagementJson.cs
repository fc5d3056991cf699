using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Grants;

namespace Gateway.Management;

/// <summary>A grant as the management API shows it: status is the effective one at the time of the answer.</summary>
internal sealed record GrantView(
    GrantId Id,
    string Tenant,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    string? Reason,
    DateTimeOffset ExpiresAt,
    string? Grantor,
    bool DenyData,
    bool DenyConfig,
    IReadOnlyList<string>? Targets,
    GrantStatus Status,
    string? RevokedBy,
    DateTimeOffset? RevokedAt)
{
    public static GrantView From(SupportGrant g, DateTimeOffset now) =>
        new(g.Id, g.Tenant, g.CreatedBy, g.CreatedAt, g.Reason, g.ExpiresAt, g.Grantor, g.DenyData, g.DenyConfig, g.Targets, g.StatusAt(now), g.RevokedBy, g.RevokedAt);
}

internal sealed record GrantListView(string Tenant, string Status, IReadOnlyList<GrantView> Grants);

internal sealed record RevokedView(string Tenant, IReadOnlyList<GrantView> Revoked);

internal sealed record SupportStatusView(
    string Tenant,
    bool Active,
    DateTimeOffset? Until,
    IReadOnlyList<string> Sources,
    bool? DenyData,
    bool? DenyConfig,
    IReadOnlyList<GrantId> GrantIds,
    string? InactiveReason,
    IReadOnlyList<string>? Scope = null);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    PropertyNameCaseInsensitive = false,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(CreateGrantRequest))]
[JsonSerializable(typeof(PlatformSettingsRequest))]
[JsonSerializable(typeof(TenantOverrideRequest))]
[JsonSerializable(typeof(GrantView))]
[JsonSerializable(typeof(GrantListView))]
[JsonSerializable(typeof(RevokedView))]
[JsonSerializable(typeof(SupportStatusView))]
[JsonSerializable(typeof(PlatformSupportSettings))]
[JsonSerializable(typeof(TenantSupportOverride))]
internal sealed partial class ManagementJsonContext : JsonSerializerContext;

internal static class ManagementJson
{
    public static JsonSerializerOptions Options => ManagementJsonContext.Default.Options;
}
