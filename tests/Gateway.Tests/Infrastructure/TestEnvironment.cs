using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Infrastructure;

/// <summary>Which sample tenant apps a <see cref="TestEnvironment"/> starts.</summary>
public enum TestBackends
{
    /// <summary>One app per tenant: <c>acme</c> and <c>globex</c>.</summary>
    OnePerTenant,

    /// <summary>One app (named <c>acme</c>) serving both tenants; <see cref="TestEnvironment.Globex"/> is the same app.</summary>
    Shared,

    /// <summary>No app: the clusters keep the config directory's addresses (management-only tests).</summary>
    None,
}

/// <summary>
/// The real gateway in front of real sample tenant apps, described before it starts and started
/// once (in the spirit of YARP's functional-test <c>TestEnvironment</c>):
/// <code>
/// await using var env = await new TestEnvironment { Clock = clock, Backends = TestBackends.Shared }.StartAsync();
/// </code>
/// Everything a test needs about its gateway is set here: the backends, a fake clock, a private
/// redis-server for the grants, extra command-line arguments, service overrides, and whether the
/// usual management tokens are minted. It is also xunit's class fixture for tests that share one
/// gateway: <c>IClassFixture&lt;TestEnvironment&gt;</c> for the default environment, or a subclass
/// that only sets the properties in its constructor for another (xunit needs a type per
/// configuration).
/// </summary>
public class TestEnvironment : IAsyncLifetime, IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _started = [];
    private GatewayHost? _gateway;
    private GatewayHost? _second;
    private SampleBackend? _acme;
    private SampleBackend? _globex;
    private RedisServer? _redis;
    private ManagementClient? _api;
    private Tokens? _tokens;

    /// <summary>Which sample apps to start (default: one per tenant).</summary>
    public TestBackends Backends { get; init; } = TestBackends.OnePerTenant;

    /// <summary>The gateway's <see cref="TimeProvider"/>; null for the real clock.</summary>
    public FakeTimeProvider? Clock { get; init; }

    /// <summary>Start a private redis-server and keep the grants there (own key prefix); otherwise the in-memory store.</summary>
    public bool WithRedis { get; init; }

    /// <summary>Mint <see cref="John"/>, <see cref="Ann"/>, <see cref="Gina"/> and <see cref="Olivia"/> once the gateway is up.</summary>
    public bool MintTokens { get; init; }

    /// <summary>
    /// Start a second gateway instance beside the first: the same Redis and key prefix (needs
    /// <see cref="WithRedis"/>), the same session-token signing key, its own spool and clock-less
    /// services otherwise — two instances of one deployment.
    /// </summary>
    public bool TwoInstances { get; init; }

    /// <summary>Command-line arguments after the generated ones (later ones win).</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];

    /// <summary>Runs on the gateway's builder after the environment's own settings (e.g. to replace a service).</summary>
    public Action<WebApplicationBuilder>? Configure { get; init; }

    internal GatewayHost Gateway => Started(_gateway);

    /// <summary>The second instance, with <see cref="TwoInstances"/>.</summary>
    internal GatewayHost SecondGateway => Started(_second, "the environment has one instance (TwoInstances is false)");

    /// <summary>The acme sample app (with <see cref="TestBackends.Shared"/>, the one app of both tenants).</summary>
    internal SampleBackend Acme => Started(_acme, "no sample apps were started (TestBackends.None)");

    /// <summary>The globex sample app (with <see cref="TestBackends.Shared"/>, the same app as <see cref="Acme"/>).</summary>
    internal SampleBackend Globex => Started(_globex, "no sample apps were started (TestBackends.None)");

    /// <summary>The private redis-server, with <see cref="WithRedis"/>.</summary>
    internal RedisServer Redis => Started(_redis, "the environment has no Redis (WithRedis is false)");

    internal ManagementClient Api => Started(_api);

    /// <summary>john, tenant-user of acme.</summary>
    public string John => MintedTokens.John;

    /// <summary>ann, tenant-admin of acme.</summary>
    public string Ann => MintedTokens.Ann;

    /// <summary>gina, tenant-admin of globex.</summary>
    public string Gina => MintedTokens.Gina;

    /// <summary>olivia, platform-admin.</summary>
    public string Olivia => MintedTokens.Olivia;

    private Tokens MintedTokens => Started(_tokens, "no tokens were minted (MintTokens is false)");

    /// <summary>Starts what is described, in order (Redis, apps, gateway, tokens); on failure stops what had started.</summary>
    public async Task<TestEnvironment> StartAsync()
    {
        if (_gateway is not null)
        {
            throw new InvalidOperationException("The environment has already started.");
        }

        try
        {
            var args = new List<string>();
            if (WithRedis)
            {
                _redis = Track(await RedisServer.StartAsync());
                args.AddRange([$"--Redis:Configuration={_redis.ConnectionString}", $"--Redis:KeyPrefix={RedisFixture.NewKeyPrefix()}"]);
            }

            var clusters = new Dictionary<string, Uri>();
            if (Backends != TestBackends.None)
            {
                _acme = Track(await SampleBackend.StartAsync("acme"));
                _globex = Backends == TestBackends.Shared ? _acme : Track(await SampleBackend.StartAsync("globex"));
                clusters["acme"] = _acme.Address;
                clusters["globex"] = _globex.Address;
            }

            if (TwoInstances)
            {
                if (!WithRedis)
                {
                    throw new InvalidOperationException("TwoInstances needs WithRedis: instances share state through Redis.");
                }

                using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
                args.Add($"--Support:SigningKeyPem={key.ExportPkcs8PrivateKeyPem()}");
            }

            args.AddRange(ExtraArgs);
            var clock = Clock;
            _gateway = Track(await GatewayHost.StartAsync(
                null,
                clusters,
                [.. args],
                builder =>
                {
                    if (clock is not null)
                    {
                        builder.Services.AddSingleton<TimeProvider>(clock);
                    }

                    Configure?.Invoke(builder);
                }));
            if (TwoInstances)
            {
                _second = Track(await GatewayHost.StartAsync(
                    null,
                    clusters,
                    [.. args],
                    builder =>
                    {
                        if (clock is not null)
                        {
                            builder.Services.AddSingleton<TimeProvider>(clock);
                        }

                        Configure?.Invoke(builder);
                    }));
            }

            _api = new ManagementClient(_gateway);
            if (MintTokens)
            {
                _tokens = new Tokens(
                    await _api.TokenAsync("john", "tenant-user", "acme"),
                    await _api.TokenAsync("ann", "tenant-admin", "acme"),
                    await _api.TokenAsync("gina", "tenant-admin", "globex"),
                    await _api.TokenAsync("olivia", "platform-admin"));
            }

            return this;
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    Task IAsyncLifetime.InitializeAsync() => StartAsync();

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    /// <summary>Stops the gateway first, then the apps and Redis it used.</summary>
    public async ValueTask DisposeAsync()
    {
        for (var i = _started.Count - 1; i >= 0; i--)
        {
            await _started[i].DisposeAsync();
        }

        _started.Clear();
    }

    private T Track<T>(T started)
        where T : IAsyncDisposable
    {
        _started.Add(started);
        return started;
    }

    private T Started<T>(T? value, string? why = null)
        where T : class =>
        value ?? throw new InvalidOperationException(_gateway is null || why is null ? "The environment has not started (call StartAsync)." : why);

    private sealed record Tokens(string John, string Ann, string Gina, string Olivia);
}
