using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Gateway.Webhooks;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Webhooks;

/// <summary>
/// Registering webhook endpoints through the management API: the secret is in the answer to the
/// registration and nowhere else (never stored as given), bad registrations are problem documents
/// with stable codes, caps per tenant and for the platform, who may do what, and the audit trail.
/// </summary>
public sealed class WebhookRegistrationTests : IAsyncLifetime
{
    private const string Tenant = "/_gateway/tenants/acme/support/webhooks";
    private const string Platform = "/_gateway/platform/support/webhooks";
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment
    {
        Backends = TestBackends.None,
        MintTokens = true,
        ExtraArgs = ["--Webhooks:MaxPerTenant=2", "--Webhooks:MaxPlatform=1"],
    }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task Create_ShowsTheSecretOnce_LaterReadsNever_AndTheStoreKeepsItEncrypted()
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Post, Tenant, _env.Ann, new
        {
            url = "https://hooks.example.com/support?token=abc",
            events = new[] { "session.ended", "grant.created" },
            description = "the ops channel",
        });
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var created = JsonDocument.Parse(text);
        var id = created.RootElement.GetProperty("id").GetString()!;
        var secret = created.RootElement.GetProperty("secret").GetString()!;

        Assert.Matches("^wh_[a-z2-7]{26}$", id);
        Assert.Equal($"{Tenant}/{id}", response.Headers.Location?.OriginalString);
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(secret["whsec_".Length..]).Length);
        Assert.Equal(["grant.created", "session.ended"], created.RootElement.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(("ann", "acme", "the ops channel"), (created.RootElement.GetProperty("createdBy").GetString(), created.RootElement.GetProperty("tenant").GetString(), created.RootElement.GetProperty("description").GetString()));

        foreach (var path in new[] { $"{Tenant}/{id}", Tenant })
        {
            using var read = await _env.Api.SendAsync(HttpMethod.Get, path, _env.Ann);
            var body = await read.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            Assert.Contains(id, body, StringComparison.Ordinal);
            Assert.DoesNotContain("secret", body, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(secret["whsec_".Length..], body, StringComparison.Ordinal);
            Assert.Equal("no-store", read.Headers.CacheControl?.ToString());
        }

        var stored = await _env.Gateway.Services.GetRequiredService<IWebhookStore>().GetRegistrationAsync(WebhookScope.Of("acme"), id, CancellationToken.None);
        Assert.NotNull(stored);
        Assert.StartsWith("v1.", stored.Secret, StringComparison.Ordinal);
        Assert.DoesNotContain(secret["whsec_".Length..], stored.Secret, StringComparison.Ordinal);

        var audited = Assert.Single(await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-webhook-created"));
        Assert.Equal(("ann", "acme"), (AuditTrail.Get(audited, "user.name"), AuditTrail.Get(audited, "organization.id")));
        Assert.DoesNotContain("token=abc", audited.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret["whsec_".Length..], audited.GetRawText(), StringComparison.Ordinal);
        Assert.Contains(id, audited.GetRawText(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"url":"ftp://hooks.example.com/x","events":["session.started"]}""", "webhook.invalid_url")]
    [InlineData("""{"url":"/relative/path","events":["session.started"]}""", "webhook.invalid_url")]
    [InlineData("""{"url":"https://user:pw@hooks.example.com/","events":["session.started"]}""", "webhook.invalid_url")]
    [InlineData("""{"url":"https://hooks.example.com/#frag","events":["session.started"]}""", "webhook.invalid_url")]
    [InlineData("""{"events":["session.started"]}""", "webhook.invalid_url")]
    [InlineData("""{"url":"https://hooks.example.com/","events":["session.started","session.exploded"]}""", "webhook.unknown_event")]
    [InlineData("""{"url":"https://hooks.example.com/","events":["Session.Started"]}""", "webhook.unknown_event")]
    [InlineData("""{"url":"https://hooks.example.com/","events":[]}""", "request.invalid")]
    [InlineData("""{"url":"https://hooks.example.com/"}""", "request.invalid")]
    [InlineData("""{"url":"https://hooks.example.com/","events":["grant.created","grant.created"]}""", "request.invalid")]
    [InlineData("""{"url":"https://hooks.example.com/","events":["grant.created"],"colour":"red"}""", "request.invalid")]
    [InlineData("""{"url":"https://hooks.example.com/","events":"grant.created"}""", "request.invalid")]
    [InlineData("""[1,2]""", "request.invalid")]
    [InlineData("", "request.invalid")]
    public async Task InvalidRegistrations_AreProblemDocumentsWithCodes(string body, string code)
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Post, Tenant, _env.Ann, rawBody: body);

        Assert.Equal(code, await ManagementClient.ProblemCodeAsync(response, 400));
        Assert.Empty(await ListAsync(Tenant, _env.Ann));
    }

    [Fact]
    public async Task UnknownEvent_DetailNamesIt_AndTheKnownOnes()
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Post, Tenant, _env.Ann, new { url = "https://hooks.example.com/", events = new[] { "session.exploded" } });
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var detail = problem.RootElement.GetProperty("detail").GetString()!;
        Assert.Contains("'session.exploded'", detail, StringComparison.Ordinal);
        Assert.Contains("grant.expired", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Body_OfTheWrongMediaType_Is415()
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Post, Tenant, _env.Ann, rawBody: """{"url":"https://h.example.com/","events":["grant.created"]}""", contentType: "text/plain");

        Assert.Equal("request.unsupported_media_type", await ManagementClient.ProblemCodeAsync(response, 415));
    }

    [Fact]
    public async Task Caps_PerTenantAndForThePlatform_AreConflicts()
    {
        var gina = _env.Gina;
        await CreateAsync(Tenant, _env.Ann);
        await CreateAsync(Tenant, _env.Ann);
        Assert.Equal("webhook.limit_reached", await _env.Api.ProblemCodeAsync(HttpMethod.Post, Tenant, _env.Ann, Body(), expectedStatus: 409));
        await CreateAsync("/_gateway/tenants/globex/support/webhooks", gina); // another tenant's cap

        await CreateAsync(Platform, _env.Olivia);
        Assert.Equal("webhook.limit_reached", await _env.Api.ProblemCodeAsync(HttpMethod.Post, Platform, _env.Olivia, Body(), expectedStatus: 409));
        Assert.Equal(2, (await ListAsync(Tenant, _env.Ann)).Count);
    }

    [Fact]
    public async Task TenantAdminsManageTheirTenants_PlatformAdminsBoth_NobodyElse()
    {
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Post, Tenant, _env.John, Body(), expectedStatus: 403));
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Get, Tenant, _env.John, expectedStatus: 403));
        Assert.Equal("management.wrong_tenant", await _env.Api.ProblemCodeAsync(HttpMethod.Post, Tenant, _env.Gina, Body(), expectedStatus: 403));
        Assert.Equal("management.unauthenticated", await _env.Api.ProblemCodeAsync(HttpMethod.Get, Tenant, null, expectedStatus: 401));
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Post, Platform, _env.Ann, Body(), expectedStatus: 403));
        Assert.Equal("tenant.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/initech/support/webhooks", _env.Olivia, expectedStatus: 404));

        var tenantHook = await CreateAsync(Tenant, _env.Olivia);
        var platformHook = await CreateAsync(Platform, _env.Olivia);

        Assert.Equal([tenantHook], (await ListAsync(Tenant, _env.Ann)).Select(h => h.GetProperty("id").GetString()));
        Assert.Equal([platformHook], (await ListAsync(Platform + "?tenant=acme", _env.Olivia)).Select(h => h.GetProperty("id").GetString()));
        Assert.Equal("webhook.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Get, $"{Tenant}/{platformHook}", _env.Ann, expectedStatus: 404));
        Assert.Equal("webhook.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Get, $"/_gateway/tenants/globex/support/webhooks/{tenantHook}", _env.Gina, expectedStatus: 404));
    }

    [Fact]
    public async Task Delete_RemovesTheEndpoint_AndIsAudited()
    {
        var id = await CreateAsync(Tenant, _env.Ann);

        using var deleted = await _env.Api.SendAsync(HttpMethod.Delete, $"{Tenant}/{id}", _env.Ann);

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal("webhook.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Get, $"{Tenant}/{id}", _env.Ann, expectedStatus: 404));
        Assert.Equal("webhook.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Delete, $"{Tenant}/{id}", _env.Ann, expectedStatus: 404));
        Assert.Equal("webhook.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Delete, $"{Tenant}/not-an-id", _env.Ann, expectedStatus: 404));
        var audited = Assert.Single(await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-webhook-deleted"));
        Assert.Contains(id, audited.GetRawText(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("?status=bogus")]
    [InlineData("?limit=0")]
    [InlineData("?limit=201")]
    [InlineData("?limit=ten")]
    public async Task DeliveryListing_RefusesBadQueries(string query)
    {
        var id = await CreateAsync(Tenant, _env.Ann);

        Assert.Equal("request.invalid", await _env.Api.ProblemCodeAsync(HttpMethod.Get, $"{Tenant}/{id}/deliveries{query}", _env.Ann, expectedStatus: 400));
    }

    private static object Body() => new { url = "https://hooks.example.com/support", events = new[] { "session.started" } };

    private async Task<string> CreateAsync(string path, string token) =>
        (await _env.Api.JsonAsync(HttpMethod.Post, path, token, Body(), 201)).GetProperty("id").GetString()!;

    private async Task<IReadOnlyList<JsonElement>> ListAsync(string path, string token) =>
        [.. (await _env.Api.JsonAsync(HttpMethod.Get, path, token)).GetProperty("webhooks").EnumerateArray()];
}
