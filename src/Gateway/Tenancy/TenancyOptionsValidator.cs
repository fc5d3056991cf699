using Microsoft.Extensions.Options;

namespace Gateway.Tenancy;

/// <summary>Field and cross-field rules for <see cref="TenancyOptions"/>; a failure stops start-up naming the key.</summary>
internal sealed class TenancyOptionsValidator : IValidateOptions<TenancyOptions>
{
    public ValidateOptionsResult Validate(string? name, TenancyOptions options)
    {
        var failures = new List<string>();
        if (options.Tenants.Count == 0)
        {
            failures.Add("Gateway:Tenants: at least one tenant must be configured.");
        }

        var owners = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (id, tenant) in options.Tenants)
        {
            var key = $"Gateway:Tenants:{id}";
            if (!TenantId.IsValid(id))
            {
                failures.Add($"{key}: a tenant id is {TenantId.Rule}.");
            }

            if (tenant.Hosts.Count == 0)
            {
                failures.Add($"{key}:Hosts: at least one host is required.");
            }

            for (var i = 0; i < tenant.Hosts.Count; i++)
            {
                var host = tenant.Hosts[i];
                if (Uri.CheckHostName(host) is not (UriHostNameType.Dns or UriHostNameType.IPv4))
                {
                    failures.Add($"{key}:Hosts:{i}: '{host}' is not a host name (no scheme, port or path).");
                }
                else if (!owners.TryAdd(host, id))
                {
                    failures.Add($"{key}:Hosts:{i}: '{host}' is already served for tenant '{owners[host]}'.");
                }
            }

            if (!TimeZoneInfo.TryFindSystemTimeZoneById(tenant.TimeZone, out _))
            {
                failures.Add($"{key}:TimeZone: '{tenant.TimeZone}' is not a known time zone.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
