using System.Collections.Concurrent;
using System.Net;
using Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Telemetry;

/// <summary>
/// With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set (here on the command line, which the
/// OpenTelemetry SDK reads like the environment), the gateway sends metrics and traces by OTLP
/// over HTTP (protobuf) to that collector: a loopback double that records each POST.
/// </summary>
public sealed class OtlpExportTests : IAsyncLifetime
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<string?>> _received = new(StringComparer.Ordinal);
    private WebApplication _collector = null!;
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        var port = LoopbackPorts.Reserve();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        _collector = builder.Build();
        _collector.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            if (body.Length > 0)
            {
                Signal(signal).TrySetResult(request.ContentType);
            }

            return Results.Ok();
        });
        await _collector.StartAsync();

        _env = await new TestEnvironment
        {
            Backends = TestBackends.Shared,
            MintTokens = true,
            ExtraArgs =
            [
                $"--OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{port}",
                "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
                // Export soon after start rather than every minute / every 5 s (the defaults).
                "--OTEL_METRIC_EXPORT_INTERVAL=200",
                "--OTEL_BSP_SCHEDULE_DELAY=50",
            ],
        }.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _env.DisposeAsync();
        await _collector.DisposeAsync();
    }

    [Fact]
    public async Task MetricsAndTraces_ArePostedToTheCollector_AsProtobuf()
    {
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
        using (var allowed = await GetAsync(_env.Gateway.Client(), "/api/orders", Basic("jill$john", JillPassword)))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }

        var metrics = await Signal("metrics").Task.WaitAsync(TimeSpan.FromSeconds(60));
        var traces = await Signal("traces").Task.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal("application/x-protobuf", metrics);
        Assert.Equal("application/x-protobuf", traces);
    }

    private TaskCompletionSource<string?> Signal(string name) =>
        _received.GetOrAdd(name, _ => new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously));
}
