using System.Text.Json;
using Gateway.Management;

namespace Gateway.Tests.Management;

/// <summary>How one issuer's claim mapping turns a validated payload into a caller.</summary>
public sealed class ManagementClaimMapperTests
{
    [Fact]
    public void Defaults_ReadSubTenantAndRoles()
    {
        var caller = Map(new ManagementIssuerOptions(), """{"sub":"john","tenant":"acme","roles":["tenant-user"]}""");

        Assert.Equal(new ManagementCaller("john", "acme", new HashSet<string> { "tenant-user" }), caller, CallerComparer.Instance);
    }

    [Theory]
    [InlineData("""{"sub":"a","roles":"tenant-user tenant-admin"}""")]   // space-separated string (OAuth scope style)
    [InlineData("""{"sub":"a","roles":["tenant-user","tenant-admin"]}""")] // JSON array
    [InlineData("""{"sub":"a","roles":["tenant-admin","tenant-user",7,null,{"x":1}]}""")] // non-strings ignored
    public void Roles_AsArrayOrSpaceSeparatedString(string payload)
    {
        var caller = Map(new ManagementIssuerOptions(), payload)!;

        Assert.Equal(["tenant-admin", "tenant-user"], caller.Roles.Order());
    }

    [Fact]
    public void DottedPath_ReachesIntoJsonObjectClaims()
    {
        var issuer = new ManagementIssuerOptions { Claims = new ManagementClaimOptions { Roles = "realm_access.roles", Subject = "preferred_username" } };

        var caller = Map(issuer, """{"sub":"f1","preferred_username":"kim","realm_access":{"roles":["tenant-admin","offline_access"]}}""")!;

        Assert.Equal("kim", caller.Subject);
        Assert.Equal(["tenant-admin"], caller.Roles);
    }

    [Fact]
    public void DottedPath_FollowsObjectKeysThatContainDots()
    {
        var issuer = new ManagementIssuerOptions { Claims = new ManagementClaimOptions { Roles = "resource_access.portal.acme.example.roles" } };

        var caller = Map(issuer, """{"sub":"a","resource_access":{"portal.acme.example":{"roles":["tenant-user"]},"portal":{"roles":["platform-admin"]}}}""")!;

        Assert.Equal(["tenant-user"], caller.Roles);
    }

    [Fact]
    public void ClaimNamedExactly_WinsOverADottedReading()
    {
        var issuer = new ManagementIssuerOptions { Claims = new ManagementClaimOptions { Roles = "https://example.com/roles", Tenant = "https://example.com/tenant" } };

        var caller = Map(issuer, """{"sub":"auth0|1","https://example.com/roles":["tenant-admin"],"https://example.com/tenant":"globex","https://example":{"com/roles":["platform-admin"]}}""")!;

        Assert.Equal(["tenant-admin"], caller.Roles);
        Assert.Equal("globex", caller.Tenant);
    }

    [Fact]
    public void RoleMap_MapsListedRoles_AndIgnoresTheRest_EvenGatewayNames()
    {
        var issuer = new ManagementIssuerOptions { RoleMap = new(StringComparer.Ordinal) { ["Support.Admin"] = "tenant-admin", ["Ops"] = "platform-admin" } };

        var caller = Map(issuer, """{"sub":"a","tenant":"acme","roles":["Support.Admin","support.admin","platform-admin","Reader"]}""")!;

        Assert.Equal(["tenant-admin"], caller.Roles);
    }

    [Fact]
    public void WithoutRoleMap_OnlyTheGatewaysOwnRoleNamesCount()
    {
        var caller = Map(new ManagementIssuerOptions(), """{"sub":"a","roles":["platform-admin","admin","Tenant-Admin"]}""")!;

        Assert.Equal(["platform-admin"], caller.Roles);
        Assert.True(caller.IsPlatformAdmin);
    }

    [Fact]
    public void TenantBoundIssuer_FixesTheTenant_AndNeverGrantsPlatformAdmin()
    {
        var issuer = new ManagementIssuerOptions { Tenant = "acme" };

        var caller = Map(issuer, """{"sub":"a","tenant":"globex","roles":["platform-admin","tenant-admin"]}""")!;

        Assert.Equal("acme", caller.Tenant);
        Assert.False(caller.IsPlatformAdmin);
        Assert.True(caller.IsTenantAdminOf("acme"));
        Assert.False(caller.IsTenantUserOf("globex"));
    }

    [Theory]
    [InlineData("""{"tenant":"acme","roles":["tenant-user"]}""")]
    [InlineData("""{"sub":"","roles":["tenant-user"]}""")]
    [InlineData("""{"sub":"  ","roles":["tenant-user"]}""")]
    [InlineData("""{"sub":{"id":"a"},"roles":["tenant-user"]}""")]
    public void NoUsableSubject_MeansNoCaller(string payload)
    {
        Assert.Null(Map(new ManagementIssuerOptions(), payload));
    }

    [Fact]
    public void MissingOrOddRolesAndTenant_GiveACallerWithoutThem()
    {
        var caller = Map(new ManagementIssuerOptions(), """{"sub":42,"tenant":["acme"],"roles":{"tenant-user":true}}""")!;

        Assert.Equal("42", caller.Subject);
        Assert.Null(caller.Tenant);
        Assert.Empty(caller.Roles);
    }

    [Fact]
    public void MappedCaller_RoundTripsThroughItsIdentity_AndNoOtherIdentityCounts()
    {
        var caller = new ManagementCaller("kim", "acme", new HashSet<string> { "tenant-admin", "tenant-user" });
        var principal = new System.Security.Claims.ClaimsPrincipal(caller.ToIdentity("https://idp.example"));

        Assert.Equal(caller, ManagementCaller.From(principal), CallerComparer.Instance);

        // Raw token claims under any other authentication type are never read as a caller.
        var raw = new System.Security.Claims.ClaimsIdentity([new("sub", "kim"), new("roles", "platform-admin")], "AuthenticationTypes.Federation");
        Assert.Null(ManagementCaller.From(new System.Security.Claims.ClaimsPrincipal(raw)));
    }

    private static ManagementCaller? Map(ManagementIssuerOptions issuer, string payload)
    {
        using var json = JsonDocument.Parse(payload);
        return ManagementClaimMapper.Map(issuer, json.RootElement);
    }

    private sealed class CallerComparer : IEqualityComparer<ManagementCaller?>
    {
        public static readonly CallerComparer Instance = new();

        public bool Equals(ManagementCaller? x, ManagementCaller? y) =>
            x is not null && y is not null && x.Subject == y.Subject && x.Tenant == y.Tenant && x.Roles.SetEquals(y.Roles);

        public int GetHashCode(ManagementCaller? obj) => obj?.Subject.GetHashCode(StringComparison.Ordinal) ?? 0;
    }
}
