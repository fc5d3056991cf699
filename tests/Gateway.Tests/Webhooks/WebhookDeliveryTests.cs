using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;
using Gateway.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Webhooks;

/// <summary>
/// Webhooks from one gateway on the embedded stores to a real receiver on loopback, with a clock
/// the test moves: a support session's events arrive signed and verifiable, failed attempts are
/// retried with doubling waits under the same webhook-id, a delivery failing for a day is
/// dead-lettered and can be delivered again by hand, grant expiry is announced unless the grant
/// was revoked first, and a redirect is never followed. The test moves the clock only when the
/// dispatcher sleeps (<see cref="WebhookDispatcher.WhenIdleAsync"/>) and waits on the receiver.
/// </summary>
public sealed class WebhookDeliveryTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(TestClock.Start);
    private TestEnvironment _env = null!;
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync()
    {
        _receiver = await WebhookReceiver.StartAsync();
        _env = await new TestEnvironment
        {
            Clock = _clock,
            Backends = TestBackends.Shared,
            MintTokens = true,
            ExtraArgs = ["--Grants:MaxDurationHours=2000"],
        }.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _env.DisposeAsync();
        await _receiver.DisposeAsync();
    }

    private WebhookDispatcher Dispatcher => _env.Gateway.Services.GetRequiredService<WebhookDispatcher>();

    [Fact]
    public async Task SupportSession_EachEventArrivesOnce_SignedAndVerifiable_WithTheSessionAndItsReport()
    {
        var hook = await RegisterAsync("session.started", "session.first_write", "session.denied", "session.ended", "grant.created");
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false, reason = "TICKET-7" }, 201);
        using var acme = _env.Gateway.Client("acme.localhost");
        var (token, _, _) = await LoginAsync(acme, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/echo/look", bearer)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Post, "/api/echo/change", bearer)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(acme, HttpMethod.Get, "/api/credentials", bearer)).StatusCode);
        await _env.Gateway.Services.GetRequiredService<SessionTracker>().FlushAsync(CancellationToken.None); // first write recorded
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(acme, HttpMethod.Post, "/_gateway/support/logout", bearer)).StatusCode);

        var received = await _receiver.WaitForAsync(r => r.Any(w => w.Type == "session.ended"));
        await Dispatcher.WhenIdleAsync();
        received = _receiver.Received;

        Assert.Equal(
            new[] { "grant.created", "session.denied", "session.ended", "session.first_write", "session.started" },
            received.Select(r => r.Type).Order(StringComparer.Ordinal));
        Assert.All(received, r =>
        {
            Assert.True(r.Verified, $"{r.Type}: the signature does not verify with the secret given at registration");
            Assert.Equal("application/json", r.ContentType);
            Assert.Equal(WebhookSender.UserAgent, r.UserAgent);
            Assert.Matches("^msg_[0-9a-f]{32}$", r.Id);
            Assert.Equal(_clock.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), r.Timestamp);
            Assert.Equal("acme", r.Json.GetProperty("data").GetProperty("tenant").GetString());
            Assert.Equal(_clock.GetUtcNow(), DateTimeOffset.Parse(r.Json.GetProperty("timestamp").GetString()!, CultureInfo.InvariantCulture));
            Assert.EndsWith("Z", r.Json.GetProperty("timestamp").GetString(), StringComparison.Ordinal);
        });
        Assert.Equal(5, received.Select(r => r.Id).Distinct().Count());

        var grant = received.Single(r => r.Type == "grant.created").Json.GetProperty("data").GetProperty("grant");
        Assert.Equal(("john", "TICKET-7", false, true, "active"), (grant.GetProperty("createdBy").GetString(), grant.GetProperty("reason").GetString(), grant.GetProperty("denyData").GetBoolean(), grant.GetProperty("denyConfig").GetBoolean(), grant.GetProperty("status").GetString()));
        Assert.StartsWith("g_", grant.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.True(grant.TryGetProperty("expiresAt", out _));

        var denied = received.Single(r => r.Type == "session.denied").Json.GetProperty("data");
        Assert.Equal("support.forbidden_route", denied.GetProperty("denial").GetString());

        var ended = received.Single(r => r.Type == "session.ended").Json.GetProperty("data");
        var session = ended.GetProperty("session");
        Assert.Equal(("jill", "john", "sessiontoken"), (session.GetProperty("supportUser").GetString(), session.GetProperty("targetUser").GetString(), session.GetProperty("credential").GetString()));
        Assert.Equal("logout", session.GetProperty("end").GetProperty("reason").GetString());
        Assert.Equal(2, session.GetProperty("calls").GetInt64());
        var report = ended.GetProperty("report");
        Assert.Equal(session.GetProperty("id").GetString(), report.GetProperty("sessionId").GetString());
        Assert.Equal(1, report.GetProperty("writes").GetInt64());
        Assert.Equal("/api/echo/change", Assert.Single(report.GetProperty("allowedWrites").EnumerateArray()).GetProperty("path").GetString());
        Assert.Equal(1, report.GetProperty("denials").GetProperty("support.forbidden_route").GetInt64());
        Assert.False(received.Single(r => r.Type == "session.started").Json.GetProperty("data").TryGetProperty("report", out _));

        var deliveries = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/webhooks/{hook}/deliveries?status=delivered", _env.Ann);
        Assert.Equal(5, deliveries.GetProperty("deliveries").GetArrayLength());
        Assert.All(deliveries.GetProperty("deliveries").EnumerateArray(), d => Assert.Equal(204, d.GetProperty("lastStatusCode").GetInt32()));
    }

    [Fact]
    public async Task FailedAttempts_AreRetriedAfterDoublingWaits_UnderTheSameWebhookId_UntilDelivered()
    {
        _receiver.Status = n => n <= 3 ? 500 : 200;
        var hook = await RegisterAsync("grant.created");
        var start = _clock.GetUtcNow();
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { }, 201);

        var first = await _receiver.NthAsync(1);
        foreach (var (attempt, wait) in new[] { (2, 5), (3, 10), (4, 20) })
        {
            await Dispatcher.WhenIdleAsync();
            var pending = Assert.Single((await DeliveriesAsync(hook, "failed")).EnumerateArray());
            Assert.Equal(("pending", attempt - 1, 500), (pending.GetProperty("status").GetString(), pending.GetProperty("attempts").GetInt32(), pending.GetProperty("lastStatusCode").GetInt32()));
            Assert.StartsWith("HTTP 500", pending.GetProperty("lastError").GetString(), StringComparison.Ordinal);
            Assert.Equal(_clock.GetUtcNow().AddSeconds(wait), pending.GetProperty("nextAttemptAt").GetDateTimeOffset());

            _clock.Advance(TimeSpan.FromSeconds(wait - 1));
            await Dispatcher.WhenIdleAsync();
            Assert.Equal(attempt - 1, _receiver.Received.Count); // not a moment early
            _clock.Advance(TimeSpan.FromSeconds(1));
            await _receiver.NthAsync(attempt);
        }

        await Dispatcher.WhenIdleAsync();
        var attempts = _receiver.Received;
        Assert.Equal(4, attempts.Count);
        Assert.All(attempts, a => Assert.Equal(first.Id, a.Id));
        Assert.All(attempts, a => Assert.True(a.Verified));
        Assert.Equal(
            new[] { 0L, 5, 15, 35 },
            attempts.Select(a => long.Parse(a.Timestamp, CultureInfo.InvariantCulture) - start.ToUnixTimeSeconds()));
        Assert.All(attempts, a => Assert.Equal(first.Body, a.Body));
        var delivered = Assert.Single((await DeliveriesAsync(hook, "delivered")).EnumerateArray());
        Assert.Equal((4, 200), (delivered.GetProperty("attempts").GetInt32(), delivered.GetProperty("lastStatusCode").GetInt32()));
        Assert.Equal(JsonValueKind.Null, delivered.GetProperty("lastError").ValueKind);
        Assert.Empty((await DeliveriesAsync(hook, "failed")).EnumerateArray());
    }

    [Fact]
    public async Task ADeliveryFailingForADay_IsDeadLettered_ListedAsDead_AndDeliveredAgainByHand()
    {
        _receiver.Status = _ => 503;
        var hook = await RegisterAsync("grant.created");
        var start = _clock.GetUtcNow();
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { }, 201);
        await _receiver.NthAsync(1);

        JsonElement delivery;
        while (true)
        {
            await Dispatcher.WhenIdleAsync();
            delivery = Assert.Single((await DeliveriesAsync(hook, "all")).EnumerateArray());
            if (delivery.GetProperty("status").GetString() != "pending")
            {
                break;
            }

            var attempts = _receiver.Received.Count;
            _clock.Advance(delivery.GetProperty("nextAttemptAt").GetDateTimeOffset() - _clock.GetUtcNow());
            await _receiver.NthAsync(attempts + 1);
        }

        // 5 s doubling to 2560 s, then hourly: the 33rd attempt (23.4 h in) would be followed by one past 24 h.
        Assert.Equal("dead", delivery.GetProperty("status").GetString());
        Assert.Equal(33, delivery.GetProperty("attempts").GetInt32());
        Assert.Equal(33, _receiver.Received.Count);
        Assert.Equal(start.AddSeconds(84315), delivery.GetProperty("deadAt").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, delivery.GetProperty("nextAttemptAt").ValueKind);
        Assert.Single(_receiver.Received.Select(r => r.Id).Distinct());
        Assert.Single((await DeliveriesAsync(hook, "dead")).EnumerateArray());
        Assert.Single((await DeliveriesAsync(hook, "failed")).EnumerateArray());
        Assert.Empty((await DeliveriesAsync(hook, "pending")).EnumerateArray());

        _clock.Advance(TimeSpan.FromHours(2));
        await Dispatcher.WhenIdleAsync();
        Assert.Equal(33, _receiver.Received.Count); // dead: nothing more on its own

        _receiver.Status = _ => 200;
        var id = delivery.GetProperty("id").GetString();
        var retried = await _env.Api.JsonAsync(HttpMethod.Post, $"/_gateway/tenants/acme/support/webhooks/{hook}/deliveries/{id}/retry", _env.Ann, expectedStatus: 202);
        Assert.Equal("pending", retried.GetProperty("status").GetString());
        var again = await _receiver.NthAsync(34);
        await Dispatcher.WhenIdleAsync();

        Assert.Equal(id, again.Id);
        Assert.True(again.Verified);
        var delivered = Assert.Single((await DeliveriesAsync(hook, "delivered")).EnumerateArray());
        Assert.Equal(34, delivered.GetProperty("attempts").GetInt32());
        Assert.Equal("webhook.delivery_not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Post, $"/_gateway/tenants/acme/support/webhooks/{hook}/deliveries/msg_00000000000000000000000000000000/retry", _env.Ann, expectedStatus: 404));
        Assert.Equal("webhook.delivery_not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Post, $"/_gateway/tenants/acme/support/webhooks/{hook}/deliveries/not-an-id/retry", _env.Ann, expectedStatus: 404));
    }

    [Fact]
    public async Task GrantExpiry_IsAnnouncedAtTheExpiry_UnlessTheGrantWasRevokedBefore()
    {
        var hook = await RegisterAsync("grant.expired", "grant.revoked");
        var kept = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { durationHours = 1 }, 201);
        var revoked = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { durationHours = 1 }, 201);
        await _env.Api.JsonAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/grants/{revoked.GetProperty("id").GetString()}", _env.John);
        await _receiver.WaitForAsync(r => r.Any(w => w.Type == "grant.revoked"));
        await Dispatcher.WhenIdleAsync();

        _clock.Advance(TimeSpan.FromMinutes(59));
        await Dispatcher.WhenIdleAsync();
        Assert.DoesNotContain(_receiver.Received, r => r.Type == "grant.expired");

        _clock.Advance(TimeSpan.FromMinutes(1));
        var expired = (await _receiver.WaitForAsync(r => r.Any(w => w.Type == "grant.expired"))).Single(w => w.Type == "grant.expired");
        await Dispatcher.WhenIdleAsync();

        Assert.True(expired.Verified);
        var grant = expired.Json.GetProperty("data").GetProperty("grant");
        Assert.Equal(kept.GetProperty("id").GetString(), grant.GetProperty("id").GetString());
        Assert.Equal("expired", grant.GetProperty("status").GetString());
        Assert.Equal(kept.GetProperty("expiresAt").GetDateTimeOffset(), DateTimeOffset.Parse(expired.Json.GetProperty("timestamp").GetString()!, CultureInfo.InvariantCulture));
        Assert.Single(_receiver.Received, r => r.Type == "grant.expired");
        var revokedEvent = Assert.Single(_receiver.Received, r => r.Type == "grant.revoked").Json.GetProperty("data").GetProperty("grant");
        Assert.Equal(("john", "revoked"), (revokedEvent.GetProperty("revokedBy").GetString(), revokedEvent.GetProperty("status").GetString()));
        Assert.Equal(2, (await DeliveriesAsync(hook, "delivered")).GetArrayLength());
    }

    [Fact]
    public async Task ALongGrantsExpiry_BeyondTheLongestTimer_IsAnnouncedToo()
    {
        await RegisterAsync("grant.expired");
        var grant = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { durationHours = 2000 }, 201);
        await Dispatcher.WhenIdleAsync();

        _clock.Advance(TimeSpan.FromHours(2000)); // 83 days: more than a single timer can wait
        var expired = await _receiver.NthAsync(1);

        Assert.Equal("grant.expired", expired.Type);
        Assert.Equal(grant.GetProperty("id").GetString(), expired.Json.GetProperty("data").GetProperty("grant").GetProperty("id").GetString());
    }

    [Fact]
    public async Task ARedirect_IsNotFollowed_ItIsAFailedAttempt()
    {
        _receiver.Status = _ => 307;
        var hook = await RegisterAsync("grant.created");
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { }, 201);

        await _receiver.NthAsync(1);
        await Dispatcher.WhenIdleAsync();

        var delivery = Assert.Single((await DeliveriesAsync(hook, "failed")).EnumerateArray());
        Assert.Equal(("pending", 307), (delivery.GetProperty("status").GetString(), delivery.GetProperty("lastStatusCode").GetInt32()));
        Assert.Contains("not followed", delivery.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Empty(_receiver.OtherPaths);
        Assert.Single(_receiver.Received);
    }

    [Fact]
    public async Task RemovingAnEndpoint_DropsItsPendingDeliveries()
    {
        _receiver.Status = _ => 500;
        var hook = await RegisterAsync("grant.created");
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { }, 201);
        await _receiver.NthAsync(1);
        await Dispatcher.WhenIdleAsync();

        using var removed = await _env.Api.SendAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/webhooks/{hook}", _env.Ann);
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        _clock.Advance(TimeSpan.FromMinutes(10));
        await Dispatcher.WhenIdleAsync();

        Assert.Single(_receiver.Received);
        Assert.Equal("webhook.not_found", await _env.Api.ProblemCodeAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/webhooks/{hook}/deliveries", _env.Ann, expectedStatus: 404));
    }

    private async Task<string> RegisterAsync(params string[] events)
    {
        var created = await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/webhooks", _env.Ann, new { url = _receiver.Url, events }, 201);
        _receiver.Secret = created.GetProperty("secret").GetString();
        return created.GetProperty("id").GetString()!;
    }

    private async Task<JsonElement> DeliveriesAsync(string hook, string status) =>
        (await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/webhooks/{hook}/deliveries?status={status}", _env.Ann)).GetProperty("deliveries");

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, AuthenticationHeaderValue authorization)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = authorization;
        return await client.SendAsync(request);
    }
}
