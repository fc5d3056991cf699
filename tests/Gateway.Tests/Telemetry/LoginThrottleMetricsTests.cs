using System.Net;
using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Telemetry;

/// <summary>A throttled login is counted as <c>throttled</c>, apart from wrong passwords (its own gateway: the throttle's state is per client address).</summary>
public sealed class LoginThrottleMetricsTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment
    {
        Backends = TestBackends.Shared,
        MintTokens = true,
        ExtraArgs = ["--Support:FailedLoginsPerUserAndClient=2", "--Support:FailedLoginWindow=00:10:00"],
    }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task ThrottledLogins_AreCountedAsThrottled()
    {
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
        using var logins = new MetricCollector<long>(_env.Gateway.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), GatewayMetrics.MeterName, "gateway.support.logins");
        using var acme = _env.Gateway.Client();

        for (var i = 0; i < 2; i++)
        {
            using var wrong = await GetAsync(acme, "/api/orders", Basic("jill$john", "guess-" + i));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var blocked = await GetAsync(acme, "/api/orders", Basic("jill$john", JillPassword));
        Assert.Equal("support.login.rate_limited", await ManagementClient.ProblemCodeAsync(blocked, 429));

        Assert.Equal(
            ["failure", "failure", "throttled"],
            logins.GetMeasurementSnapshot().Select(m => m.Tags[GatewayMetrics.LoginOutcomeTag] as string));
    }
}
