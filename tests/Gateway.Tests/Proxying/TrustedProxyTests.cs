using System.Net;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Proxying;

/// <summary>
/// Behind a load balancer: the client is the forwarded address only when the peer is a
/// configured trusted proxy; otherwise the forwarded header is ignored, and the backend gets the
/// gateway's own X-Forwarded-For. (Tests connect from 127.0.0.1, so "trusted" means 127.0.0.1 is configured.)
/// </summary>
public sealed class TrustedProxyTests : IAsyncLifetime
{
    private SampleBackend _backend = null!;

    public async Task InitializeAsync() => _backend = await SampleBackend.StartAsync("acme");

    public async Task DisposeAsync() => await _backend.DisposeAsync();

    [Fact]
    public async Task ThroughATrustedProxy_TheForwardedClientIsTheClient_ForTheAppAndTheAudit()
    {
        await using var gateway = await StartAsync("--Gateway:ForwardedHeaders:KnownProxies:0=127.0.0.1");
        using var client = gateway.Client("acme.localhost");

        var echo = await EchoAsync(client, null, r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.7"));

        Assert.Equal("203.0.113.7", Header(echo, "X-Forwarded-For"));
        var audited = await gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "url.path") == "/api/echo/whoami");
        Assert.Equal("203.0.113.7", AuditTrail.Get(audited[0], "source.ip"));
    }

    [Fact]
    public async Task FromAnUntrustedPeer_TheForwardedHeaderIsIgnored_AndReplaced()
    {
        await using var gateway = await StartAsync();
        using var client = gateway.Client("acme.localhost");

        var echo = await EchoAsync(client, null, r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.7"));

        Assert.Equal("127.0.0.1", Header(echo, "X-Forwarded-For"));
        var audited = await gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "url.path") == "/api/echo/whoami");
        Assert.Equal("127.0.0.1", AuditTrail.Get(audited[0], "source.ip"));
    }

    [Fact]
    public async Task ThroughATrustedProxy_OneClientsFailedLogins_DoNotLockOutAnother()
    {
        await using var gateway = await StartAsync("--Gateway:ForwardedHeaders:KnownProxies:0=127.0.0.1");
        using var client = gateway.Client("acme.localhost");
        await new ManagementClient(gateway).JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants",
            await new ManagementClient(gateway).TokenAsync("john", "tenant-user", "acme"), new { }, 201);

        // Unrelated names from one client until that client is throttled.
        HttpStatusCode last = default;
        for (var i = 0; i < 40 && last != HttpStatusCode.TooManyRequests; i++)
        {
            using var failed = await GetAsync(client, "/api/echo/x", Basic($"mallory{i}$john", "wrong"), r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", "198.51.100.66"));
            last = failed.StatusCode;
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, last);
        var echo = await EchoAsync(client, Basic("jill$john", JillPassword), r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.7"));
        Assert.Equal("jill", Header(echo, "X-Gateway-Support-User"));
    }

    [Fact]
    public async Task TheDemoPageSignIn_AnswersOnlyClientsOnThisMachine_UnlessTheDemoAllowsOthers()
    {
        await using var gateway = await StartAsync("--Gateway:ForwardedHeaders:KnownProxies:0=127.0.0.1");
        using var client = gateway.Client("acme.localhost");

        using var remote = new HttpRequestMessage(HttpMethod.Get, "/_gateway/ui/signin");
        remote.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.7");
        using var refused = await client.SendAsync(remote);
        var html = await refused.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("Demo sign-in is only for this machine", html, StringComparison.Ordinal);
        Assert.DoesNotContain("Sign in as", html, StringComparison.Ordinal);

        using var local = await client.GetAsync("/_gateway/ui/signin");
        Assert.Equal(HttpStatusCode.OK, local.StatusCode);
        Assert.Contains("Sign in as john", await local.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await using var demo = await StartAsync("--Gateway:ForwardedHeaders:KnownProxies:0=127.0.0.1", "--Gateway:Demo:AllowNonLoopback=true");
        using var demoClient = demo.Client("acme.localhost");
        using var allowed = new HttpRequestMessage(HttpMethod.Get, "/_gateway/ui/signin");
        allowed.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.7");
        using var offered = await demoClient.SendAsync(allowed);
        Assert.Equal(HttpStatusCode.OK, offered.StatusCode);
    }

    private Task<GatewayHost> StartAsync(params string[] args) =>
        GatewayHost.StartAsync(new Dictionary<string, Uri> { ["acme"] = _backend.Address, ["globex"] = _backend.Address }, args);
}
