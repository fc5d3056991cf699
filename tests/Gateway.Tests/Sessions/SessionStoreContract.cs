using Gateway.Grants;
using Gateway.Sessions;
using Gateway.Tests.Grants;

namespace Gateway.Tests.Sessions;

/// <summary>
/// The one contract both session stores pass (Redis and in-memory): records round-trip, flushes
/// from several instances add up within their caps, a session ends once, Basic sessions are one
/// per (user, target) until idle, listing is newest first with a cursor.
/// </summary>
public abstract class SessionStoreContract : IAsyncLifetime
{
    private protected static readonly TimeSpan Idle = TimeSpan.FromSeconds(1);
    private protected static readonly SessionsOptions Limits = new() { MaxRecordedWrites = 3, MaxRoutes = 2, MaxClientAddresses = 2 };
    private ISessionStore? _store;

    private protected ISessionStore Store => _store ?? throw new InvalidOperationException("Not initialised.");

    private protected abstract ITestClock Clock { get; }

    private protected static CancellationToken Ct => CancellationToken.None;

    public virtual async Task InitializeAsync() => _store = await CreateStoreAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    private protected abstract Task<ISessionStore> CreateStoreAsync();

    /// <summary>Another gateway instance on the same storage.</summary>
    private protected abstract Task<ISessionStore> CreatePeerAsync();

    [Fact]
    public async Task Start_ThenGet_RoundTrips_AndStartsOnce()
    {
        var session = NewSession("acme", "jill", "john") with { ExpiresAt = Clock.Now.AddHours(1).AddTicks(-Clock.Now.Ticks % TimeSpan.TicksPerMillisecond), AdmittedUnder = ["g_one"], ClientAddresses = ["198.51.100.7"], UserAgent = "curl/8 ü" };

        Assert.True(await Store.StartAsync(session, Ct));
        Assert.False(await Store.StartAsync(session with { TargetUser = "ann" }, Ct));

        var read = await Store.GetAsync("acme", session.Id, Ct);
        Assert.NotNull(read);
        Assert.Equal(("jill", "john", "sessiontoken", "denyData,denyConfig", "curl/8 ü"), (read.SupportUser, read.TargetUser, read.Credential, read.Isolation, read.UserAgent));
        Assert.Equal(session.StartedAt.ToUnixTimeMilliseconds(), read.StartedAt.ToUnixTimeMilliseconds());
        Assert.Equal(session.ExpiresAt!.Value.ToUnixTimeMilliseconds(), read.ExpiresAt!.Value.ToUnixTimeMilliseconds());
        Assert.Equal(["g_one"], read.AdmittedUnder);
        Assert.Equal(["198.51.100.7"], read.ClientAddresses);
        Assert.True(read.IsActive);
        Assert.Null(await Store.GetAsync("globex", session.Id, Ct));
    }

    [Fact]
    public async Task FlushesFromTwoInstances_AddUp_WithinTheirCaps()
    {
        var session = NewSession("acme", "jill", "john");
        await Store.StartAsync(session, Ct);
        var peer = await CreatePeerAsync();
        var t = Clock.Now;

        var first = await Store.FlushAsync(Delta(session, t, calls: 3, routes: ["r1", "r2"], writes: [Write(t, "PUT", "/a")], denial: "support.isolation.data"), Idle, Limits, Ct);
        var second = await peer.FlushAsync(Delta(session, t.AddSeconds(1), calls: 2, routes: ["r1", "r3"], writes: [Write(t.AddSeconds(1), "POST", "/b"), Write(t.AddSeconds(1), "DELETE", "/c"), Write(t.AddSeconds(1), "PATCH", "/d")], denial: "support.isolation.data", address: "203.0.113.9"), Idle, Limits, Ct);

        Assert.True(first);    // the first write, recorded now
        Assert.False(second);  // already recorded
        var read = (await Store.GetAsync("acme", session.Id, Ct))!;
        Assert.Equal(5, read.Calls);
        Assert.Equal(4, read.Writes);
        Assert.Equal(500, read.RequestBytes);
        Assert.Equal(1000, read.ResponseBytes);
        Assert.Equal(2, read.Denials["support.isolation.data"]);
        Assert.Equal(new Dictionary<string, long> { ["r1"] = 2, ["r2"] = 1 }, read.Routes); // r3 is past the cap of 2 routes
        Assert.Equal(["/a", "/b", "/c"], read.RecordedWrites.Select(w => w.Path)); // the first three
        Assert.True(read.WritesTruncated);
        Assert.Equal(t.ToUnixTimeMilliseconds(), read.FirstWriteAt!.Value.ToUnixTimeMilliseconds());
        Assert.Equal(t.AddSeconds(1).ToUnixTimeMilliseconds(), read.LastActivityAt.ToUnixTimeMilliseconds());
        Assert.Equal(2, read.ClientAddresses.Count);
    }

