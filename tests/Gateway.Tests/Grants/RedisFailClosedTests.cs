using System.Diagnostics;
using Gateway.Grants;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Gateway.Tests.Grants;

/// <summary>
/// "Fail closed": with the real redis-server stopped or frozen, every store call
/// fails as unavailable within its budget (never a guess, never a hang), the invalidation
/// channel reports itself down, and everything comes back on its own with the server.
/// This class stops and freezes its server, so it has its own (class fixture).
/// </summary>
public sealed class RedisFailClosedTests(RedisFixture redis, ITestOutputHelper output) : IClassFixture<RedisFixture>, IAsyncLifetime
{
    private const string Acme = "acme";

    /// <summary>
    /// StoreTimeout (the default 200 ms) plus slack for a loaded test machine (a CI run of the
    /// whole suite once took 1.1 s for one call); the tests that freeze Redis give the client
    /// library a much longer timeout of its own (<see cref="LibraryTimeout"/>), so a call that
    /// waited for the library instead of the store's budget still fails this bound.
    /// </summary>
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(3);

    /// <summary>The client library's own command timeout where a test freezes Redis.</summary>
    private static readonly TimeSpan LibraryTimeout = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan ReconnectDeadline = TimeSpan.FromSeconds(15);
    private static readonly CancellationToken Ct = CancellationToken.None;
    private readonly GrantsOptions _options = new();
    private readonly List<(RedisGrantStore Store, ConnectionMultiplexer Connection)> _owned = [];

