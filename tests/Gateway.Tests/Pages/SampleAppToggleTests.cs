using System.Net;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Pages;

/// <summary>
/// The sample app hands its user's management token to the <c>&lt;support-access&gt;</c> element in
/// its header, but never to a support engineer acting as that user: with it, support could grant
/// itself access.
/// </summary>
public sealed class SampleAppToggleTests : IAsyncLifetime
{
    private const string Token = "a-management-token-of-john";
    private SampleBackend _backend = null!;

    public async Task InitializeAsync() => _backend = await SampleBackend.StartAsync("acme", Token);

    public async Task DisposeAsync() => await _backend.DisposeAsync();

    [Fact]
    public async Task TheUsersToken_ReachesTheUsersPage_ButNotASupportSessionsPage()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, Uri> { ["acme"] = _backend.Address, ["globex"] = _backend.Address }, []);
        var api = new ManagementClient(gateway);
        await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await api.TokenAsync("john", "tenant-user", "acme"), new { }, 201);
        using var client = gateway.Client("acme.localhost");

        using var own = await GetAsync(client, "/", null);
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.Contains($"token=\"{Token}\"", await own.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var support = await GetAsync(client, "/", Basic("jill$john", JillPassword));
        var html = await support.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, support.StatusCode);
        Assert.Contains("<support-access", html, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, html, StringComparison.Ordinal);
    }
}
