using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Tests.Management;

/// <summary>
/// Management issuers configured by OIDC discovery, against a real OIDC provider double on
/// loopback and the real gateway: keys from the JWKS, rotation, per-issuer keys and audience,
/// tenant-bound issuers, and a provider that cannot be reached.
/// </summary>
public sealed class DiscoveryIssuerTests : IAsyncLifetime
{
    private const string Audience = "support-gateway-management";
    private const string StatusPath = "/_gateway/tenants/acme/support/status";
    private readonly List<IAsyncDisposable> _owned = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(SecurityAlgorithms.RsaSha256)]
    [InlineData(SecurityAlgorithms.EcdsaSha256)]
    public async Task TokenOfIssuerConfiguredByItsAuthorityOnly_IsAccepted_AndTheKeysAreCached(string algorithm)
    {
        var idp = await ProviderAsync(algorithm: algorithm);
        var api = await GatewayAsync(idp.IssuerArgs("idp", Audience));

        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("john", "acme"), Audience));
        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("mary", "acme"), Audience));

        Assert.Equal(1, idp.DiscoveryFetches);
        Assert.Equal(1, idp.JwksFetches);
    }

    [Fact]
    public async Task IssuerConfiguredByAnExplicitMetadataAddress_IsAccepted()
    {
        var idp = await ProviderAsync("/tenants/acme");
        var api = await GatewayAsync(
            $"--Management:Issuers:idp:Issuer={idp.Issuer}",
            $"--Management:Issuers:idp:Audience={Audience}",
            $"--Management:Issuers:idp:MetadataAddress={idp.MetadataAddress}",
            "--Management:Issuers:idp:RequireHttpsMetadata=false");

        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("john", "acme"), Audience));
        Assert.Equal(1, idp.JwksFetches);
    }

    [Fact]
    public async Task AfterKeyRotation_TheNewKeyIsFetchedForItsFirstToken_AndTheRotatedOutKeyIsRefused()
    {
        var idp = await ProviderAsync();
        var api = await GatewayAsync(idp.IssuerArgs("idp", Audience));
        var oldKey = idp.CurrentKey;
        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("john", "acme"), Audience));

        var newKey = idp.RotateKey();

        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("john", "acme"), Audience, newKey));
        Assert.Equal(2, idp.JwksFetches);
        await AssertUnauthenticatedAsync(api, idp.Mint(TenantUser("john", "acme"), Audience, oldKey));
        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("john", "acme"), Audience, newKey));
    }

    [Fact]
    public async Task UnknownKids_RefreshTheKeysAtMostOncePerRefreshInterval()
    {
        var clock = new FakeTimeProvider(TestClock.Start);
        var idp = await ProviderAsync();
        var api = await GatewayAsync(clock, idp.IssuerArgs("idp", Audience, "RefreshInterval=00:05:00"));
        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("john", "acme"), Audience));

        // Tokens signed with keys the provider never published, each naming a new kid.
        for (var i = 0; i < 4; i++)
        {
            using var stranger = OidcSigningKey.Create(SecurityAlgorithms.RsaSha256);
            await AssertUnauthenticatedAsync(api, idp.Mint(TenantUser("john", "acme"), Audience, stranger));
        }

        Assert.Equal(2, idp.JwksFetches); // the first fetch, and one refresh for the first unknown kid

        clock.Advance(TimeSpan.FromMinutes(4));
        var rotated = idp.RotateKey();
        await AssertUnauthenticatedAsync(api, idp.Mint(TenantUser("john", "acme"), Audience, rotated));
        Assert.Equal(2, idp.JwksFetches);

        clock.Advance(TimeSpan.FromMinutes(1));
        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("john", "acme"), Audience, rotated));
        Assert.Equal(3, idp.JwksFetches);
    }

    [Fact]
    public async Task TokenWithTheRightKeyButAnotherIssuersAudience_IsRefused()
    {
        var a = await ProviderAsync("/a");
        var b = await ProviderAsync("/b");
        var api = await GatewayAsync([.. a.IssuerArgs("a", "api-a"), .. b.IssuerArgs("b", "api-b")]);

        await AssertUnauthenticatedAsync(api, a.Mint(TenantUser("john", "acme"), "api-b"));
        await AssertUnauthenticatedAsync(api, a.Mint(TenantUser("john", "acme"), Audience)); // the demo issuer's audience
        await AssertStatusAsync(api, HttpStatusCode.OK, a.Mint(TenantUser("john", "acme"), "api-a"));
        await AssertStatusAsync(api, HttpStatusCode.OK, b.Mint(TenantUser("john", "acme"), "api-b"));
    }

    [Fact]
    public async Task TokenOfIssuerA_SignedWithAnotherIssuersKey_IsRefused()
    {
        var a = await ProviderAsync("/a");
        var b = await ProviderAsync("/b", SecurityAlgorithms.EcdsaSha256);
        var api = await GatewayAsync([.. a.IssuerArgs("a", Audience), .. b.IssuerArgs("b", Audience)]);
        await AssertStatusAsync(api, HttpStatusCode.OK, b.Mint(TenantUser("john", "acme"), Audience));

        var claimsOfA = TenantUser("john", "acme");
        claimsOfA["iss"] = a.Issuer;

        // B's key, with B's kid, then with A's kid; and the demo issuer's HMAC key.
        await AssertUnauthenticatedAsync(api, b.Mint(claimsOfA, Audience));
        await AssertUnauthenticatedAsync(api, b.Mint(claimsOfA, Audience, keyId: a.CurrentKey.KeyId));
        var demoKey = new SymmetricSecurityKey(Convert.FromBase64String("d9pAQ+FVCxw0l7LdHJw9yKsyBtvOc2FaQJoBgH+WNHY=")) { KeyId = a.CurrentKey.KeyId };
        claimsOfA["aud"] = Audience;
        claimsOfA["exp"] = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds();
        await AssertUnauthenticatedAsync(api, new JsonWebTokenHandler().CreateToken(claimsOfA.ToJsonString(), new SigningCredentials(demoKey, SecurityAlgorithms.HmacSha256)));

        await AssertStatusAsync(api, HttpStatusCode.OK, a.Mint(TenantUser("john", "acme"), Audience));
    }

    [Fact]
    public async Task TenantBoundIssuer_CannotActOnAnotherTenant_NorAsPlatformAdmin()
    {
        var idp = await ProviderAsync("/realms/acme");
        var api = await GatewayAsync(idp.IssuerArgs("acme-realm", Audience, "Tenant=acme"));
        var token = idp.Mint(new JsonObject { ["sub"] = "john", ["tenant"] = "globex", ["roles"] = new JsonArray("tenant-admin", "platform-admin") }, Audience);

        Assert.Equal("management.wrong_tenant", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/globex/support/status", token, expectedStatus: 403));
        Assert.Equal("management.wrong_tenant", await api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/tenants/globex/support/grants", token, new { }, 403));
        Assert.Equal("management.forbidden", await api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/platform/support", token, expectedStatus: 403));
        Assert.Equal("management.forbidden", await api.ProblemCodeAsync(HttpMethod.Put, "/_gateway/platform/tenants/globex/support", token, new { mode = "disabled" }, 403));

        // Its own tenant is acme, whatever the token's tenant claim said.
        var status = await api.JsonAsync(HttpMethod.Get, StatusPath, token);
        Assert.Equal("acme", status.GetProperty("tenant").GetString());
    }

    [Fact]
    public async Task UnreachableDiscovery_Gets401NotA500_AndOtherIssuersKeepWorking()
    {
        var deadIssuer = $"http://127.0.0.1:{LoopbackPorts.Reserve()}/realms/gone";
        var idp = await ProviderAsync();
        var api = await GatewayAsync(
        [
            $"--Management:Issuers:gone:Issuer={deadIssuer}",
            $"--Management:Issuers:gone:Audience={Audience}",
            $"--Management:Issuers:gone:Authority={deadIssuer}",
            "--Management:Issuers:gone:RequireHttpsMetadata=false",
            .. idp.IssuerArgs("idp", Audience),
        ]);
        var claims = TenantUser("john", "acme");
        claims["iss"] = deadIssuer;

        await AssertUnauthenticatedAsync(api, idp.Mint(claims, Audience));
        await AssertUnauthenticatedAsync(api, idp.Mint(claims, Audience));

        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("john", "acme"), Audience));
        await AssertStatusAsync(api, HttpStatusCode.OK, await api.TokenAsync("john", "tenant-user", "acme"));
    }

    [Fact]
    public async Task ProviderDown_ItsTokensGet401WithoutAFetchPerRequest_UntilItIsBack()
    {
        var clock = new FakeTimeProvider(TestClock.Start);
        var idp = await ProviderAsync();
        idp.Unavailable = true;
        var api = await GatewayAsync(clock, idp.IssuerArgs("idp", Audience));

        await AssertUnauthenticatedAsync(api, idp.Mint(TenantUser("john", "acme"), Audience));
        var fetches = idp.DiscoveryFetches;
        Assert.True(fetches >= 1);
        await AssertUnauthenticatedAsync(api, idp.Mint(TenantUser("john", "acme"), Audience));
        Assert.Equal(fetches, idp.DiscoveryFetches); // within the back-off: refused at once

        idp.Unavailable = false;
        clock.Advance(TimeSpan.FromSeconds(1));
        await AssertStatusAsync(api, HttpStatusCode.OK, idp.Mint(TenantUser("john", "acme"), Audience));
    }

    [Fact]
    public async Task DiscoveryDocumentNamingAnotherIssuer_LendsItsKeysToNobody()
    {
        var idp = await ProviderAsync();
        idp.DocumentIssuer = "https://someone-else.example";
        var api = await GatewayAsync(idp.IssuerArgs("idp", Audience));

        await AssertUnauthenticatedAsync(api, idp.Mint(TenantUser("john", "acme"), Audience));

        Assert.Contains(api.Gateway.Logs.Entries, e => e.EventId.Id == 1405 && e.Message.Contains("someone-else.example", StringComparison.Ordinal));
    }

    internal static JsonObject TenantUser(string user, string tenant) =>
        new() { ["sub"] = user, ["tenant"] = tenant, ["roles"] = new JsonArray("tenant-user") };

    private async Task<OidcProviderDouble> ProviderAsync(string path = "", string algorithm = SecurityAlgorithms.RsaSha256)
    {
        var idp = await OidcProviderDouble.StartAsync(path, algorithm);
        _owned.Add(idp);
        return idp;
    }

    private Task<Api> GatewayAsync(params string[] args) => GatewayAsync(null, args);

    private async Task<Api> GatewayAsync(TimeProvider? clock, params string[] args)
    {
        var gateway = await GatewayHost.StartAsync(
            null,
            new Dictionary<string, Uri>(),
            args,
            clock is null ? null : builder => builder.Services.AddSingleton(clock));
        _owned.Add(gateway);
        return new Api(gateway);
    }

    private static async Task AssertStatusAsync(Api api, HttpStatusCode expected, string token)
    {
        using var response = await api.SendAsync(HttpMethod.Get, StatusPath, token);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
    }

    private static async Task AssertUnauthenticatedAsync(Api api, string token)
    {
        using var response = await api.SendAsync(HttpMethod.Get, StatusPath, token);
        Assert.Equal("management.unauthenticated", await ManagementClient.ProblemCodeAsync(response, 401));
    }

    /// <summary>The management client of one gateway, and the gateway (for its logs).</summary>
    private sealed class Api(GatewayHost gateway)
    {
        private readonly ManagementClient _client = new(gateway);

        public GatewayHost Gateway => gateway;

        public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null) => _client.SendAsync(method, path, token, body);

        public Task<string> ProblemCodeAsync(HttpMethod method, string path, string? token, object? body = null, int? expectedStatus = null) =>
            _client.ProblemCodeAsync(method, path, token, body, expectedStatus);

        public Task<System.Text.Json.JsonElement> JsonAsync(HttpMethod method, string path, string? token) => _client.JsonAsync(method, path, token);

        public Task<string> TokenAsync(string user, string role, string tenant) => _client.TokenAsync(user, role, tenant);
    }
}
