using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Telemetry;

/// <summary>
/// The proxied request's server span carries the support decision (docs/telemetry.md,
/// "Traces"), seen by an <see cref="ActivityListener"/> on the sources the gateway's tracer
/// provider subscribes to; and no span attribute holds a credential: not the password, not the
/// session token, not the cookie, not the Authorization value.
/// </summary>
public sealed class TracingTests : IAsyncLifetime
{
    private static readonly string[] Sources = ["Microsoft.AspNetCore", GatewayTracing.SourceName, "Yarp.ReverseProxy"];

    private readonly ConcurrentQueue<Activity> _stopped = new();
    private readonly ConcurrentDictionary<ActivityTraceId, TaskCompletionSource> _serverSpanStopped = new();
    private ActivityListener _listener = null!;
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => Sources.Contains(source.Name, StringComparer.Ordinal),
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = OnStopped,
        };
        ActivitySource.AddActivityListener(_listener);
        _env = await new TestEnvironment { Backends = TestBackends.Shared, MintTokens = true }.StartAsync();
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
    }

    public async Task DisposeAsync()
    {
        await _env.DisposeAsync();
        _listener.Dispose();
    }

    [Fact]
    public async Task ProxiedRequestSpans_CarryTheDecision_AndNoCredential()
    {
        using var acme = _env.Gateway.Client();
        var (token, _, cookie) = await LoginAsync(acme, "jill$john", JillPassword);
        var cookieValue = cookie!.Split(';')[0];
        const string wrongPassword = "wrong-password-never-traced";
        var basic = Basic("jill$john", JillPassword);

        var byPassword = await TracedAsync(acme, "/api/orders", request => request.Headers.Authorization = basic, HttpStatusCode.OK);
        var byToken = await TracedAsync(acme, "/api/orders", request => request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token), HttpStatusCode.OK);
        var byCookie = await TracedAsync(acme, "/api/orders", request => request.Headers.Add("Cookie", cookieValue), HttpStatusCode.OK);
        var refused = await TracedAsync(acme, "/api/orders", request => request.Headers.Authorization = Basic("jill$john", wrongPassword), HttpStatusCode.Unauthorized);

        foreach (var trace in new[] { byPassword, byToken, byCookie })
        {
            var server = ServerSpan(trace);
            Assert.Equal("allowed", server.GetTagItem(GatewayMetrics.DecisionTag));
            Assert.Equal("data", server.GetTagItem(GatewayMetrics.RouteClassTag));
            Assert.Equal("acme", server.GetTagItem(GatewayTracing.TenantAttribute));
            Assert.Equal("acme-orders", server.GetTagItem(GatewayTracing.RouteIdAttribute));
            Assert.Equal("jill", server.GetTagItem(GatewayTracing.UserIdAttribute));
            Assert.Equal("john", server.GetTagItem(GatewayTracing.TargetUserAttribute));
            Assert.NotNull(server.GetTagItem(GatewayTracing.SessionIdAttribute));
        }

        Assert.Equal("basic", ServerSpan(byPassword).GetTagItem(GatewayTracing.CredentialAttribute));
        Assert.Equal("sessiontoken", ServerSpan(byToken).GetTagItem(GatewayTracing.CredentialAttribute));
        var denied = ServerSpan(refused);
        Assert.Equal("denied", denied.GetTagItem(GatewayMetrics.DecisionTag));
        Assert.Equal("support.login.invalid", denied.GetTagItem(GatewayMetrics.CodeTag));
        Assert.Null(denied.GetTagItem(GatewayTracing.UserIdAttribute));

        // The forward to the backend is a child span of the same trace (YARP's).
        Assert.Contains(byPassword.Spans, a => a.Source.Name == "Yarp.ReverseProxy" && a.ParentSpanId == ServerSpan(byPassword).SpanId);

        var secrets = new[]
        {
            JillPassword, wrongPassword, token, cookieValue, cookieValue.Split('=', 2)[1], basic.Parameter!,
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"jill$john:{wrongPassword}")),
        };
        foreach (var activity in new[] { byPassword, byToken, byCookie, refused }.SelectMany(t => t.Spans))
        {
            foreach (var (key, value) in activity.TagObjects)
            {
                var text = value switch
                {
                    null => "",
                    string s => s,
                    System.Collections.IEnumerable list => string.Join(",", list.Cast<object?>()),
                    _ => value.ToString() ?? "",
                };
                Assert.All(secrets, secret => Assert.False(text.Contains(secret, StringComparison.Ordinal), $"span {activity.OperationName} attribute {key} holds a credential"));
            }
        }
    }

    /// <summary>Sends the request in a trace of its own (a traceparent header) and returns that trace's finished spans.</summary>
    private async Task<Trace> TracedAsync(HttpClient client, string path, Action<HttpRequestMessage> configure, HttpStatusCode expected)
    {
        var traceId = ActivityTraceId.CreateRandom();
        var serverSpanStopped = _serverSpanStopped.GetOrAdd(traceId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        var caller = ActivitySpanId.CreateRandom();
        request.Headers.Add("traceparent", $"00-{traceId.ToHexString()}-{caller.ToHexString()}-01");
        configure(request);
        using (var response = await client.SendAsync(request))
        {
            Assert.Equal(expected, response.StatusCode);
            await response.Content.ReadAsByteArrayAsync();
        }

        // The server span stops after the response is written: wait for its stop.
        await serverSpanStopped.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return new Trace(caller, [.. _stopped.Where(a => a.TraceId == traceId)]);
    }

    private void OnStopped(Activity activity)
    {
        _stopped.Enqueue(activity);
        if (activity.Kind == ActivityKind.Server && _serverSpanStopped.TryGetValue(activity.TraceId, out var stopped))
        {
            stopped.TrySetResult();
        }
    }

    /// <summary>The gateway's server span: the child of the caller's (the sample app, in this process too, has one below it).</summary>
    private static Activity ServerSpan(Trace trace) =>
        Assert.Single(trace.Spans, a => a.Kind == ActivityKind.Server && a.Source.Name == "Microsoft.AspNetCore" && a.ParentSpanId == trace.Caller);

    private sealed record Trace(ActivitySpanId Caller, List<Activity> Spans);
}
