using System.Net;
using System.Net.Http.Headers;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;
using Gateway.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Webhooks;

/// <summary>
/// The outbox on Redis, shared by gateway instances: two instances deliver each event exactly once
/// between them, and a gateway stopped in the middle of its deliveries (the receiver slow) hands them
/// to the next one started on the same Redis: nothing is lost, and what arrives twice arrives under
/// the same webhook-id.
/// </summary>
public sealed class WebhookInstancesTests
{
    [Fact]
    public async Task TwoInstancesOnOneRedis_DeliverEachEventOnce()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var env = await new TestEnvironment { Backends = TestBackends.None, WithRedis = true, TwoInstances = true, MintTokens = true }.StartAsync();
        var created = await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/webhooks", env.Ann, new { url = receiver.Url, events = new[] { "grant.created" } }, 201);
        receiver.Secret = created.GetProperty("secret").GetString();
        var second = new ManagementClient(env.SecondGateway);

        const int Grants = 20;
        for (var i = 0; i < Grants; i++)
        {
            await (i % 2 == 0 ? env.Api : second).JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { reason = $"#{i}" }, 201);
        }

        await receiver.WaitForAsync(r => r.Where(w => w.Delivered).Select(w => w.Id).Distinct().Count() == Grants);
        await Task.WhenAll(Dispatcher(env.Gateway).WhenIdleAsync(), Dispatcher(env.SecondGateway).WhenIdleAsync());

        var received = receiver.Received;
        Assert.Equal(Grants, received.Count);
        Assert.All(received, r => Assert.True(r.Verified));
        Assert.Equal(
            Enumerable.Range(0, Grants).Select(i => $"#{i}").Order(StringComparer.Ordinal),
            received.Select(r => r.Json.GetProperty("data").GetProperty("grant").GetProperty("reason").GetString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task GatewayStoppedMidDelivery_TheNextInstanceDeliversEverything_DuplicatesKeepTheirWebhookId()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var redis = await RedisServer.StartAsync();
        await using var backend = await SampleBackend.StartAsync("acme");
        var clusters = new Dictionary<string, Uri> { ["acme"] = backend.Address };
        // Attempts that wait a minute for the (holding) receiver: the stop, not a timeout, is what cuts them.
        string[] args = [$"--Redis:Configuration={redis.ConnectionString}", $"--Redis:KeyPrefix={RedisFixture.NewKeyPrefix()}", "--Webhooks:AttemptTimeout=00:01:00", "--Webhooks:LeaseDuration=00:05:00"];
        var prefix = args[1]["--Redis:KeyPrefix=".Length..];

        var first = await GatewayHost.StartAsync(null, clusters, args);
        string hook;
        try
        {
            var api = new ManagementClient(first);
            var ann = await api.TokenAsync("ann", "tenant-admin", "acme");
            var john = await api.TokenAsync("john", "tenant-user", "acme");
            var created = await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/webhooks", ann, new
            {
                url = receiver.Url,
                events = new[] { "grant.created", "session.started", "session.first_write", "session.ended" },
            }, 201);
            hook = created.GetProperty("id").GetString()!;
            receiver.Secret = created.GetProperty("secret").GetString();
            receiver.Hold = true; // a receiver that takes the requests and does not answer

            await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", john, new { denyData = false, reason = "before" }, 201);
            using var acme = first.Client("acme.localhost");
            var (token, _, _) = await LoginAsync(acme, "jill$john", JillPassword);
            var bearer = new AuthenticationHeaderValue("Bearer", token);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Post, "/api/echo/change", bearer)).StatusCode);
            await first.Services.GetRequiredService<SessionTracker>().FlushAsync(CancellationToken.None);
            // The first write is announced by whichever flush records it (this one or the background one), while the session lasts.
            await receiver.WaitForAsync(r => r.Any(w => w.Type == "session.first_write"));
            Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(acme, HttpMethod.Post, "/_gateway/support/logout", bearer)).StatusCode);
            await receiver.WaitForAsync(r => r.Select(w => w.Type).Distinct().Count() == 4);

            // One more event, published the moment before the stop: written to the outbox on the way down at the latest.
            await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", john, new { denyData = false, reason = "last" }, 201);
        }
        finally
        {
            await first.DisposeAsync();
        }

        Assert.All(receiver.Received, r => Assert.Null(r.Answered)); // nothing was answered: every attempt was cut by the stop
        // The stopping gateway gave its deliveries back: due now, not at the end of its leases.
        await using (var inspect = await redis.ConnectAsync())
        {
            var due = await inspect.GetDatabase().SortedSetRangeByScoreAsync(prefix + "webhook-due", double.NegativeInfinity, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            Assert.Equal(5, due.Count(m => ((string)m!).StartsWith("d:", StringComparison.Ordinal)));
        }

        receiver.ReleaseHeld();
        await using var next = await GatewayHost.StartAsync(null, clusters, args);
        var received = await receiver.WaitForAsync(r => r.Where(w => w.Delivered).Select(w => w.Id).Distinct().Count() == 5);
        await Dispatcher(next).WhenIdleAsync();
        received = receiver.Received;

        Assert.All(received, r => Assert.True(r.Verified, $"{r.Type}: signature"));
        Assert.Equal(5, received.Select(r => r.Id).Distinct().Count());
        foreach (var copies in received.GroupBy(r => r.Id))
        {
            Assert.Single(copies.Select(c => c.Body).Distinct()); // the same event, byte for byte
            Assert.Single(copies, c => c.Delivered);
        }

        Assert.Equal(
            new[] { "grant.created:before", "grant.created:last", "session.ended:", "session.first_write:", "session.started:" },
            received.Where(r => r.Delivered).Select(r => $"{r.Type}:{(r.Type == "grant.created" ? r.Json.GetProperty("data").GetProperty("grant").GetProperty("reason").GetString() : "")}").Order(StringComparer.Ordinal));
        var api2 = new ManagementClient(next);
        var deliveries = await api2.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/webhooks/{hook}/deliveries?status=delivered", await api2.TokenAsync("ann", "tenant-admin", "acme"));
        Assert.Equal(5, deliveries.GetProperty("deliveries").GetArrayLength());
    }

    private static WebhookDispatcher Dispatcher(GatewayHost gateway) => gateway.Services.GetRequiredService<WebhookDispatcher>();

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, AuthenticationHeaderValue authorization)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = authorization;
        return await client.SendAsync(request);
    }
}
