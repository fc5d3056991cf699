using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text.Json.Serialization;

namespace Gateway.Grants;

/// <summary>A support grant's id: <c>g_</c> followed by 26 lower-case base32 characters (128 random bits).</summary>
[JsonConverter(typeof(GrantIdJsonConverter))]
internal readonly record struct GrantId
{
    private const string Prefix = "g_";
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    private GrantId(string value) => Value = value;

    public string Value { get; }

    public static GrantId New()
    {
        Span<byte> random = stackalloc byte[16];
        RandomNumberGenerator.Fill(random);
        Span<char> chars = stackalloc char[26];
        var bits = 0;
        var buffer = 0;
        var n = 0;
        foreach (var b in random)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                chars[n++] = Alphabet[(buffer >> (bits - 5)) & 31];
                bits -= 5;
            }
        }

        chars[n++] = Alphabet[(buffer << (5 - bits)) & 31];
        return new GrantId(Prefix + new string(chars[..n]));
    }

    public static bool TryParse([NotNullWhen(true)] string? text, out GrantId id)
    {
        id = default;
        if (text is null || text.Length != Prefix.Length + 26 || !text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var c in text.AsSpan(Prefix.Length))
        {
            if (!Alphabet.Contains(c, StringComparison.Ordinal))
            {
                return false;
            }
        }

        id = new GrantId(text);
        return true;
    }

    public override string ToString() => Value ?? string.Empty;
}

internal sealed class GrantIdJsonConverter : JsonConverter<GrantId>
{
    public override GrantId Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
        GrantId.TryParse(reader.GetString(), out var id) ? id : throw new System.Text.Json.JsonException("Invalid grant id.");

    public override void Write(System.Text.Json.Utf8JsonWriter writer, GrantId value, System.Text.Json.JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Value);
}

[JsonConverter(typeof(StrictEnumConverter<GrantStatus>))]
internal enum GrantStatus
{
    [JsonStringEnumMemberName("active")]
    Active,

    [JsonStringEnumMemberName("expired")]
    Expired,

    [JsonStringEnumMemberName("revoked")]
    Revoked,
}

/// <summary>
/// A tenant's permission for support users to log in. Stored as written;
/// <see cref="StatusAt"/> derives "expired" from <see cref="ExpiresAt"/>, so a stored record
/// never has to be rewritten when it lapses.
/// </summary>
internal sealed record SupportGrant
{
    public required GrantId Id { get; init; }

    public required string Tenant { get; init; }

    public required string CreatedBy { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public string? Reason { get; init; }

    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>The tenant user that <c>jill$</c> acts as under this grant; null: the tenant's designated admin.</summary>
    public string? Grantor { get; init; }

    public required bool DenyData { get; init; }

    public required bool DenyConfig { get; init; }

    /// <summary>The only tenant users support may act as under this grant; null: every user of the tenant.</summary>
    public IReadOnlyList<string>? Targets { get; init; }

    /// <summary>Active or revoked as stored; see <see cref="StatusAt"/> for the effective status.</summary>
    public GrantStatus Status { get; init; } = GrantStatus.Active;

    public string? RevokedBy { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    public GrantStatus StatusAt(DateTimeOffset now) =>
        Status == GrantStatus.Revoked ? GrantStatus.Revoked
        : ExpiresAt <= now ? GrantStatus.Expired
        : GrantStatus.Active;

    public bool IsActiveAt(DateTimeOffset now) => StatusAt(now) == GrantStatus.Active;
}

/// <summary>Platform-wide support settings (platform admin). Defaults are secure: off, both isolations on.</summary>
internal sealed record PlatformSupportSettings
{
    public static readonly PlatformSupportSettings Default = new();

    public bool EnabledForAllTenants { get; init; }

    public int RequestDurationHours { get; init; } = 24;

    public bool DefaultDenyData { get; init; } = true;

    public bool DefaultDenyConfig { get; init; } = true;
}

[JsonConverter(typeof(StrictEnumConverter<TenantOverrideMode>))]
internal enum TenantOverrideMode
{
    [JsonStringEnumMemberName("inherit")]
    Inherit,

    [JsonStringEnumMemberName("enabled")]
    Enabled,

    [JsonStringEnumMemberName("disabled")]
    Disabled,
}

/// <summary>The platform's per-tenant override; lapses back to inherit at <see cref="Until"/>.</summary>
internal sealed record TenantSupportOverride
{
    public required TenantOverrideMode Mode { get; init; }

    public DateTimeOffset? Until { get; init; }

    public required string SetBy { get; init; }

    public required DateTimeOffset SetAt { get; init; }

    public bool IsInForceAt(DateTimeOffset now) => Mode != TenantOverrideMode.Inherit && (Until is null || Until > now);
}

/// <summary>Everything the read path needs about one tenant, fetched in one round trip.</summary>
internal sealed record TenantSupportState(
    string Tenant,
    PlatformSupportSettings Platform,
    TenantSupportOverride? Override,
    IReadOnlyList<SupportGrant> ActiveGrants)
{
    /// <summary>Ids of the tenant's support sessions ended by logout whose tokens have not expired yet.</summary>
    public IReadOnlySet<string> RevokedSessions { get; init; } = new HashSet<string>(StringComparer.Ordinal);
}

/// <summary>Enums as their names only: a number (<c>{"mode":3}</c>) is not a value of the API, defined or not.</summary>
internal sealed class StrictEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(namingPolicy: null, allowIntegerValues: false)
    where TEnum : struct, Enum;
