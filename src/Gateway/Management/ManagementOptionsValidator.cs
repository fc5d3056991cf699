using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Management;

/// <summary>
/// Start-up rules for <see cref="ManagementOptions"/>: one line per problem, each naming its key.
/// With <c>Gateway:Production</c> true, demo material (symmetric keys, keys shipped in the
/// repository, metadata over http) is refused.
/// </summary>
internal sealed class ManagementOptionsValidator(IConfiguration configuration) : IValidateOptions<ManagementOptions>
{
    private static readonly string[] GatewayRoles = [ManagementCaller.PlatformAdmin, ManagementCaller.TenantAdmin, ManagementCaller.TenantUser];

    public ValidateOptionsResult Validate(string? name, ManagementOptions options)
    {
        var failures = new List<string>();
        var production = configuration.GetValue<bool>("Gateway:Production");
        var tenants = configuration.GetSection("Gateway:Tenants").GetChildren().Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        if (options.Issuers.Count == 0)
        {
            failures.Add("Management:Issuers: at least one token issuer must be configured.");
        }

        if (options.MetadataTimeout <= TimeSpan.Zero || options.MetadataTimeout > TimeSpan.FromMinutes(2))
        {
            failures.Add("Management:MetadataTimeout: more than zero, at most 00:02:00.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (id, issuer) in options.Issuers)
        {
            var key = $"Management:Issuers:{id}";
            if (string.IsNullOrWhiteSpace(issuer.Issuer))
            {
                failures.Add($"{key}:Issuer: required (for a discovery issuer too: its document must name the same issuer).");
            }
            else if (!seen.Add(issuer.Issuer))
            {
                failures.Add($"{key}:Issuer: '{issuer.Issuer}' is configured twice.");
            }

            if (string.IsNullOrWhiteSpace(issuer.Audience))
            {
                failures.Add($"{key}:Audience: required.");
            }

            ValidateKeySource(key, issuer, production, failures);
            ValidateClaims(key, issuer, tenants, failures);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateKeySource(string key, ManagementIssuerOptions issuer, bool production, List<string> failures)
    {
        var sources = new[] { ("SigningKey", issuer.SigningKey), ("PublicKeyPem", issuer.PublicKeyPem), ("Authority", issuer.Authority), ("MetadataAddress", issuer.MetadataAddress) }
            .Where(s => IsSet(s.Item2))
            .Select(s => s.Item1)
            .ToList();
        if (sources.Count != 1)
        {
            failures.Add($"{key}: set exactly one of SigningKey, PublicKeyPem, Authority and MetadataAddress" +
                (sources.Count > 1 ? $" (found {string.Join(", ", sources)})." : "."));
        }

        if (IsSet(issuer.SigningKey))
        {
            if (!ManagementKeys.TryBase64(issuer.SigningKey!, out var bytes) || bytes.Length < 32)
            {
                failures.Add($"{key}:SigningKey: must be base64 of at least 32 bytes.");
            }

            if (production)
            {
                failures.Add(ManagementDemoKeys.IsDemoSigningKey(issuer.SigningKey!)
                    ? $"{key}:SigningKey: is the demo key shipped in config/gateway.json (public); refused in a configuration marked Gateway:Production."
                    : $"{key}:SigningKey: shared symmetric keys are refused in a configuration marked Gateway:Production; configure PublicKeyPem or Authority.");
            }
        }

        if (IsSet(issuer.PublicKeyPem))
        {
            if (ManagementKeys.TryImportPublicKey(issuer.PublicKeyPem!, issuer.KeyId) is null)
            {
                failures.Add($"{key}:PublicKeyPem: not a PEM EC P-256 or RSA (2048 bits or more) public key.");
            }
            else if (production && ManagementDemoKeys.IsDemoPublicKey(issuer.PublicKeyPem!))
            {
                failures.Add($"{key}:PublicKeyPem: is a demo key shipped with the repository (public); refused in a configuration marked Gateway:Production.");
            }
        }

        var discovery = IsSet(issuer.Authority) || IsSet(issuer.MetadataAddress);
        if (discovery && IsSet(issuer.KeyId))
        {
            failures.Add($"{key}:KeyId: only for SigningKey or PublicKeyPem; discovery keys carry their own kid.");
        }

        // The pages' sign-in needs the provider's authorize and token endpoints, which only discovery names.
        if (!discovery && (IsSet(issuer.PagesClientId) || IsSet(issuer.PagesClientSecret)))
        {
            failures.Add($"{key}:PagesClientId: only for an issuer with Authority or MetadataAddress (the sign-in needs its discovery document).");
        }

        if (IsSet(issuer.PagesClientSecret) && !IsSet(issuer.PagesClientId))
        {
            failures.Add($"{key}:PagesClientSecret: only with PagesClientId (the pages' client it belongs to).");
        }

        foreach (var (setting, value) in new[] { ("Authority", issuer.Authority), ("MetadataAddress", issuer.MetadataAddress) })
        {
            if (!IsSet(value))
            {
                continue;
            }

            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
            {
                failures.Add($"{key}:{setting}: an absolute https URL without query or fragment.");
            }
            else if (uri.Scheme == "http" && production)
            {
                failures.Add($"{key}:{setting}: metadata over http is refused in a configuration marked Gateway:Production; use https.");
            }
            else if (uri.Scheme == "http" && issuer.RequireHttpsMetadata)
            {
                failures.Add($"{key}:{setting}: must be https, unless RequireHttpsMetadata is false (tests and development only).");
            }
        }

        if (production && !issuer.RequireHttpsMetadata)
        {
            failures.Add($"{key}:RequireHttpsMetadata: must be true in a configuration marked Gateway:Production.");
        }

        if (issuer.RefreshInterval < BaseConfigurationManager.MinimumRefreshInterval)
        {
            failures.Add($"{key}:RefreshInterval: at least {BaseConfigurationManager.MinimumRefreshInterval:c}.");
        }

        if (issuer.AutomaticRefreshInterval < BaseConfigurationManager.MinimumAutomaticRefreshInterval)
        {
            failures.Add($"{key}:AutomaticRefreshInterval: at least {BaseConfigurationManager.MinimumAutomaticRefreshInterval:c}.");
        }
    }

    private static void ValidateClaims(string key, ManagementIssuerOptions issuer, HashSet<string> tenants, List<string> failures)
    {
        foreach (var (setting, path) in new[] { ("Subject", issuer.Claims.Subject), ("Tenant", issuer.Claims.Tenant), ("Roles", issuer.Claims.Roles) })
        {
            if (string.IsNullOrWhiteSpace(path) || path.StartsWith('.') || path.EndsWith('.') || path.Contains("..", StringComparison.Ordinal))
            {
                failures.Add($"{key}:Claims:{setting}: a claim name, or a dotted path such as realm_access.roles.");
            }
        }

        foreach (var (idpRole, gatewayRole) in issuer.RoleMap)
        {
            if (!GatewayRoles.Contains(gatewayRole, StringComparer.Ordinal))
            {
                failures.Add($"{key}:RoleMap:{idpRole}: '{gatewayRole}' is not a gateway role ({string.Join(", ", GatewayRoles)}).");
            }
            else if (issuer.Tenant is not null && gatewayRole == ManagementCaller.PlatformAdmin)
            {
                failures.Add($"{key}:RoleMap:{idpRole}: an issuer bound to tenant '{issuer.Tenant}' cannot grant {ManagementCaller.PlatformAdmin}.");
            }
        }

        if (issuer.Tenant is not null && !tenants.Contains(issuer.Tenant))
        {
            failures.Add($"{key}:Tenant: '{issuer.Tenant}' is not a tenant of Gateway:Tenants.");
        }
    }

    private static bool IsSet(string? value) => !string.IsNullOrWhiteSpace(value);
}
