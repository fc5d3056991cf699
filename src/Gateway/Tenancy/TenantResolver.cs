using System.Collections.Frozen;
using Microsoft.Extensions.Options;

namespace Gateway.Tenancy;

/// <summary>Maps a request's host to the tenant it belongs to. Built once from validated options.</summary>
internal sealed class TenantResolver
{
    private readonly FrozenDictionary<string, string> _tenantByHost;
    private readonly FrozenSet<string> _tenants;

    public TenantResolver(IOptions<TenancyOptions> options)
    {
        _tenantByHost = options.Value.Tenants
            .SelectMany(t => t.Value.Hosts.Select(h => KeyValuePair.Create(h, t.Key)))
            .ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _tenants = options.Value.Tenants.Keys.ToFrozenSet(StringComparer.Ordinal);
    }

    public bool IsKnownHost(string host) => _tenantByHost.ContainsKey(host);

    public bool IsKnownTenant(string tenant) => _tenants.Contains(tenant);

    public bool TryResolve(HostString host, out TenantId tenant)
    {
        if (host.HasValue && _tenantByHost.TryGetValue(host.Host, out var id))
        {
            tenant = new TenantId(id);
            return true;
        }

        tenant = default;
        return false;
    }
}

/// <summary>A tenant's id as configured under <c>Gateway:Tenants</c>.</summary>
internal readonly partial record struct TenantId(string Value)
{
    /// <summary>What a tenant id looks like: lower-case letters, digits and '-', at most 63, starting with a letter or digit.</summary>
    public const string Rule = "lower-case letters, digits and '-', at most 63 characters, starting with a letter or digit";

    public static bool IsValid(string? value) => value is not null && Pattern().IsMatch(value);

    public override string ToString() => Value;

    // \z, not $: "$" also matches before a final newline.
    [System.Text.RegularExpressions.GeneratedRegex(@"^[a-z0-9][a-z0-9-]{0,62}\z")]
    private static partial System.Text.RegularExpressions.Regex Pattern();
}

/// <summary>The tenant a request belongs to, set by <see cref="TenantResolutionMiddleware"/>.</summary>
internal sealed class TenantFeature(TenantId tenant)
{
    public TenantId Tenant { get; } = tenant;
}
