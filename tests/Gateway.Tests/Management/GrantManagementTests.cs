using Microsoft.Extensions.Time.Testing;
using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Management;

/// <summary>
/// The grant endpoints through the real gateway (in-memory store, a manual
/// clock), with tokens from the real <c>token</c> verb validated by JwtBearer.
/// </summary>
public sealed class GrantManagementTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 3, 10, 9, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _clock = new(Start);
    private TestEnvironment _env = null!;
    private string _mary = null!;

    public async Task InitializeAsync()
    {
        _env = await new TestEnvironment { Backends = TestBackends.None, Clock = _clock, MintTokens = true }.StartAsync();
        _mary = await _env.Api.TokenAsync("mary", "tenant-user", "acme");
    }

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task EnableSupport_AsTenantUser_CreatesSecureByDefaultGrantForTheRequestDuration()
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { reason = "TICKET-42: orders page broken" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var grant = json.RootElement;

        var id = grant.GetProperty("id").GetString()!;
        Assert.Matches("^g_[a-z2-7]{26}$", id);
        Assert.Equal($"/_gateway/tenants/acme/support/grants/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("acme", grant.GetProperty("tenant").GetString());
        Assert.Equal("john", grant.GetProperty("createdBy").GetString());
        Assert.Equal("TICKET-42: orders page broken", grant.GetProperty("reason").GetString());
        Assert.Equal(Start, grant.GetProperty("createdAt").GetDateTimeOffset());
        Assert.Equal(Start.AddHours(24), grant.GetProperty("expiresAt").GetDateTimeOffset());
        Assert.True(grant.GetProperty("denyData").GetBoolean());
        Assert.True(grant.GetProperty("denyConfig").GetBoolean());
        Assert.Equal("active", grant.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, grant.GetProperty("grantor").ValueKind);

        var status = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", _env.John);
        Assert.True(status.GetProperty("active").GetBoolean());
        Assert.Equal(Start.AddHours(24), status.GetProperty("until").GetDateTimeOffset());
        Assert.Equal(["grant"], Sources(status));
        Assert.True(status.GetProperty("denyData").GetBoolean());
        Assert.Equal(id, status.GetProperty("grantIds")[0].GetString());
    }

    [Fact]
    public async Task GrantChanges_AreAudited()
    {
        var grant = await CreateAsync(_env.John, new { durationHours = 2 });
        await _env.Api.JsonAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/grants/{grant}", _env.John);

        var created = Assert.Single(await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-grant-created"));
        Assert.Equal(grant, AuditTrail.Get(created, "gateway.support.grant_ids"));
        Assert.Equal("john", AuditTrail.Get(created, "user.name"));
        Assert.Equal("acme", AuditTrail.Get(created, "organization.id"));
        var revoked = Assert.Single(await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-grant-revoked"));
        Assert.Equal(grant, AuditTrail.Get(revoked, "gateway.support.grant_ids"));
    }

    [Theory]
    [InlineData("acme", "2026-03-12", "2026-03-12T22:59:59Z")]     // Europe/Berlin, CET (+01:00)
    [InlineData("globex", "2026-03-12", "2026-03-13T03:59:59Z")]   // America/New_York, EDT (-04:00) since 8 March
    [InlineData("globex", "2026-03-10", "2026-03-11T03:59:59Z")]   // today, still ahead in New York
    public async Task CloseDate_EndsAt235959InTheTenantsTimeZone(string tenant, string closeDate, string expectedUtc)
    {
        var token = await _env.Api.TokenAsync("someone", "tenant-user", tenant);

        var grant = await _env.Api.JsonAsync(HttpMethod.Post, $"/_gateway/tenants/{tenant}/support/grants", token, new { closeDate }, 201);

        Assert.Equal(DateTimeOffset.Parse(expectedUtc, System.Globalization.CultureInfo.InvariantCulture), grant.GetProperty("expiresAt").GetDateTimeOffset());
    }

    [Theory]
    [InlineData("""{"durationHours": 2, "closeDate": "2026-03-12"}""")]
    [InlineData("""{"durationHours": 0}""")]
    [InlineData("""{"durationHours": 100000}""")]
    [InlineData("""{"closeDate": "2026-03-09"}""")]
    [InlineData("""{"closeDate": "12/03/2026"}""")]
    [InlineData("""{"denydata": false}""")]
    [InlineData("""{"grantor": "ann smith"}""")]
    [InlineData("""{"grantor": "jill$ann"}""")]
    [InlineData("""{"reason": "bell\u0007"}""")]
    [InlineData("""{"durationHours": "2"}""")]
    [InlineData("""[1, 2]""")]
    [InlineData("""{"reason": """)]
    public async Task InvalidGrantRequests_Get400WithStableCode(string body)
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, rawBody: body);

        Assert.Equal("request.invalid", await ManagementClient.ProblemCodeAsync(response, 400));
        Assert.Empty(await ListAsync("all"));
    }

    [Theory]
    [InlineData("acme")]
    [InlineData("globex")]  // west of UTC: 9999-12-31T23:59:59 there is past DateTimeOffset.MaxValue in UTC
    public async Task FarCloseDate_Is400_Not500(string tenant)
    {
        var token = await _env.Api.TokenAsync("someone", "tenant-user", tenant);

        Assert.Equal("request.invalid", await _env.Api.ProblemCodeAsync(HttpMethod.Post, $"/_gateway/tenants/{tenant}/support/grants", token, new { closeDate = "9999-12-31" }, 400));
    }

    [Fact]
    public async Task NonJsonAndOversizedBodies_AreRefused()
    {
        using var text = await _env.Api.SendAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, rawBody: "reason=x", contentType: "text/plain");
        Assert.Equal("request.unsupported_media_type", await ManagementClient.ProblemCodeAsync(text, 415));

        using var big = await _env.Api.SendAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, rawBody: $$"""{"reason": "{{new string('x', 20_000)}}"}""");
        Assert.Equal("request.too_large", await ManagementClient.ProblemCodeAsync(big, 413));
    }

    [Fact]
    public async Task Grantor_NamingAnotherUser_RequiresTenantAdmin()
    {
        Assert.Equal("grant.grantor_requires_admin", await _env.Api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { grantor = "ann" }, 403));

        var self = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { grantor = "john" }, 201);
        Assert.Equal("john", self.GetProperty("grantor").GetString());

        var byAdmin = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.Ann, new { grantor = "john", denyData = false }, 201);
        Assert.Equal("john", byAdmin.GetProperty("grantor").GetString());
        Assert.False(byAdmin.GetProperty("denyData").GetBoolean());
    }

    [Fact]
    public async Task DisableOwn_OnlyCreatorOrAdmin_AndOnlyOnce()
    {
        var johns = await CreateAsync(_env.John, new { });
        var marys = await CreateAsync(_mary, new { });

        Assert.Equal("grant.not_owner", await _env.Api.ProblemCodeAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/grants/{johns}", _mary, expectedStatus: 403));

        var revoked = await _env.Api.JsonAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/grants/{johns}", _env.John);
        Assert.Equal("revoked", revoked.GetProperty("status").GetString());
        Assert.Equal("john", revoked.GetProperty("revokedBy").GetString());
        Assert.Equal(Start, revoked.GetProperty("revokedAt").GetDateTimeOffset());
        Assert.Equal("grant.not_active", await _env.Api.ProblemCodeAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/grants/{johns}", _env.John, expectedStatus: 409));

        // Mary's grant still keeps support active; the admin may disable it.
        Assert.True((await StatusAsync()).GetProperty("active").GetBoolean());
        await _env.Api.JsonAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/grants/{marys}", _env.Ann);
        var status = await StatusAsync();
        Assert.False(status.GetProperty("active").GetBoolean());
        Assert.Equal("no-grant", status.GetProperty("inactiveReason").GetString());
    }

    [Fact]
    public async Task AdminDisable_RevokesAllGrants_AndSupportEndsImmediately()
    {
        await CreateAsync(_env.John, new { });
        await CreateAsync(_mary, new { durationHours = 48 });
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", _env.John, expectedStatus: 403));

        var result = await _env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", _env.Ann);

        Assert.Equal(2, result.GetProperty("revoked").GetArrayLength());
        Assert.All(result.GetProperty("revoked").EnumerateArray(), g => Assert.Equal("ann", g.GetProperty("revokedBy").GetString()));
        Assert.False((await StatusAsync()).GetProperty("active").GetBoolean());
        Assert.Empty(await ListAsync("active"));
        Assert.Equal(2, (await ListAsync("all")).Count);
    }

    [Fact]
    public async Task Expiry_EndsSupport_AndHistoryKeepsTheGrantForTheRetention()
    {
        var id = await CreateAsync(_env.John, new { durationHours = 1 });

        _clock.Advance(TimeSpan.FromMinutes(59));
        Assert.True((await StatusAsync()).GetProperty("active").GetBoolean());

        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.False((await StatusAsync()).GetProperty("active").GetBoolean());
        var expired = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/grants/{id}", _env.John);
        Assert.Equal("expired", expired.GetProperty("status").GetString());
        Assert.Equal("expired", Assert.Single(await ListAsync("all")).GetProperty("status").GetString());

        _clock.Advance(TimeSpan.FromDays(90));
        Assert.Equal("grant.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/grants/{id}", _env.John, expectedStatus: 404));
        Assert.Empty(await ListAsync("all"));
    }

    [Fact]
    public async Task NewRequest_ProlongsTheTenantsSupportAccess()
    {
        await CreateAsync(_env.John, new { });
        _clock.Advance(TimeSpan.FromHours(20));
        await CreateAsync(_mary, new { });

        _clock.Advance(TimeSpan.FromHours(5)); // the first grant has expired
        var status = await StatusAsync();

        Assert.True(status.GetProperty("active").GetBoolean());
        Assert.Equal(Start.AddHours(44), status.GetProperty("until").GetDateTimeOffset());
        Assert.Single(status.GetProperty("grantIds").EnumerateArray());
    }

    [Fact]
    public async Task SeveralGrants_PermissionsAddUp()
    {
        await CreateAsync(_env.John, new { denyData = true, denyConfig = false });
        var status = await StatusAsync();
        Assert.True(status.GetProperty("denyData").GetBoolean());
        Assert.False(status.GetProperty("denyConfig").GetBoolean());

        await CreateAsync(_mary, new { denyData = false, denyConfig = true });
        status = await StatusAsync();
        Assert.False(status.GetProperty("denyData").GetBoolean());
        Assert.False(status.GetProperty("denyConfig").GetBoolean());
    }

    [Fact]
    public async Task OtherTenantsToken_NeverReachesThisTenant()
    {
        var id = await CreateAsync(_env.John, new { reason = "secret ticket" });

        foreach (var (method, path, body) in new (HttpMethod, string, object?)[]
                 {
                     (HttpMethod.Get, $"/_gateway/tenants/acme/support/grants/{id}", null),
                     (HttpMethod.Get, "/_gateway/tenants/acme/support/grants?status=all", null),
                     (HttpMethod.Delete, $"/_gateway/tenants/acme/support/grants/{id}", null),
                     (HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", null),
                     (HttpMethod.Get, "/_gateway/tenants/acme/support/status", null),
                     (HttpMethod.Post, "/_gateway/tenants/acme/support/grants", new { }),
                 })
        {
            using var response = await _env.Api.SendAsync(method, path, _env.Gina, body);
            var text = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("management.wrong_tenant", text, StringComparison.Ordinal);
            Assert.DoesNotContain("secret ticket", text, StringComparison.Ordinal);
            Assert.DoesNotContain(id, text, StringComparison.Ordinal);
        }

        // The same grant id under the other tenant is simply not there.
        Assert.Equal("grant.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Get, $"/_gateway/tenants/globex/support/grants/{id}", _env.Gina, expectedStatus: 404));
        Assert.Equal("active", Assert.Single(await ListAsync("active")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Listing_IsForTenantAdminsAndPlatformAdmins()
    {
        await CreateAsync(_env.John, new { });

        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants", _env.John, expectedStatus: 403));
        Assert.Single((await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants", _env.Olivia)).GetProperty("grants").EnumerateArray());
        Assert.Equal("request.invalid", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants?status=bogus", _env.Ann, expectedStatus: 400));
        Assert.Equal("tenant.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/initech/support/grants", _env.Olivia, expectedStatus: 404));
    }

    [Fact]
    public async Task PlatformSettings_DefaultSecure_OnlyPlatformAdminsChangeThem()
    {
        var settings = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/platform/support", _env.Olivia);
        Assert.False(settings.GetProperty("enabledForAllTenants").GetBoolean());
        Assert.Equal(24, settings.GetProperty("requestDurationHours").GetInt32());
        Assert.True(settings.GetProperty("defaultDenyData").GetBoolean());
        Assert.True(settings.GetProperty("defaultDenyConfig").GetBoolean());

        var change = new { enabledForAllTenants = true, requestDurationHours = 8, defaultDenyData = false, defaultDenyConfig = true };
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Put, "/_gateway/platform/support", _env.Ann, change, 403));
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/platform/support", _env.Ann, expectedStatus: 403));
        Assert.Equal("request.invalid", await _env.Api.ProblemCodeAsync(HttpMethod.Put, "/_gateway/platform/support", _env.Olivia, new { enabledForAllTenants = true }, 400));
        Assert.Equal("request.invalid", await _env.Api.ProblemCodeAsync(HttpMethod.Put, "/_gateway/platform/support", _env.Olivia, change with { requestDurationHours = 0 }, 400));

        await _env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/support", _env.Olivia, change);

        var status = await StatusAsync();
        Assert.True(status.GetProperty("active").GetBoolean());
        Assert.Equal(["platform"], Sources(status));
        Assert.False(status.GetProperty("denyData").GetBoolean());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("until").ValueKind);
        var grant = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { }, 201);
        Assert.Equal(Start.AddHours(8), grant.GetProperty("expiresAt").GetDateTimeOffset());
        Assert.False(grant.GetProperty("denyData").GetBoolean());

        // Platform-wide switch off: only the grant remains.
        await _env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/support", _env.Olivia, new { enabledForAllTenants = false, requestDurationHours = 24, defaultDenyData = true, defaultDenyConfig = true });
        Assert.Equal(["grant"], Sources(await StatusAsync()));
    }

    [Fact]
    public async Task TenantOverride_DisabledBeatsGrants_UntilItLapses()
    {
        await CreateAsync(_env.John, new { durationHours = 72 });
        var until = Start.AddHours(2);

        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Put, "/_gateway/platform/tenants/acme/support", _env.Ann, new { mode = "disabled" }, 403));
        await _env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/tenants/acme/support", _env.Olivia, new { mode = "disabled", until });

        var status = await StatusAsync();
        Assert.False(status.GetProperty("active").GetBoolean());
        Assert.Equal("platform-override-disabled", status.GetProperty("inactiveReason").GetString());
        Assert.Equal("support.disabled_for_tenant", await _env.Api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { }, 409));

        _clock.Advance(TimeSpan.FromHours(2));
        Assert.True((await StatusAsync()).GetProperty("active").GetBoolean());
    }

    [Fact]
    public async Task TenantOverride_EnabledActsLikePlatformGrant_InheritRemovesIt()
    {
        await _env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/tenants/acme/support", _env.Olivia, new { mode = "enabled" });
        var status = await StatusAsync();
        Assert.True(status.GetProperty("active").GetBoolean());
        Assert.Equal(["tenant-override"], Sources(status));
        Assert.True(status.GetProperty("denyData").GetBoolean());

        var globex = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/globex/support/status", _env.Gina);
        Assert.False(globex.GetProperty("active").GetBoolean());

        await _env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/tenants/acme/support", _env.Olivia, new { mode = "inherit" });
        Assert.False((await StatusAsync()).GetProperty("active").GetBoolean());

        Assert.Equal("request.invalid", await _env.Api.ProblemCodeAsync(HttpMethod.Put, "/_gateway/platform/tenants/acme/support", _env.Olivia, new { mode = "sometimes" }, 400));
        Assert.Equal("request.invalid", await _env.Api.ProblemCodeAsync(HttpMethod.Put, "/_gateway/platform/tenants/acme/support", _env.Olivia, new { mode = "enabled", until = Start.AddHours(-1) }, 400));
        Assert.Equal("tenant.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Put, "/_gateway/platform/tenants/initech/support", _env.Olivia, new { mode = "enabled" }, 404));
    }

    private async Task<string> CreateAsync(string token, object body) =>
        (await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", token, body, 201)).GetProperty("id").GetString()!;

    private static string[] Sources(JsonElement status) => [.. status.GetProperty("sources").EnumerateArray().Select(s => s.GetString()!)];

    private Task<JsonElement> StatusAsync() => _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/status", _env.John);

    private async Task<IReadOnlyList<JsonElement>> ListAsync(string status) =>
        [.. (await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/grants?status={status}", _env.Ann)).GetProperty("grants").EnumerateArray()];
}