    [Fact]
    public async Task End_HappensOnce_AndTheReportIsKept()
    {
        var session = NewSession("acme", "jill", "john");
        await Store.StartAsync(session, Ct);
        await Store.FlushAsync(Delta(session, Clock.Now, calls: 1, routes: ["r1"], writes: [Write(Clock.Now, "PUT", "/a")]), Idle, Limits, Ct);
        var end = new SessionEnd(Clock.Now.AddMinutes(1), SessionEndReasons.EndedByAdmin, "ann");

        var ended = await Store.EndAsync("acme", session.Id, end, Clock.Now.AddDays(90), Ct);
        var again = await Store.EndAsync("acme", session.Id, end with { Reason = SessionEndReasons.Idle }, Clock.Now.AddDays(90), Ct);

        Assert.NotNull(ended);
        Assert.Null(again);
        Assert.Equal(SessionEndReasons.EndedByAdmin, ended.End!.Reason);
        var report = SessionReport.From(ended, end);
        await Store.SaveReportAsync("acme", session.Id, report, Ct);
        var read = (await Store.GetAsync("acme", session.Id, Ct))!;
        Assert.False(read.IsActive);
        Assert.Equal("ann", read.End!.By);
        Assert.Equal(["/a"], read.Report!.AllowedWrites.Select(w => w.Path));
        Assert.Equal(TimeSpan.FromMinutes(1).TotalSeconds, read.Report.Duration.TotalSeconds, 1);
    }

    [Fact]
    public async Task Due_ListsActiveSessionsPastTheirIdleTimeout_OrExpiry()
    {
        var idle = NewSession("acme", "jill", "john");
        var busy = NewSession("acme", "sam", "john");
        var expiring = NewSession("acme", "jill", "ann") with { ExpiresAt = Clock.Now.Add(Idle / 2) };
        foreach (var s in new[] { idle, busy, expiring })
        {
            await Store.StartAsync(s, Ct);
            await Store.FlushAsync(Delta(s, Clock.Now, calls: 1), Idle, Limits, Ct);
        }

        await Clock.PassAsync(Idle / 2 + TimeSpan.FromMilliseconds(100));
        await Store.FlushAsync(Delta(busy, Clock.Now, calls: 1), Idle, Limits, Ct);
        Assert.Equal([expiring.Id], (await Store.DueAsync(Clock.Now, 100, Ct)).Select(d => d.Id));

        await Clock.PassAsync(Idle / 2 + TimeSpan.FromMilliseconds(100));
        var due = (await Store.DueAsync(Clock.Now, 100, Ct)).Select(d => d.Id).Order().ToList();
        Assert.Equal(new[] { idle.Id, expiring.Id }.Order(), due);

        await Store.EndAsync("acme", idle.Id, new SessionEnd(Clock.Now, SessionEndReasons.Idle, null), Clock.Now.AddDays(1), Ct);
        Assert.DoesNotContain(idle.Id, (await Store.DueAsync(Clock.Now, 100, Ct)).Select(d => d.Id));
    }

    [Fact]
    public async Task Basic_IsOneSessionPerUserAndTarget_UntilIdle_AndAnEndedOneKeepsRefusing()
    {
        var key = $"acme:jill:{Guid.NewGuid():N}";
        var (first, started) = await Store.OpenBasicAsync(NewSession("acme", "jill", "john", "basic"), key, Idle, Ct);
        var peer = await CreatePeerAsync();
        var (again, startedAgain) = await peer.OpenBasicAsync(NewSession("acme", "jill", "john", "basic"), key, Idle, Ct);

        Assert.True(started);
        Assert.False(startedAgain);
        Assert.Equal(first.Id, again.Id);

        await Store.EndAsync("acme", first.Id, new SessionEnd(Clock.Now, SessionEndReasons.EndedByAdmin, "ann"), Clock.Now.AddDays(1), Ct);
        var (blocked, _) = await Store.OpenBasicAsync(NewSession("acme", "jill", "john", "basic"), key, Idle, Ct);
        Assert.Equal(first.Id, blocked.Id);
        Assert.False(blocked.IsActive);

        await Clock.PassAsync(Idle + TimeSpan.FromMilliseconds(100));
        var (fresh, startedFresh) = await Store.OpenBasicAsync(NewSession("acme", "jill", "john", "basic"), key, Idle, Ct);
        Assert.True(startedFresh);
        Assert.NotEqual(first.Id, fresh.Id);
    }

