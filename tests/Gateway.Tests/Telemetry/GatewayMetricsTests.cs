using System.Net;
using System.Net.Http.Headers;
using Gateway.Auditing;
using Gateway.Grants;
using Gateway.Telemetry;
using Gateway.Tests.Deployment;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Telemetry;

/// <summary>
/// The gateway's meter as a real gateway records it (docs/telemetry.md): support decisions,
/// logins, the grant store, the audit trail, configuration reloads and active sessions, read
/// with <see cref="MetricCollector{T}"/> from the gateway's own meter factory; and the scrape
/// endpoint as Prometheus reads it, on the management listener and on tenant hosts.
/// </summary>
public sealed class GatewayMetricsTests(TelemetryFixture fixture) : IClassFixture<TelemetryFixture>
{
    private GatewayHost Gateway => fixture.Gateway;

    private TestEnvironment Env => fixture.Env;

    [Fact]
    public async Task SupportRequests_AreCounted_ByDecisionRouteClassAndRefusalCode()
    {
        await GrantAsync();
        using var requests = Collector<long>("gateway.support.requests");
        using var acme = Gateway.Client();

        using (var allowed = await GetAsync(acme, "/api/orders", Basic("jill$john", JillPassword)))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }

        using (var refused = await SendAsync(acme, HttpMethod.Put, "/api/settings/theme", Basic("jill$john", JillPassword)))
        {
            Assert.Equal("support.isolation.config", await ManagementClient.ProblemCodeAsync(refused, 403));
        }

