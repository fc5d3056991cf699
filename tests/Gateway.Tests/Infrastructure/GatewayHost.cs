using Gateway.Hosting;
using Gateway.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The real gateway (same <see cref="GatewayApp"/> as <c>dotnet run</c>) on Kestrel on a free
/// loopback port, with a private config directory whose clusters point at the given backends.
/// </summary>
internal sealed class GatewayHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TempConfigDirectory? _ownedConfig;

    private GatewayHost(WebApplication app, TempConfigDirectory config, TempConfigDirectory? ownedConfig, CapturingLoggerProvider logs)
    {
        _app = app;
        _ownedConfig = ownedConfig;
        Config = config;
        Logs = logs;
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        Port = new Uri(address).Port;
    }

    public int Port { get; }

    public TempConfigDirectory Config { get; }

    public CapturingLoggerProvider Logs { get; }

    public IServiceProvider Services => _app.Services;

    public RouteConfigFileProvider Routes => Services.GetRequiredService<RouteConfigFileProvider>();

    /// <summary>The audit events this gateway spooled (ECS JSON), read from its spool directory.</summary>
    public AuditTrail Audit => new(Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Gateway.Auditing.AuditOptions>>().Value.SpoolDirectory);

    public static Task<GatewayHost> StartAsync(IReadOnlyDictionary<string, Uri> clusterAddresses, params string[] extraArgs) =>
        StartAsync(null, clusterAddresses, extraArgs);

    public static async Task<GatewayHost> StartAsync(
        TempConfigDirectory? config,
        IReadOnlyDictionary<string, Uri> clusterAddresses,
        string[]? extraArgs = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        var owned = config is null ? new TempConfigDirectory() : null;
        config ??= owned!;
        var logs = new CapturingLoggerProvider();
        var args = new List<string>
        {
            "--config-dir", config.Path,
            "--urls", "http://127.0.0.1:0",
            "--Gateway:Demo:HostSampleApps=false",
            $"--Serilog:WriteTo:File:Args:path={Path.Combine(config.LogDirectory, "gateway-.log")}",
            $"--Audit:SpoolDirectory={Path.Combine(config.LogDirectory, "spool")}",
        };
        args.AddRange(clusterAddresses.Select(c => $"--ReverseProxy:Clusters:{c.Key}:Destinations:primary:Address={c.Value}"));
        // Tests create far more grants than anyone would by hand; the limits have tests of their own.
        args.AddRange(["--Grants:MaxGrantCreationsPerUserPerHour=10000", "--Grants:MaxActiveGrantsPerUser=50"]);
        args.AddRange(extraArgs ?? []);

        try
        {
            var app = await GatewayApp.CreateAsync([.. args], builder =>
            {
                builder.Logging.AddProvider(logs);
                configure?.Invoke(builder);
            });
            await app.StartAsync();
            return new GatewayHost(app, config, owned, logs);
        }
        catch
        {
            owned?.Dispose();
            throw;
        }
    }

    public HttpClient Client(string host = "acme.localhost") => LoopbackHttp.Client(Port, host);

    /// <summary>Readiness with every dependency's details, as a platform admin sees it (anonymous callers get the status word only).</summary>
    public async Task<(System.Net.HttpStatusCode Status, System.Text.Json.JsonElement Body)> ReadinessAsync()
    {
        var token = await ManagementClient.MintTokenAsync(Config.Path, "olivia", "platform-admin", null);
        using var client = Client("localhost");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/_gateway/health/ready");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var response = await client.SendAsync(request);
        using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, json.RootElement.Clone());
    }

    /// <summary>Completes when the next routes-file change has been applied or rejected.</summary>
    public Task<RouteReloadOutcome> NextReloadAsync()
    {
        var outcome = new TaskCompletionSource<RouteReloadOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnApplied(RouteTable table) => outcome.TrySetResult(new RouteReloadOutcome(table, null));
        void OnRejected(RouteConfigException error) => outcome.TrySetResult(new RouteReloadOutcome(null, error));
        Routes.Applied += OnApplied;
        Routes.Rejected += OnRejected;
        return outcome.Task.WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(
            t =>
            {
                Routes.Applied -= OnApplied;
                Routes.Rejected -= OnRejected;
                return t.Result;
            },
            TaskScheduler.Default);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _ownedConfig?.Dispose();
    }
}

internal sealed record RouteReloadOutcome(RouteTable? Applied, RouteConfigException? Rejected);