    [Fact]
    public async Task List_IsNewestFirst_PagedByCursor_AndFiltered()
    {
        var tenant = "t" + Guid.NewGuid().ToString("N")[..8];
        var sessions = new List<SupportSessionRecord>();
        for (var i = 0; i < 5; i++)
        {
            var s = NewSession(tenant, i % 2 == 0 ? "jill" : "sam", "john") with { StartedAt = Clock.Now.AddMinutes(-10 + i) };
            sessions.Add(s);
            await Store.StartAsync(s, Ct);
        }

        await Store.StartAsync(NewSession("other" + tenant[1..], "jill", "john"), Ct);
        await Store.EndAsync(tenant, sessions[4].Id, new SessionEnd(Clock.Now, SessionEndReasons.Logout, null), Clock.Now.AddDays(1), Ct);

        var first = await Store.ListAsync(new SessionQuery(tenant, false, null, null, null, null, 2), Ct);
        var second = await Store.ListAsync(new SessionQuery(tenant, false, null, null, null, first.NextCursor, 2), Ct);
        var third = await Store.ListAsync(new SessionQuery(tenant, false, null, null, null, second.NextCursor, 2), Ct);

        Assert.Equal(sessions.Select(s => s.Id).Reverse(), first.Sessions.Concat(second.Sessions).Concat(third.Sessions).Select(s => s.Id));
        Assert.Null(third.NextCursor);
        var active = await Store.ListAsync(new SessionQuery(tenant, true, null, null, null, null, 10), Ct);
        Assert.DoesNotContain(sessions[4].Id, active.Sessions.Select(s => s.Id));
        var sams = await Store.ListAsync(new SessionQuery(tenant, false, "SAM", null, null, null, 10), Ct);
        Assert.Equal([sessions[3].Id, sessions[1].Id], sams.Sessions.Select(s => s.Id));
        var window = await Store.ListAsync(new SessionQuery(tenant, false, null, sessions[1].StartedAt, sessions[3].StartedAt, null, 10), Ct);
        Assert.Equal([sessions[2].Id, sessions[1].Id], window.Sessions.Select(s => s.Id));
        var everyone = await Store.ListAsync(new SessionQuery(null, false, null, null, null, null, 100), Ct);
        Assert.Contains(everyone.Sessions, s => s.Tenant != tenant);
    }

    private protected SupportSessionRecord NewSession(string tenant, string supportUser, string target, string credential = "sessiontoken") => new()
    {
        Id = "s_" + Guid.NewGuid().ToString("N"),
        Tenant = tenant,
        SupportUser = supportUser,
        TargetUser = target,
        Credential = credential,
        StartedAt = Clock.Now,
        LastActivityAt = Clock.Now,
        Isolation = "denyData,denyConfig",
    };

    private static SessionDelta Delta(SupportSessionRecord s, DateTimeOffset at, int calls, string[]? routes = null, SessionWrite[]? writes = null, string? denial = null, string? address = null) => new()
    {
        Tenant = s.Tenant,
        Id = s.Id,
        LastActivityAt = at,
        Calls = calls,
        Writes = writes?.Length ?? 0,
        RequestBytes = calls * 100,
        ResponseBytes = calls * 200,
        Routes = (routes ?? []).ToDictionary(r => r, _ => 1L),
        NewWrites = [.. writes ?? []],
        Denials = denial is null ? [] : new() { [denial] = 1 },
        ClientAddresses = address is null ? [] : [address, "192.0.2.1", "192.0.2.2"],
    };

    private static SessionWrite Write(DateTimeOffset at, string method, string path) => new(at, method, path, 200, "acme-settings");
}