        var counted = requests.GetMeasurementSnapshot();
        Assert.Equal(2, counted.Count);
        var admitted = Assert.Single(counted, m => Tag(m, GatewayMetrics.DecisionTag) == "allowed");
        Assert.Equal(1, admitted.Value);
        Assert.Equal("data", Tag(admitted, GatewayMetrics.RouteClassTag));
        Assert.False(admitted.Tags.ContainsKey(GatewayMetrics.CodeTag));
        var denied = Assert.Single(counted, m => Tag(m, GatewayMetrics.DecisionTag) == "denied");
        Assert.Equal("support.isolation.config", Tag(denied, GatewayMetrics.CodeTag));
        Assert.Equal("config", Tag(denied, GatewayMetrics.RouteClassTag));
    }

    [Fact]
    public async Task Logins_AreCounted_ByOutcome()
    {
        await GrantAsync();
        using var logins = Collector<long>("gateway.support.logins");
        using var acme = Gateway.Client();

        var (token, _, _) = await LoginAsync(acme, "jill$john", JillPassword);
        using (var wrong = await GetAsync(acme, "/api/orders", Basic("jill$john", "not-the-password")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        Assert.NotEmpty(token);
        Assert.Equal(["failure", "success"], logins.GetMeasurementSnapshot().Select(m => Tag(m, GatewayMetrics.LoginOutcomeTag)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ActiveSessions_GoUpOnLogin_AndDownOnLogout()
    {
        await GrantAsync();
        using var active = Collector<int>("gateway.support.sessions.active");
        using var acme = Gateway.Client();
        var before = Observe(active);

        var (token, _, _) = await LoginAsync(acme, "jill$ann", JillPassword);
        var afterLogin = Observe(active);
        using (var logout = await SendAsync(acme, HttpMethod.Post, "/_gateway/support/logout", new AuthenticationHeaderValue("Bearer", token)))
        {
            Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        }

        var afterLogout = Observe(active);
        Assert.Equal(before + 1, afterLogin);
        Assert.Equal(before, afterLogout);
    }

    [Fact]
    public async Task GrantStore_CallsAreTimed_ItsInvalidationsHeardBack_AndItsAvailabilityFollowsRedis()
    {
        using var calls = Collector<double>("gateway.grant_store.duration");
        using var lag = Collector<double>("gateway.grant_store.invalidation.lag");
        using var available = Collector<int>("gateway.grant_store.available");
        var store = Gateway.Services.GetRequiredService<IGrantStore>();

        await GrantAsync();
        using (var allowed = await GetAsync(Gateway.Client(), "/api/orders", Basic("jill$john", JillPassword)))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }

        var timed = calls.GetMeasurementSnapshot();
        Assert.Contains(timed, m => Tag(m, GatewayMetrics.GrantStoreOperationTag) == "CreateGrant" && Tag(m, GatewayMetrics.GrantStoreOutcomeTag) == "ok" && m.Value > 0);
        Assert.Contains(timed, m => Tag(m, GatewayMetrics.GrantStoreOperationTag) == "GetState" && Tag(m, GatewayMetrics.GrantStoreOutcomeTag) == "ok" && m.Value > 0);
        await lag.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(30));
        Assert.All(lag.GetMeasurementSnapshot(), m => Assert.InRange(m.Value, 0, 30));
        Assert.Equal(1, Observe(available));

        // A stalled Redis: the heartbeat loses the subscription (heard as an all-tenants invalidation).
        var lost = NextAllTenantsInvalidation(store);
        Env.Redis.Pause();
        try
        {
            await lost;
            Assert.Equal(0, Observe(available));
        }
        finally
        {
            var back = NextAllTenantsInvalidation(store);
            Env.Redis.Resume();
            await back;
        }

        Assert.Equal(1, Observe(available));
    }

    [Fact]
    public async Task AuditEvents_AreCountedAccepted_Spooled_AndShipped_WithTheBulkLatency()
    {
        await GrantAsync();
        var state = Gateway.Services.GetRequiredService<AuditSpoolState>();
        using var events = Collector<long>("gateway.audit.events");
        using var bulk = Collector<double>("gateway.audit.shipping.duration");
        using var shippingLag = Collector<double>("gateway.audit.shipping.lag");
        var before = AuditCounts(events);

        var marker = "/api/echo/" + Guid.NewGuid().ToString("N");
        using (var allowed = await GetAsync(Gateway.Client(), marker, Basic("jill$john", JillPassword)))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }

        // Shipped: the double holds the call, and the shipper has counted what it delivered.
        await WaitForAsync(state.Shipping, () => fixture.Elasticsearch.Documents.Values.Any(d => d.Contains(marker, StringComparison.Ordinal)) && state.Shipped > before["shipped"]);
        var after = AuditCounts(events);
        Assert.True(after["accepted"] > before["accepted"], $"accepted {before["accepted"]} -> {after["accepted"]}");
        Assert.True(after["spooled"] > before["spooled"], $"spooled {before["spooled"]} -> {after["spooled"]}");
        Assert.True(after["shipped"] > before["shipped"], $"shipped {before["shipped"]} -> {after["shipped"]}");
        Assert.Equal(0, after["dead_lettered"]);
        Assert.Contains(bulk.GetMeasurementSnapshot(), m => Tag(m, GatewayMetrics.AuditOutcomeTag) == "ok" && m.Value > 0);
        shippingLag.RecordObservableInstruments();
        Assert.InRange(Assert.Single(shippingLag.GetMeasurementSnapshot()).Value, 0, 60);
    }

    [Fact]
    public async Task ConfigReloads_AreCounted_Applied_AndRejected()
    {
        using var reloads = Collector<long>("gateway.config.reloads");
        var original = File.ReadAllText(Gateway.Config.RoutesPath);

        var rejected = Gateway.NextReloadAsync();
        Gateway.Config.WriteRoutesText("{ not json");
        Assert.NotNull((await rejected).Rejected);
        var applied = Gateway.NextReloadAsync();
        Gateway.Config.WriteRoutesText(original);
        Assert.NotNull((await applied).Applied);

        Assert.Equal(
            ["routes:applied", "routes:rejected"],
            reloads.GetMeasurementSnapshot().Select(m => $"{Tag(m, GatewayMetrics.ConfigFileTag)}:{Tag(m, GatewayMetrics.ConfigOutcomeTag)}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ManagementListener_ServesPrometheusText_WithoutAToken_WithEverySeriesTheDashboardQueries()
    {
        // Something in each series the dashboard shows: a login, a refused and an allowed
        // support request, a configuration reload, and audit shipping.
        await GrantAsync();
        using var acme = Gateway.Client();
        await LoginAsync(acme, "jill$john", JillPassword);
        using (var allowed = await GetAsync(acme, "/api/orders", Basic("jill$john", JillPassword)))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }

        using (var refused = await SendAsync(acme, HttpMethod.Put, "/api/settings/theme", Basic("jill$john", JillPassword)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        var reload = Gateway.NextReloadAsync();
        Gateway.Config.WriteRoutesText(File.ReadAllText(Gateway.Config.RoutesPath) + "\n");
        Assert.NotNull((await reload).Applied);

        using var management = LoopbackHttp.Client(fixture.ManagementPort, "gateway");
        using var response = await management.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var series = Series(text);
        var dashboard = ObservabilityConfigTests.DashboardSeries();
        Assert.NotEmpty(dashboard);
        Assert.All(dashboard, name => Assert.True(series.Contains(name), $"the dashboard queries {name}, which the gateway's scrape does not have"));
        Assert.Contains(text.Split('\n'), l => l.StartsWith("gateway_support_requests_total{", StringComparison.Ordinal)
            && l.Contains("gateway_support_decision=\"denied\"", StringComparison.Ordinal)
            && l.Contains("gateway_support_code=\"support.isolation.config\"", StringComparison.Ordinal));

        // The platform's own meters are there too (ASP.NET Core, Kestrel, HttpClient).
        Assert.Contains("http_server_request_duration_seconds_bucket", series);
        Assert.Contains("kestrel_active_connections", series);
        Assert.Contains("http_client_request_duration_seconds_bucket", series);
    }

    [Fact]
    public async Task TenantHosts_ServeTheScrape_OnlyToPlatformAdmins()
    {
        using var acme = Gateway.Client();

        using var anonymous = await acme.GetAsync("/_gateway/metrics");
        Assert.Equal("management.unauthenticated", await ManagementClient.ProblemCodeAsync(anonymous, 401));
        using var tenantAdmin = await Env.Api.SendAsync(HttpMethod.Get, "/_gateway/metrics", Env.Ann);
        Assert.Equal("management.forbidden", await ManagementClient.ProblemCodeAsync(tenantAdmin, 403));

        using var platformAdmin = await Env.Api.SendAsync(HttpMethod.Get, "/_gateway/metrics", Env.Olivia);
        Assert.Equal(HttpStatusCode.OK, platformAdmin.StatusCode);
        Assert.Contains("gateway_grant_store_available", Series(await platformAdmin.Content.ReadAsStringAsync()));

        // A tenant app's own /metrics is the tenant's: proxied, never the gateway's series.
        using var tenantPath = await acme.GetAsync("/metrics");
        Assert.DoesNotContain("gateway_", await tenantPath.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private MetricCollector<T> Collector<T>(string instrument)
        where T : struct =>
        new(fixture.Meters, GatewayMetrics.MeterName, instrument);

    private static T Observe<T>(MetricCollector<T> collector)
        where T : struct
    {
        collector.RecordObservableInstruments();
        return collector.LastMeasurement!.Value;
    }

    private static Dictionary<string, long> AuditCounts(MetricCollector<long> events)
    {
        events.Clear();
        events.RecordObservableInstruments();
        return events.GetMeasurementSnapshot().ToDictionary(m => Tag(m, GatewayMetrics.AuditStateTag)!, m => m.Value, StringComparer.Ordinal);
    }

    private static string? Tag<T>(CollectedMeasurement<T> measurement, string name)
        where T : struct =>
        measurement.Tags.TryGetValue(name, out var value) ? value?.ToString() : null;

    /// <summary>The metric names of a Prometheus text exposition (samples, not comments).</summary>
    private static HashSet<string> Series(string text) =>
        text.Split('\n')
            .Where(l => l.Length > 0 && l[0] != '#')
            .Select(l => l[..l.IndexOfAny(['{', ' '])])
            .ToHashSet(StringComparer.Ordinal);

    private static Task NextAllTenantsInvalidation(IGrantStore store)
    {
        var heard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnInvalidated(string tenant)
        {
            if (tenant == IGrantStore.AllTenants)
            {
                heard.TrySetResult();
            }
        }

        store.Invalidated += OnInvalidated;
        return heard.Task.WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(
            t =>
            {
                store.Invalidated -= OnInvalidated;
                t.GetAwaiter().GetResult();
            },
            TaskScheduler.Default);
    }

    private static async Task WaitForAsync(AsyncPulse pulse, Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var next = pulse.WhenPulsed;
            if (condition())
            {
                return;
            }

            await next.WaitAsync(timeout.Token);
        }
    }

    private async Task GrantAsync() =>
        await Env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", Env.John, new { denyData = false, denyConfig = true }, 201);

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, AuthenticationHeaderValue authorization)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = authorization;
        return await client.SendAsync(request);
    }
}
