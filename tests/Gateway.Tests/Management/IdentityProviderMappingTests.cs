using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Management;

/// <summary>
/// Stock tokens of three identity providers, as they issue them, reach the management API by
/// configuration alone (<c>Claims:*</c>, <c>RoleMap</c>, <c>Tenant</c>): the real gateway against
/// a provider double that publishes its keys by discovery. The examples match docs/identity-providers.md.
/// </summary>
public sealed class IdentityProviderMappingTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }
    }

    [Fact]
    public async Task KeycloakRealmPerTenant_PreferredUsernameAndRealmRoles_Map()
    {
        var idp = await ProviderAsync("/realms/acme");
        var api = await GatewayAsync(idp.IssuerArgs(
            "keycloak-acme",
            "support-gateway",
            "Tenant=acme",
            "Claims:Subject=preferred_username",
            "Claims:Roles=realm_access.roles",
            "RoleMap:support-admin=tenant-admin",
            "RoleMap:support-user=tenant-user"));

        var admin = idp.Mint(KeycloakToken("kim", "support-admin"), "support-gateway");
        var grant = await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", admin, new { reason = "TICKET-7" }, 201);
        Assert.Equal("kim", grant.GetProperty("createdBy").GetString());
        await api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants?status=all", admin); // tenant-admin only

        // Keycloak's default realm roles (offline_access, uma_authorization, ...) map to nothing.
        var user = idp.Mint(KeycloakToken("lou", "support-user"), "support-gateway");
        Assert.Equal("management.forbidden", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants", user, expectedStatus: 403));
        await api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", user);
        var onlyDefaults = idp.Mint(KeycloakToken("max"), "support-gateway");
        Assert.Equal("management.forbidden", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", onlyDefaults, expectedStatus: 403));

        // No preferred_username: no subject, so no caller.
        var anonymous = KeycloakToken("nobody", "support-admin");
        anonymous.Remove("preferred_username");
        using var response = await api.SendAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", idp.Mint(anonymous, "support-gateway"));
        Assert.Equal("management.unauthenticated", await ManagementClient.ProblemCodeAsync(response, 401));
    }

    [Fact]
    public async Task EntraIdDirectoryPerTenant_ObjectIdAndAppRoles_Map()
    {
        var directory = Guid.NewGuid().ToString();
        var idp = await ProviderAsync($"/{directory}/v2.0");
        var api = await GatewayAsync(idp.IssuerArgs(
            "entra-acme",
            "api://support-gateway",
            "Tenant=acme",
            "Claims:Subject=oid",
            "RoleMap:Gateway.TenantAdmin=tenant-admin",
            "RoleMap:Gateway.User=tenant-user"));
        var objectId = Guid.NewGuid().ToString();

        var admin = idp.Mint(EntraToken(directory, objectId, "Gateway.TenantAdmin"), "api://support-gateway");
        var grant = await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", admin, new { }, 201);
        Assert.Equal(objectId, grant.GetProperty("createdBy").GetString());
        await api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants", admin);

        var user = idp.Mint(EntraToken(directory, Guid.NewGuid().ToString(), "Gateway.User"), "api://support-gateway");
        Assert.Equal("management.forbidden", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants", user, expectedStatus: 403));
        Assert.Equal("management.wrong_tenant", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/globex/support/status", user, expectedStatus: 403));
    }

    [Fact]
    public async Task Auth0SharedTenant_NamespacedTenantAndRoleClaims_Map()
    {
        var idp = await ProviderAsync(issuerWithTrailingSlash: true); // Auth0 issuers end in '/'
        const string audience = "https://gateway.example.com/api";
        var api = await GatewayAsync(idp.IssuerArgs(
            "auth0",
            audience,
            "Claims:Tenant=https://example.com/tenant",
            "Claims:Roles=https://example.com/roles",
            "RoleMap:gateway-ops=platform-admin",
            "RoleMap:gateway-admin=tenant-admin",
            "RoleMap:gateway-user=tenant-user"));

        var user = idp.Mint(Auth0Token("auth0|64f0c0ffee", "globex", "gateway-user"), audience);
        await api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/globex/support/status", user);
        var grant = await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/globex/support/grants", user, new { }, 201);
        Assert.Equal("auth0|64f0c0ffee", grant.GetProperty("createdBy").GetString());
        Assert.Equal("management.wrong_tenant", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", user, expectedStatus: 403));
        Assert.Equal("management.forbidden", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/platform/support", user, expectedStatus: 403));

        var ops = idp.Mint(Auth0Token("auth0|0p5", null, "gateway-ops", "billing-viewer"), audience);
        var settings = await api.JsonAsync(HttpMethod.Get, "/_gateway/platform/support", ops);
        Assert.False(settings.GetProperty("enabledForAllTenants").GetBoolean());
    }

    /// <summary>A Keycloak access token as a stock realm issues it (default realm roles included).</summary>
    private static JsonObject KeycloakToken(string username, params string[] realmRoles) => new()
    {
        ["jti"] = Guid.NewGuid().ToString(),
        ["aud"] = new JsonArray("support-gateway", "account"),
        ["sub"] = Guid.NewGuid().ToString(),
        ["typ"] = "Bearer",
        ["azp"] = "support-portal",
        ["sid"] = Guid.NewGuid().ToString(),
        ["acr"] = "1",
        ["allowed-origins"] = new JsonArray("https://portal.acme.example"),
        ["realm_access"] = new JsonObject { ["roles"] = new JsonArray([.. new[] { "offline_access", "uma_authorization", "default-roles-acme" }.Concat(realmRoles).Select(r => (JsonNode)r)]) },
        ["resource_access"] = new JsonObject { ["account"] = new JsonObject { ["roles"] = new JsonArray("manage-account", "view-profile") } },
        ["scope"] = "openid profile email",
        ["email_verified"] = true,
        ["name"] = $"{username} example",
        ["preferred_username"] = username,
        ["email"] = $"{username}@acme.example",
    };

    /// <summary>An Entra ID v2.0 access token for an API with app roles.</summary>
    private static JsonObject EntraToken(string directory, string objectId, params string[] appRoles) => new()
    {
        ["aio"] = "AWQAm/8ZAAAA",
        ["azp"] = Guid.NewGuid().ToString(),
        ["azpacr"] = "0",
        ["name"] = "Ann Admin",
        ["oid"] = objectId,
        ["preferred_username"] = "ann@acme.onmicrosoft.com",
        ["rh"] = "0.AXkA",
        ["roles"] = new JsonArray([.. appRoles.Select(r => (JsonNode)r)]),
        ["scp"] = "access_as_user",
        ["sub"] = "pairwise-" + Guid.NewGuid().ToString("N"),
        ["tid"] = directory,
        ["uti"] = "kX3t",
        ["ver"] = "2.0",
    };

    /// <summary>An Auth0 access token with namespaced custom claims set by an Action.</summary>
    private static JsonObject Auth0Token(string subject, string? tenant, params string[] roles)
    {
        var token = new JsonObject
        {
            ["sub"] = subject,
            ["azp"] = "x1Y2z3",
            ["scope"] = "openid profile",
            ["https://example.com/roles"] = new JsonArray([.. roles.Select(r => (JsonNode)r)]),
        };
        if (tenant is not null)
        {
            token["https://example.com/tenant"] = tenant;
        }

        return token;
    }

    private async Task<OidcProviderDouble> ProviderAsync(string path = "", bool issuerWithTrailingSlash = false)
    {
        var idp = await OidcProviderDouble.StartAsync(path, issuerWithTrailingSlash: issuerWithTrailingSlash);
        _owned.Add(idp);
        return idp;
    }

    private async Task<ManagementClient> GatewayAsync(string[] args)
    {
        var gateway = await GatewayHost.StartAsync(new Dictionary<string, Uri>(), args);
        _owned.Add(gateway);
        return new ManagementClient(gateway);
    }
}
