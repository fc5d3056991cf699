using System.Text.Json;

namespace Gateway.Management;

/// <summary>
/// Turns a validated token's payload into a <see cref="ManagementCaller"/> by the mapping of the
/// issuer that signed it (<c>Claims:*</c>, <c>RoleMap</c>, <c>Tenant</c>). Pure: the token has
/// already been checked against that issuer's keys and audience.
/// </summary>
internal static class ManagementClaimMapper
{
    private static readonly HashSet<string> GatewayRoles = new(StringComparer.Ordinal)
    {
        ManagementCaller.PlatformAdmin, ManagementCaller.TenantAdmin, ManagementCaller.TenantUser,
    };

    /// <summary>The caller, or null when the token carries no subject where its issuer says it does.</summary>
    public static ManagementCaller? Map(ManagementIssuerOptions issuer, JsonElement payload)
    {
        if (!TryResolve(payload, issuer.Claims.Subject, out var subjectValue) || Text(subjectValue) is not { } subject || string.IsNullOrWhiteSpace(subject))
        {
            return null;
        }

        var tokenRoles = TryResolve(payload, issuer.Claims.Roles, out var rolesValue) ? Roles(rolesValue) : [];
        var roles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var role in tokenRoles)
        {
            // With a RoleMap, only the roles it lists mean anything; without, only the gateway's own names.
            var mapped = issuer.RoleMap.Count > 0 ? issuer.RoleMap.GetValueOrDefault(role) : role;
            if (mapped is not null && GatewayRoles.Contains(mapped))
            {
                roles.Add(mapped);
            }
        }

        string? tenant;
        if (issuer.Tenant is { } boundTenant)
        {
            // An issuer of one tenant speaks for that tenant only: whatever its tokens claim, they
            // can neither name another tenant nor act for the platform.
            tenant = boundTenant;
            roles.Remove(ManagementCaller.PlatformAdmin);
        }
        else
        {
            tenant = TryResolve(payload, issuer.Claims.Tenant, out var tenantValue) && Text(tenantValue) is { Length: > 0 } named ? named : null;
        }

        return new ManagementCaller(subject, tenant, roles);
    }

    /// <summary>
    /// A claim by name, or by a dotted path into JSON object claims (<c>realm_access.roles</c>).
    /// A name that exists as it is wins, so namespaced claims such as <c>https://example.com/roles</c>
    /// work; otherwise the longest existing prefix before a dot is followed first.
    /// </summary>
    public static bool TryResolve(JsonElement node, string path, out JsonElement value)
    {
        value = default;
        if (node.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        if (node.TryGetProperty(path, out value))
        {
            return true;
        }

        for (var dot = path.LastIndexOf('.'); dot > 0; dot = path.LastIndexOf('.', dot - 1))
        {
            if (node.TryGetProperty(path[..dot], out var head) && TryResolve(head, path[(dot + 1)..], out value))
            {
                return true;
            }
        }

        value = default;
        return false;
    }

    /// <summary>Roles as a JSON array of strings, or one string of space-separated roles.</summary>
    private static IEnumerable<string> Roles(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Array => value.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!),
        JsonValueKind.String => value.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries),
        _ => [],
    };

    private static string? Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.GetRawText(),
        _ => null,
    };
}
