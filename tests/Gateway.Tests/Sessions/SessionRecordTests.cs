using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Gateway.Sessions;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Sessions;

/// <summary>
/// Support sessions as the tenant sees them, on one gateway with the embedded stores and a clock
/// the test moves: what a session did (counters, every allowed write, denials, routes), its calls
/// read back from the audit, how it ends and why, its report, and the API's answers to bad input.
/// </summary>
public sealed class SessionRecordTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(TestClock.Start);
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment { Clock = _clock, Backends = TestBackends.Shared, MintTokens = true }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    private SessionTracker Tracker => _env.Gateway.Services.GetRequiredService<SessionTracker>();

    [Fact]
    public async Task BasicSession_RecordsCallsWritesDenialsAndRoutes_AndItsCallsComeFromTheAudit()
    {
        await GrantAsync(new { denyData = false, denyConfig = true });
        using var acme = _env.Gateway.Client("acme.localhost");
        var jill = Basic("jill$john", JillPassword);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/echo/one", jill)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Post, "/api/echo/written", jill)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/orders", jill)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(acme, HttpMethod.Put, "/api/settings/theme", jill)).StatusCode);
        await Tracker.FlushAsync(CancellationToken.None);

        var list = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", _env.Ann);
        var session = Assert.Single(list.GetProperty("sessions").EnumerateArray());
        Assert.Equal("active", session.GetProperty("status").GetString());
        Assert.Equal("jill", session.GetProperty("supportUser").GetString());
        Assert.Equal("john", session.GetProperty("targetUser").GetString());
        Assert.Equal("basic", session.GetProperty("credential").GetString());
        Assert.Equal(3, session.GetProperty("calls").GetInt64());
        Assert.Equal(1, session.GetProperty("writes").GetInt64());
        Assert.Equal(1, session.GetProperty("denials").GetProperty("support.isolation.config").GetInt64());
        Assert.Equal(2, session.GetProperty("routes").GetProperty("acme-echo").GetInt64());
        Assert.Equal(1, session.GetProperty("routes").GetProperty("acme-orders").GetInt64());
        Assert.Equal("denyConfig", session.GetProperty("isolation").GetString());
        Assert.Single(session.GetProperty("admittedUnder").EnumerateArray());
        Assert.Equal("127.0.0.1", Assert.Single(session.GetProperty("clientAddresses").EnumerateArray()).GetString());

        var id = session.GetProperty("id").GetString()!;
        var detail = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        var write = Assert.Single(detail.GetProperty("recordedWrites").EnumerateArray());
        Assert.Equal("POST", write.GetProperty("method").GetString());
        Assert.Equal("/api/echo/written", write.GetProperty("path").GetString());
        Assert.Equal(200, write.GetProperty("status").GetInt32());

        // The calls, oldest first, as the audit recorded them, the refusal included.
        var calls = await WaitForCallsAsync(id, 4);
        Assert.Equal(["GET /api/echo/one", "POST /api/echo/written", "GET /api/orders", "PUT /api/settings/theme"],
            calls.Select(c => $"{c.GetProperty("method").GetString()} {c.GetProperty("path").GetString()}"));
        Assert.Equal("denied", calls[3].GetProperty("decision").GetString());
        Assert.Equal("support.isolation.config", calls[3].GetProperty("code").GetString());
        Assert.Equal("config", calls[3].GetProperty("routeClass").GetString());
        Assert.Equal("allowed", calls[1].GetProperty("decision").GetString());
    }

    [Fact]
    public async Task CallsArePaged_WithACursorThatReadsOn()
    {
        await GrantAsync(new { denyData = false });
        using var acme = _env.Gateway.Client("acme.localhost");
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, $"/api/echo/{i}", Basic("jill$john", JillPassword))).StatusCode);
        }

        var id = await OnlySessionIdAsync();
        await WaitForCallsAsync(id, 5);
        var first = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}?callsLimit=2", _env.Ann);
        var cursor = Cursor(first.GetProperty("calls"));
        var second = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}?callsLimit=2&callsCursor={Uri.EscapeDataString(cursor!)}", _env.Ann);
        var third = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}?callsLimit=2&callsCursor={Uri.EscapeDataString(Cursor(second.GetProperty("calls"))!)}", _env.Ann);

        Assert.Equal(["/api/echo/0", "/api/echo/1"], Paths(first));
        Assert.Equal(["/api/echo/2", "/api/echo/3"], Paths(second));
        Assert.Equal(["/api/echo/4"], Paths(third));
        Assert.Null(Cursor(third.GetProperty("calls")));
    }

    [Fact]
    public async Task Sessions_AreListedNewestFirst_PagedWithACursor_AndFiltered()
    {
        await GrantAsync(new { denyData = false });
        using var acme = _env.Gateway.Client("acme.localhost");
        foreach (var login in new[] { "jill$john", "jill$ann", "jill$carol" })
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/echo/x", Basic(login, JillPassword))).StatusCode);
            _clock.Advance(TimeSpan.FromSeconds(1));
        }

        var first = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions?limit=2", _env.Ann);
        var next = Cursor(first) ?? throw new Xunit.Sdk.XunitException($"no cursor after the first page: {first}");
        var second = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions?limit=2&cursor={Uri.EscapeDataString(next)}", _env.Ann);

        Assert.Equal(["carol", "ann"], first.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("targetUser").GetString()));
        Assert.Equal(["john"], second.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("targetUser").GetString()));
        Assert.Null(Cursor(second));

        var from = Uri.EscapeDataString((TestClock.Start + TimeSpan.FromSeconds(1)).ToString("O"));
        var recent = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions?from={from}", _env.Ann);
        Assert.Equal(2, recent.GetProperty("sessions").GetArrayLength());
        var nobody = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions?supportUser=bob", _env.Ann);
        Assert.Equal(0, nobody.GetProperty("sessions").GetArrayLength());

        // The platform admin sees every tenant's; a tenant's own list never shows another's.
        var platform = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/platform/support/sessions", _env.Olivia);
        Assert.Equal(3, platform.GetProperty("sessions").GetArrayLength());
        var globex = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/globex/support/sessions", _env.Gina);
        Assert.Equal(0, globex.GetProperty("sessions").GetArrayLength());
    }

    [Fact]
    public async Task TokenSession_EndsOnLogout_WithAReportOfEveryAllowedWrite_InJsonTextAndHtml()
    {
        await GrantAsync(new { denyData = false });
        using var acme = _env.Gateway.Client("acme.localhost");
        var (token, _, _) = await LoginAsync(acme, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Post, "/api/echo/order-1", bearer)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Delete, "/api/echo/x&y", bearer)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/orders", bearer)).StatusCode);
        var id = await OnlySessionIdAsync();
        Assert.Equal("session.active", await _env.Api.ProblemCodeAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}/report", _env.Ann, expectedStatus: 409));

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(acme, HttpMethod.Post, "/_gateway/support/logout", bearer)).StatusCode);

        var record = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        Assert.Equal("ended", record.GetProperty("session").GetProperty("status").GetString());
        Assert.Equal("logout", record.GetProperty("session").GetProperty("endReason").GetString());
        Assert.Equal("sessiontoken", record.GetProperty("session").GetProperty("credential").GetString());

        var report = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}/report", _env.Ann);
        Assert.Equal(3, report.GetProperty("calls").GetInt64());
        Assert.Equal(["POST /api/echo/order-1", "DELETE /api/echo/x&y"],
            report.GetProperty("allowedWrites").EnumerateArray().Select(w => $"{w.GetProperty("method").GetString()} {w.GetProperty("path").GetString()}"));

        using var text = await _env.Api.SendAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}/report?format=text", _env.Ann);
        Assert.Equal("text/plain", text.Content.Headers.ContentType?.MediaType);
        var body = await text.Content.ReadAsStringAsync();
        Assert.Contains("POST /api/echo/order-1 -> 200", body, StringComparison.Ordinal);
        Assert.Contains("ended: logout", body, StringComparison.Ordinal);

        using var html = await _env.Api.SendAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}/report?format=html", _env.Ann);
        Assert.Equal("text/html", html.Content.Headers.ContentType?.MediaType);
        var page = await html.Content.ReadAsStringAsync();
        Assert.Contains("<td>/api/echo/x&amp;y</td>", page, StringComparison.Ordinal);

        // The token is refused as ended, not as lacking a grant (the grant is still active).
        using var after = await SendAsync(acme, HttpMethod.Get, "/api/orders", bearer);
        Assert.Equal("support.session.ended", await ManagementClient.ProblemCodeAsync(after, 401));
    }

    [Fact]
    public async Task RevokeAll_ThenANewGrant_LeavesTheOldTokenEnded_AndTheRecordSaysWhy()
    {
        await GrantAsync(new { denyData = false });
        using var acme = _env.Gateway.Client("acme.localhost");
        var (token, _, _) = await LoginAsync(acme, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/orders", bearer)).StatusCode);
        var id = await OnlySessionIdAsync();

        var ended = WaitForEndAsync(id);
        await _env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", _env.Ann);
        await ended;
        await GrantAsync(new { denyData = false });

        using var refused = await SendAsync(acme, HttpMethod.Get, "/api/orders", bearer);
        Assert.Equal("support.session.ended", await ManagementClient.ProblemCodeAsync(refused, 401));
        var record = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        Assert.Equal("grants-ended", record.GetProperty("session").GetProperty("endReason").GetString());

        // Signing in again under the new grant is a new session.
        var (again, _, _) = await LoginAsync(acme, "jill$john", JillPassword);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/orders", new AuthenticationHeaderValue("Bearer", again))).StatusCode);
    }

    [Fact]
    public async Task BasicSession_ClosesAfterItsIdleTimeout_AndTheNextCallStartsANewOne()
    {
        await GrantAsync(new { denyData = false });
        using var acme = _env.Gateway.Client("acme.localhost");
        var jill = Basic("jill$john", JillPassword);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/echo/a", jill)).StatusCode);
        _clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/echo/b", jill)).StatusCode);
        var id = await OnlySessionIdAsync();

        _clock.Advance(TimeSpan.FromMinutes(16));
        await Tracker.FlushAsync(CancellationToken.None);
        await Tracker.SweepAsync(CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/echo/c", jill)).StatusCode);

        var list = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", _env.Ann);
        var sessions = list.GetProperty("sessions").EnumerateArray().ToList();
        Assert.Equal(2, sessions.Count);
        var old = sessions.Single(s => s.GetProperty("id").GetString() == id);
        Assert.Equal("idle", old.GetProperty("endReason").GetString());
        Assert.Equal(2, old.GetProperty("calls").GetInt64());
        Assert.Equal("active", sessions.Single(s => s.GetProperty("id").GetString() != id).GetProperty("status").GetString());
    }

    [Fact]
    public async Task AdminEndsABasicSession_ItIsRefusedAsEnded_UntilItsIdleTimeoutPasses()
    {
        await GrantAsync(new { denyData = false });
        using var acme = _env.Gateway.Client("acme.localhost");
        var jill = Basic("jill$john", JillPassword);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/echo/a", jill)).StatusCode);
        var id = await OnlySessionIdAsync();

        using var end = await _env.Api.SendAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        Assert.Equal(HttpStatusCode.NoContent, end.StatusCode);
        using var refused = await SendAsync(acme, HttpMethod.Get, "/api/echo/b", jill);
        Assert.Equal("support.session.ended", await ManagementClient.ProblemCodeAsync(refused, 401));
        var record = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        Assert.Equal("ended-by-admin", record.GetProperty("session").GetProperty("endReason").GetString());
        Assert.Equal("ann", record.GetProperty("session").GetProperty("endedBy").GetString());
        await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-session-ended" && AuditTrail.Get(e, "user.name") == "ann");

        // Ending it again is not an error.
        using var twice = await _env.Api.SendAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        Assert.Equal(HttpStatusCode.NoContent, twice.StatusCode);

        _clock.Advance(TimeSpan.FromMinutes(16));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(acme, HttpMethod.Get, "/api/echo/c", jill)).StatusCode);
    }

    [Theory]
    [InlineData("/_gateway/tenants/acme/support/sessions?status=open", 400, "request.invalid")]
    [InlineData("/_gateway/tenants/acme/support/sessions?limit=0", 400, "request.invalid")]
    [InlineData("/_gateway/tenants/acme/support/sessions?limit=201", 400, "request.invalid")]
    [InlineData("/_gateway/tenants/acme/support/sessions?from=yesterday", 400, "request.invalid")]
    [InlineData("/_gateway/tenants/acme/support/sessions?cursor=bm90LWEtY3Vyc29y", 400, "request.invalid")]
    [InlineData("/_gateway/tenants/acme/support/sessions?cursor=%%%", 400, "request.invalid")]
    [InlineData("/_gateway/tenants/acme/support/sessions/s_00000000000000000000000000000000", 404, "session.not_found")]
    [InlineData("/_gateway/tenants/acme/support/sessions/..%2F..%2Fx", 404, "session.not_found")]
    [InlineData("/_gateway/tenants/acme/support/sessions/s_00000000000000000000000000000000/report", 404, "session.not_found")]
    [InlineData("/_gateway/tenants/acme/support/sessions/s_00000000000000000000000000000000/report?format=pdf", 400, "request.invalid")]
    [InlineData("/_gateway/tenants/acme/support/sessions/s_00000000000000000000000000000000?callsCursor=x", 400, "request.invalid")]
    public async Task BadInput_IsAProblemWithAStableCode(string path, int status, string code)
    {
        Assert.Equal(code, await _env.Api.ProblemCodeAsync(HttpMethod.Get, path, _env.Ann, expectedStatus: status));
    }

    [Fact]
    public async Task OnlyTheTenantsAdminsAndThePlatformAdmin_SeeOrEndSessions()
    {
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", _env.John, expectedStatus: 403));
        Assert.Equal("management.wrong_tenant", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", _env.Gina, expectedStatus: 403));
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/sessions/s_00000000000000000000000000000000", _env.John, expectedStatus: 403));
        Assert.Equal("management.forbidden", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/platform/support/sessions", _env.Ann, expectedStatus: 403));
        Assert.Equal("management.unauthenticated", await _env.Api.ProblemCodeAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", null, expectedStatus: 401));
        await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", _env.Olivia);
    }

    private async Task GrantAsync(object body) =>
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, body, 201);

    private async Task<string> OnlySessionIdAsync()
    {
        var list = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions?status=active", _env.Ann);
        return Assert.Single(list.GetProperty("sessions").EnumerateArray()).GetProperty("id").GetString()!;
    }

    /// <summary>Completes when the tracker publishes the session's end.</summary>
    private Task WaitForEndAsync(string id)
    {
        var bus = _env.Gateway.Services.GetRequiredService<Gateway.Events.SupportEventBus>();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Published += e =>
        {
            if (e.Type == Gateway.Events.SupportEventTypes.SessionEnded && e.Session?.Id == id)
            {
                ended.TrySetResult();
            }
        };
        return ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>The session's calls once the audit writer has spooled them all.</summary>
    private async Task<List<JsonElement>> WaitForCallsAsync(string id, int count)
    {
        await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "gateway.support.session_id") == id && AuditTrail.Get(e, "event.action") == "support-request", count);
        var detail = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        return [.. detail.GetProperty("calls").GetProperty("calls").EnumerateArray()];
    }

    private static string? Cursor(JsonElement page) =>
        page.TryGetProperty("nextCursor", out var cursor) && cursor.ValueKind == JsonValueKind.String ? cursor.GetString() : null;

    private static string[] Paths(JsonElement detail) =>
        [.. detail.GetProperty("calls").GetProperty("calls").EnumerateArray().Select(c => c.GetProperty("path").GetString()!)];

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, AuthenticationHeaderValue authorization)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = authorization;
        return await client.SendAsync(request);
    }
}