    private RedisServer Server => redis.Server;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var (store, connection) in _owned)
        {
            store.Dispose();
            await connection.CloseAsync(allowCommandsToComplete: false);
            connection.Dispose();
        }
    }

    [Fact]
    public async Task StoppedServer_EveryCallFailsClosedQuickly_AndTheStoreRecoversOnRestart()
    {
        var (store, connection) = await StartStoreAsync();
        var grant = NewGrant();
        await SeedAsync(store.KeyPrefix, grant);

        await Server.StopAsync();
        try
        {
            await store.UntilInvalidationsAsync(connected: false, ReconnectDeadline);

            await AssertEveryCallUnavailableAsync(store, grant, NewGrant());
        }
        finally
        {
            if (!Server.IsRunning)
            {
                await Server.StartAgainAsync();
            }
        }

        await store.UntilInvalidationsAsync(connected: true, ReconnectDeadline);
        await UntilAnsweringAsync(store, connection);

        // The test server keeps nothing on disk, so it comes back empty.
        var fresh = NewGrant();
        await store.CreateGrantAsync(fresh, Ct);
        Assert.Equal([fresh.Id], (await store.GetStateAsync(Acme, Ct)).ActiveGrants.Select(g => g.Id));
        Assert.True(await store.PingAsync(Ct));
    }

    [Fact]
    public async Task StoppedServer_CallsFailAtOnce_NotAtTheStoreBudget()
    {
        // A generous budget: a client that held commands in its backlog while disconnected
        // (StackExchange.Redis 2.x/3.x without BacklogPolicy.FailFast) would answer only when
        // this runs out. The gateway's connection options must make them fail at once.
        var generous = new GrantsOptions { StoreTimeout = TimeSpan.FromSeconds(5) };
        var (store, connection) = await StartStoreAsync(grants: generous);
        await Server.StopAsync();
        try
        {
            await store.UntilInvalidationsAsync(connected: false, ReconnectDeadline);
            Assert.False(connection.IsConnected);
            foreach (var attempt in Enumerable.Range(0, 5))
            {
                var elapsed = Stopwatch.StartNew();
                var error = await Record.ExceptionAsync(() => store.GetStateAsync(Acme, Ct));
                var took = elapsed.Elapsed;
                output.WriteLine($"GetState #{attempt}: {took.TotalMilliseconds:0} ms: {error?.Message}");
                Assert.IsType<GrantStoreUnavailableException>(error);
                Assert.True(took < TimeSpan.FromSeconds(2.5), $"a call on a disconnected store took {took} (budget {generous.StoreTimeout})");
            }
        }
        finally
        {
            if (!Server.IsRunning)
            {
                await Server.StartAgainAsync();
            }
        }
    }

    [Fact]
    public async Task PausedServer_CallsFailWithinTheBudget_WithoutStarvingThreads_AndRecoverOnResume()
    {
        var (store, connection) = await StartStoreAsync(libraryTimeout: LibraryTimeout);
        var grant = NewGrant();
        await SeedAsync(store.KeyPrefix, grant);

        var attempted = NewGrant();
        Server.Pause();
        try
        {
            await AssertEveryCallUnavailableAsync(store, grant, attempted);

            // The caller giving up is cancellation, not "unavailable".
            using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50)))
            {
                var cancelled = await Record.ExceptionAsync(() => store.GetStateAsync(Acme, cancel.Token));
                Assert.IsAssignableFrom<OperationCanceledException>(cancelled);
            }

            var threadsBefore = ThreadPool.ThreadCount;
            var elapsed = Stopwatch.StartNew();
            var calls = Enumerable.Range(0, 200).Select(_ => Record.ExceptionAsync(() => store.GetStateAsync(Acme, Ct))).ToArray();
            var probe = Stopwatch.StartNew();
            await Task.Run(async () => await Task.Yield());
            var probeLatency = probe.Elapsed;
            var outcomes = await Task.WhenAll(calls);
            var total = elapsed.Elapsed;

            Assert.All(outcomes, e => Assert.IsType<GrantStoreUnavailableException>(e));
            Assert.True(total < TimeSpan.FromSeconds(2), $"200 concurrent calls took {total}");
            // Starved, the pool would add a thread every 0.5 s or so while 200 callers block: seconds.
            Assert.True(probeLatency < TimeSpan.FromSeconds(1), $"the thread pool took {probeLatency} to run a work item");
            Assert.True(ThreadPool.ThreadCount - threadsBefore < 50, $"thread pool grew from {threadsBefore} to {ThreadPool.ThreadCount}");

            // The library raises no event for a frozen server; the store's heartbeat notices.
            await store.UntilInvalidationsAsync(connected: false, TimeSpan.FromSeconds(5));
        }
        finally
        {
            Server.Resume();
        }

        await store.UntilInvalidationsAsync(connected: true, ReconnectDeadline);
        await UntilAnsweringAsync(store, connection);

        // The calls that timed out were still queued when Redis woke up. Writes that grant
        // access carry a deadline and were dropped; the revocations applied (the safe side).
        Assert.Null(await store.GetGrantAsync(Acme, attempted.Id, Ct));
        Assert.Null(await store.GetTenantOverrideAsync(Acme, Ct));
        Assert.False((await store.GetPlatformSettingsAsync(Ct)).EnabledForAllTenants);
        Assert.Equal(GrantStatus.Revoked, (await store.GetGrantAsync(Acme, grant.Id, Ct))!.Status);

        var fresh = NewGrant();
        await store.CreateGrantAsync(fresh, Ct);
        Assert.Equal([fresh.Id], (await store.GetStateAsync(Acme, Ct)).ActiveGrants.Select(g => g.Id));
    }

    [Fact]
    public async Task AfterReconnects_EachChangeIsHeardOnce()
    {
        var (listener, _) = await StartStoreAsync();
        for (var i = 0; i < 2; i++)
        {
            await Server.StopAsync();
            await listener.UntilInvalidationsAsync(connected: false, ReconnectDeadline);
            await Server.StartAgainAsync();
            await listener.UntilInvalidationsAsync(connected: true, ReconnectDeadline);
        }

        // The writer only produces the changes; its budget is not what this test is about.
        var (writer, _) = await StartStoreAsync(grants: new GrantsOptions { StoreTimeout = TimeSpan.FromSeconds(10) }, prefix: listener.KeyPrefix);
        var heard = new List<string>();
        var sentinelHeard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.Invalidated += tenant =>
        {
            lock (heard)
            {
                heard.Add(tenant);
            }

            if (tenant == "globex")
            {
                sentinelHeard.TrySetResult();
            }
        };

        await writer.CreateGrantAsync(NewGrant(), Ct);
        // Messages on one channel arrive in order: once the sentinel is heard, so is every earlier one.
        await writer.CreateGrantAsync(NewGrant() with { Tenant = "globex" }, Ct);
        await sentinelHeard.Task.WaitAsync(ReconnectDeadline);

        lock (heard)
        {
            Assert.Equal(["acme", "globex"], heard);
        }
    }

    [Fact]
    public async Task ServerDownAtStartUp_StartDoesNotThrow_AndTheStoreConnectsWhenRedisArrives()
    {
        await Server.StopAsync();
        RedisGrantStore store;
        try
        {
            (store, _) = await StartStoreAsync(waitForSubscription: false);

            Assert.False(store.InvalidationsConnected);
            await AssertEveryCallUnavailableAsync(store, NewGrant(), NewGrant());
        }
        finally
        {
            if (!Server.IsRunning)
            {
                await Server.StartAgainAsync();
            }
        }

        await store.UntilInvalidationsAsync(connected: true, ReconnectDeadline);
        var grant = NewGrant();
        await store.CreateGrantAsync(grant, Ct);
        Assert.Equal([grant.Id], (await store.GetStateAsync(Acme, Ct)).ActiveGrants.Select(g => g.Id));
    }

    /// <summary>
    /// Writes the grant a test starts from through a second store on the same keys with a
    /// generous budget: the setup is not what these tests measure, and a loaded machine's first
    /// script call can take longer than the 200 ms the store under test allows.
    /// </summary>
    private async Task SeedAsync(string prefix, SupportGrant grant)
    {
        var (seeder, _) = await StartStoreAsync(grants: new GrantsOptions { StoreTimeout = TimeSpan.FromSeconds(10) }, prefix: prefix);
        await seeder.CreateGrantAsync(grant, Ct);
    }

    private async Task<(RedisGrantStore Store, ConnectionMultiplexer Connection)> StartStoreAsync(bool waitForSubscription = true, GrantsOptions? grants = null, string? prefix = null, TimeSpan? libraryTimeout = null)
    {
        grants ??= _options;
        var connection = await Server.ConnectAsync(grants, libraryTimeout);
        var store = new RedisGrantStore(
            connection,
            Options.Create(new RedisOptions { Configuration = Server.ConnectionString, KeyPrefix = prefix ?? RedisFixture.NewKeyPrefix() }),
            Options.Create(grants),
            TimeProvider.System,
            new TestOutputLogger<RedisGrantStore>(output));
        _owned.Add((store, connection));
        await store.StartAsync(Ct);
        if (waitForSubscription)
        {
            await store.UntilInvalidationsAsync(connected: true, ReconnectDeadline);
        }

        return (store, connection);
    }

    /// <summary>
    /// Every method of the store, each failing as unavailable within <see cref="CallBound"/>.
    /// The writes that would grant access go first: <paramref name="attempted"/> is the grant it
    /// tries to create; the override it tries is "enabled", the platform setting "enabled for all".
    /// </summary>
    private async Task AssertEveryCallUnavailableAsync(IGrantStore store, SupportGrant existing, SupportGrant attempted)
    {
        var now = DateTimeOffset.UtcNow;
        var grant = existing;
        var calls = new (string Name, Func<Task> Call)[]
        {
            ("CreateGrant", () => store.CreateGrantAsync(attempted, Ct)),
            ("SetTenantOverride", () => store.SetTenantOverrideAsync(Acme, new TenantSupportOverride { Mode = TenantOverrideMode.Enabled, SetBy = "root", SetAt = now }, Ct)),
            ("SetPlatformSettings", () => store.SetPlatformSettingsAsync(new PlatformSupportSettings { EnabledForAllTenants = true }, Ct)),
            ("GetState", () => store.GetStateAsync(Acme, Ct)),
            ("GetPlatformSettings", () => store.GetPlatformSettingsAsync(Ct)),
            ("GetTenantOverride", () => store.GetTenantOverrideAsync(Acme, Ct)),
            ("GetGrant", () => store.GetGrantAsync(Acme, grant.Id, Ct)),
            ("ListGrants(active)", () => store.ListGrantsAsync(Acme, includeHistory: false, Ct)),
            ("ListGrants(all)", () => store.ListGrantsAsync(Acme, includeHistory: true, Ct)),
            ("RevokeGrant", () => store.RevokeGrantAsync(Acme, grant.Id, "ann", now, Ct)),
            ("RevokeAll", () => store.RevokeAllAsync(Acme, "ann", now, Ct)),
        };
        foreach (var (name, call) in calls)
        {
            var elapsed = Stopwatch.StartNew();
            var error = await Record.ExceptionAsync(call);
            var took = elapsed.Elapsed;
            output.WriteLine($"{name}: {took.TotalMilliseconds:0} ms: {error?.Message}");
            Assert.True(error is GrantStoreUnavailableException, $"{name} threw {error?.GetType().Name ?? "nothing"}: {error?.Message}");
            Assert.Contains("Redis", error!.Message, StringComparison.Ordinal);
            Assert.True(took < CallBound, $"{name} took {took}");
        }

        var pingElapsed = Stopwatch.StartNew();
        Assert.False(await store.PingAsync(Ct));
        Assert.True(pingElapsed.Elapsed < CallBound, $"Ping took {pingElapsed.Elapsed}");
    }

    /// <summary>
    /// After the subscription is back, the interactive connection may still be reconnecting
    /// (or, after a freeze, draining its backlog): wait until a PING answers within the budget,
    /// on the multiplexer's own "restored" event while it is disconnected.
    /// </summary>
    private static async Task UntilAnsweringAsync(IGrantStore store, ConnectionMultiplexer connection)
    {
        var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnRestored(object? sender, ConnectionFailedEventArgs e) => restored.TrySetResult();
        connection.ConnectionRestored += OnRestored;
        try
        {
            var deadline = Stopwatch.StartNew();
            while (!await store.PingAsync(Ct))
            {
                var left = ReconnectDeadline - deadline.Elapsed;
                Assert.True(left > TimeSpan.Zero, $"The store did not answer within {ReconnectDeadline}; connected: {connection.IsConnected}");
                if (!connection.IsConnected)
                {
                    await restored.Task.WaitAsync(left);
                    restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
        }
        finally
        {
            connection.ConnectionRestored -= OnRestored;
        }
    }

    private static SupportGrant NewGrant()
    {
        var now = DateTimeOffset.UtcNow;
        return new SupportGrant
        {
            Id = GrantId.New(),
            Tenant = Acme,
            CreatedBy = "john",
            CreatedAt = now,
            ExpiresAt = now.AddHours(1),
            DenyData = true,
            DenyConfig = true,
        };
    }
}
