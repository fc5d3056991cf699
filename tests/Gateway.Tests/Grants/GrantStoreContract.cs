using Gateway.Grants;

namespace Gateway.Tests.Grants;

/// <summary>How a contract test lets time pass: instantly on a manual clock, for real against Redis TTLs.</summary>
internal interface ITestClock
{
    DateTimeOffset Now { get; }

    /// <summary>Returns once <paramref name="duration"/> has passed on this clock.</summary>
    Task PassAsync(TimeSpan duration);
}

/// <summary>Waits on a store's invalidation channel by its events, with a deadline.</summary>
internal static class InvalidationWaits
{
    /// <summary>
    /// Completes once <see cref="IGrantStore.InvalidationsConnected"/> equals <paramref name="connected"/>
    /// (either already, or at the <see cref="IGrantStore.AllTenants"/> event the store raises when it changes).
    /// </summary>
    public static async Task UntilInvalidationsAsync(this IGrantStore store, bool connected, TimeSpan deadline)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnInvalidated(string tenant)
        {
            if (tenant == IGrantStore.AllTenants && store.InvalidationsConnected == connected)
            {
                reached.TrySetResult();
            }
        }

        store.Invalidated += OnInvalidated;
        try
        {
            if (store.InvalidationsConnected == connected)
            {
                return;
            }

            await reached.Task.WaitAsync(deadline);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"InvalidationsConnected did not become {connected} within {deadline}.");
        }
        finally
        {
            store.Invalidated -= OnInvalidated;
        }
    }
}

/// <summary>
/// The one contract every <see cref="IGrantStore"/> passes ("one contract test
/// suite runs against both stores"). Concrete classes supply the store, the clock and, where the
/// store has one, a look at its storage (Redis TTLs).
/// </summary>
public abstract class GrantStoreContract : IAsyncLifetime
{
    private protected const string Acme = "acme";
    private protected const string Globex = "globex";

    /// <summary>Lifetime in the tests about expiry: short, because against Redis it passes for real.</summary>
    private protected static readonly TimeSpan ShortLife = TimeSpan.FromSeconds(1);

    /// <summary>Waited beyond an expiry before checking it has happened.</summary>
    private protected static readonly TimeSpan PastExpiry = TimeSpan.FromMilliseconds(100);

    // A bound on failure only (the wait ends on the event): generous, as the machine may be busy.
    private static readonly TimeSpan EventDeadline = TimeSpan.FromSeconds(10);
    private IGrantStore? _store;

    private protected IGrantStore Store => _store ?? throw new InvalidOperationException("Not initialised.");

    private protected abstract ITestClock Clock { get; }

    private protected static CancellationToken Ct => CancellationToken.None;

    public virtual async Task InitializeAsync() => _store = await CreateStoreAsync(new GrantsOptions());

    public virtual Task DisposeAsync() => Task.CompletedTask;

    // ---- round trip -------------------------------------------------------------------------

    [Fact]
    public async Task CreateGrant_ThenGetListAndState_RoundTripEveryField()
    {
        // Offsets and sub-millisecond ticks must survive storage exactly.
        var createdAt = Clock.Now.ToOffset(TimeSpan.FromHours(2)).AddTicks(1234);
        var full = NewGrant(Acme, TimeSpan.FromHours(8)) with
        {
            CreatedBy = "john",
            CreatedAt = createdAt,
            ExpiresAt = createdAt.AddHours(8).ToOffset(TimeSpan.FromHours(-5)).AddTicks(1),
            Reason = "Ticket #4711: orders page → 500 / \"quoted\" \\ ünïcødé 🚀",
            Grantor = "ann",
            DenyData = false,
            DenyConfig = true,
            Targets = ["ann", "john"],
        };
        var bare = NewGrant(Acme, TimeSpan.FromHours(1)) with
        {
            CreatedAt = createdAt.AddMinutes(-1),
            Reason = null,
            Grantor = null,
            DenyData = true,
            DenyConfig = false,
        };

        await Store.CreateGrantAsync(full, Ct);
        await Store.CreateGrantAsync(bare, Ct);

        AssertSameGrant(full, await Store.GetGrantAsync(Acme, full.Id, Ct));
        AssertSameGrant(bare, await Store.GetGrantAsync(Acme, bare.Id, Ct));
        foreach (var includeHistory in new[] { false, true })
        {
            var listed = await Store.ListGrantsAsync(Acme, includeHistory, Ct);
            Assert.Equal(2, listed.Count);
            AssertSameGrant(full, listed[0]); // newest first
            AssertSameGrant(bare, listed[1]);
        }

        var state = await Store.GetStateAsync(Acme, Ct);
        Assert.Equal(Acme, state.Tenant);
        Assert.Equal(2, state.ActiveGrants.Count);
        AssertSameGrant(full, state.ActiveGrants.Single(g => g.Id == full.Id));
        AssertSameGrant(bare, state.ActiveGrants.Single(g => g.Id == bare.Id));
    }

    [Fact]
    public async Task CreateGrant_WithAnExistingId_Throws()
    {
        var grant = NewGrant(Acme, TimeSpan.FromHours(1));
        await Store.CreateGrantAsync(grant, Ct);

        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.CreateGrantAsync(grant with { Reason = "again" }, Ct));

        AssertSameGrant(grant, await Store.GetGrantAsync(Acme, grant.Id, Ct));
    }

    // ---- expiry -----------------------------------------------------------------------------

    [Fact]
    public async Task Grant_AfterItsExpiry_LeavesTheStateAndStaysInHistoryAsExpired()
    {
        var grant = NewGrant(Acme, ShortLife);
        await Store.CreateGrantAsync(grant, Ct);
        Assert.Contains(grant.Id, ActiveIds(await Store.GetStateAsync(Acme, Ct)));
        Assert.Single(await Store.ListGrantsAsync(Acme, includeHistory: false, Ct));
        await AssertGrantExpiryEnforcedAsync(Acme, grant.Id, grant.ExpiresAt);

        await Clock.PassAsync(ShortLife + PastExpiry);

        Assert.Empty((await Store.GetStateAsync(Acme, Ct)).ActiveGrants);
        Assert.Empty(await Store.ListGrantsAsync(Acme, includeHistory: false, Ct));
        var inHistory = Assert.Single(await Store.ListGrantsAsync(Acme, includeHistory: true, Ct));
        AssertSameGrant(grant, inHistory);
        Assert.Equal(GrantStatus.Expired, inHistory.StatusAt(Clock.Now));
        var fetched = await Store.GetGrantAsync(Acme, grant.Id, Ct);
        AssertSameGrant(grant, fetched);
        Assert.Equal(GrantStatus.Expired, fetched!.StatusAt(Clock.Now));
        Assert.Null(fetched.RevokedBy);
        await AssertGrantMarkerGoneAsync(Acme, grant.Id);
    }

    [Fact]
    public async Task NewGrant_KeepsSupportActive_AfterAnEarlierGrantExpires()
    {
        var first = NewGrant(Acme, ShortLife);
        var second = NewGrant(Acme, ShortLife * 5);
        await Store.CreateGrantAsync(first, Ct);
        await Store.CreateGrantAsync(second, Ct);

        await Clock.PassAsync(ShortLife + PastExpiry);

        var state = await Store.GetStateAsync(Acme, Ct);
        AssertSameGrant(second, Assert.Single(state.ActiveGrants));
        Assert.Equal([second.Id], (await Store.ListGrantsAsync(Acme, includeHistory: false, Ct)).Select(g => g.Id));
    }

    // ---- revocation -------------------------------------------------------------------------

    [Fact]
    public async Task RevokeGrant_RevokesThatGrantOnce_AndLeavesOthersActive()
    {
        var target = NewGrant(Acme, TimeSpan.FromHours(4)) with { Reason = "INC-1 \"ünïcødé\" 🚀 / \\", Grantor = "ann" };
        var other = NewGrant(Acme, TimeSpan.FromHours(4));
        await Store.CreateGrantAsync(target, Ct);
        await Store.CreateGrantAsync(other, Ct);
        var at = Clock.Now.ToOffset(TimeSpan.FromHours(1)).AddTicks(42);

        var revoked = await Store.RevokeGrantAsync(Acme, target.Id, "ann", at, Ct);

        var expected = target with { Status = GrantStatus.Revoked, RevokedBy = "ann", RevokedAt = at };
        AssertSameGrant(expected, revoked);
        Assert.Equal(GrantStatus.Revoked, revoked!.StatusAt(Clock.Now));
        Assert.Null(await Store.RevokeGrantAsync(Acme, target.Id, "john", Clock.Now, Ct));
        AssertSameGrant(expected, await Store.GetGrantAsync(Acme, target.Id, Ct));
        Assert.Equal([other.Id], ActiveIds(await Store.GetStateAsync(Acme, Ct)));
        Assert.Equal([other.Id], (await Store.ListGrantsAsync(Acme, includeHistory: false, Ct)).Select(g => g.Id));
        var history = await Store.ListGrantsAsync(Acme, includeHistory: true, Ct);
        Assert.Equal(2, history.Count);
        AssertSameGrant(expected, history.Single(g => g.Id == target.Id));
    }

    [Fact]
    public async Task RevokeGrant_OfAnExpiredOrUnknownGrant_ReturnsNull()
    {
        var expired = NewGrant(Acme, TimeSpan.FromHours(1)) with
        {
            CreatedAt = Clock.Now.AddHours(-2),
            ExpiresAt = Clock.Now.AddHours(-1),
        };
        await Store.CreateGrantAsync(expired, Ct);

        Assert.Null(await Store.RevokeGrantAsync(Acme, expired.Id, "ann", Clock.Now, Ct));
        Assert.Null(await Store.RevokeGrantAsync(Acme, GrantId.New(), "ann", Clock.Now, Ct));

        var stored = await Store.GetGrantAsync(Acme, expired.Id, Ct);
        AssertSameGrant(expired, stored);
        Assert.Equal(GrantStatus.Expired, stored!.StatusAt(Clock.Now));
    }

    [Fact]
    public async Task RevokeAll_RevokesEveryActiveGrant_AndLeavesExpiredOnesAlone()
    {
        var a = NewGrant(Acme, TimeSpan.FromHours(2));
        var b = NewGrant(Acme, TimeSpan.FromHours(3)) with { Reason = "🚀 \"x\"" };
        var expired = NewGrant(Acme, TimeSpan.FromHours(1)) with
        {
            CreatedAt = Clock.Now.AddHours(-2),
            ExpiresAt = Clock.Now.AddHours(-1),
        };
        foreach (var grant in new[] { a, b, expired })
        {
            await Store.CreateGrantAsync(grant, Ct);
        }

        var at = Clock.Now;

        var revoked = await Store.RevokeAllAsync(Acme, "ann", at, Ct);

        Assert.Equal(2, revoked.Count);
        AssertSameGrant(a with { Status = GrantStatus.Revoked, RevokedBy = "ann", RevokedAt = at }, revoked.Single(g => g.Id == a.Id));
        AssertSameGrant(b with { Status = GrantStatus.Revoked, RevokedBy = "ann", RevokedAt = at }, revoked.Single(g => g.Id == b.Id));
        Assert.Empty((await Store.GetStateAsync(Acme, Ct)).ActiveGrants);
        Assert.Empty(await Store.ListGrantsAsync(Acme, includeHistory: false, Ct));
        var untouched = await Store.GetGrantAsync(Acme, expired.Id, Ct);
        AssertSameGrant(expired, untouched);
        Assert.Equal(GrantStatus.Expired, untouched!.StatusAt(Clock.Now));
        Assert.Equal(
            new[] { GrantStatus.Expired, GrantStatus.Revoked, GrantStatus.Revoked }.Order(),
            (await Store.ListGrantsAsync(Acme, includeHistory: true, Ct)).Select(g => g.StatusAt(Clock.Now)).Order());
        Assert.Empty(await Store.RevokeAllAsync(Acme, "ann", Clock.Now, Ct));
    }

    // ---- platform settings and tenant overrides ---------------------------------------------

    [Fact]
    public async Task PlatformSettings_ByDefault_AreSecure()
    {
        var settings = await Store.GetPlatformSettingsAsync(Ct);

        Assert.False(settings.EnabledForAllTenants);
        Assert.Equal(24, settings.RequestDurationHours);
        Assert.True(settings.DefaultDenyData);
        Assert.True(settings.DefaultDenyConfig);
        Assert.Equal(settings, (await Store.GetStateAsync(Acme, Ct)).Platform);
    }

    [Fact]
    public async Task PlatformSettings_RoundTrip()
    {
        var settings = new PlatformSupportSettings
        {
            EnabledForAllTenants = true,
            RequestDurationHours = 8,
            DefaultDenyData = false,
            DefaultDenyConfig = true,
        };

        await Store.SetPlatformSettingsAsync(settings, Ct);

        Assert.Equal(settings, await Store.GetPlatformSettingsAsync(Ct));
        Assert.Equal(settings, (await Store.GetStateAsync(Globex, Ct)).Platform);
    }

    [Fact]
    public async Task TenantOverride_SetGet_AndInheritRemovesIt()
    {
        Assert.Null(await Store.GetTenantOverrideAsync(Acme, Ct));
        var enabled = new TenantSupportOverride
        {
            Mode = TenantOverrideMode.Enabled,
            SetBy = "root",
            SetAt = Clock.Now.ToOffset(TimeSpan.FromHours(3)).AddTicks(7),
        };

        await Store.SetTenantOverrideAsync(Acme, enabled, Ct);

        AssertSameOverride(enabled, await Store.GetTenantOverrideAsync(Acme, Ct));
        AssertSameOverride(enabled, (await Store.GetStateAsync(Acme, Ct)).Override);
        Assert.Null(await Store.GetTenantOverrideAsync(Globex, Ct));

        var disabled = enabled with { Mode = TenantOverrideMode.Disabled, Until = Clock.Now.AddDays(3).ToOffset(TimeSpan.FromHours(-7)) };
        await Store.SetTenantOverrideAsync(Acme, disabled, Ct);
        AssertSameOverride(disabled, await Store.GetTenantOverrideAsync(Acme, Ct));

        await Store.SetTenantOverrideAsync(Acme, enabled with { Mode = TenantOverrideMode.Inherit }, Ct);
        Assert.Null(await Store.GetTenantOverrideAsync(Acme, Ct));
        Assert.Null((await Store.GetStateAsync(Acme, Ct)).Override);
    }

    [Fact]
    public async Task TenantOverride_WithUntil_LapsesByItself()
    {
        var until = Clock.Now + ShortLife;
        var value = new TenantSupportOverride { Mode = TenantOverrideMode.Enabled, Until = until, SetBy = "root", SetAt = Clock.Now };
        await Store.SetTenantOverrideAsync(Acme, value, Ct);
        AssertSameOverride(value, await Store.GetTenantOverrideAsync(Acme, Ct));
        await AssertOverrideExpiryEnforcedAsync(Acme, until);

        await Clock.PassAsync(ShortLife + PastExpiry);

        Assert.Null(await Store.GetTenantOverrideAsync(Acme, Ct));
        Assert.Null((await Store.GetStateAsync(Acme, Ct)).Override);
        await AssertOverrideGoneAsync(Acme);
    }

    // ---- isolation, history, state ----------------------------------------------------------

    [Fact]
    public async Task Tenants_NeverSeeOrRevokeEachOthersGrants()
    {
        var grant = NewGrant(Acme, TimeSpan.FromHours(2));
        await Store.CreateGrantAsync(grant, Ct);
        await Store.SetTenantOverrideAsync(Acme, new TenantSupportOverride { Mode = TenantOverrideMode.Enabled, SetBy = "root", SetAt = Clock.Now }, Ct);

        var globex = await Store.GetStateAsync(Globex, Ct);
        Assert.Empty(globex.ActiveGrants);
        Assert.Null(globex.Override);
        Assert.Empty(await Store.ListGrantsAsync(Globex, includeHistory: true, Ct));
        Assert.Null(await Store.GetGrantAsync(Globex, grant.Id, Ct));
        Assert.Null(await Store.RevokeGrantAsync(Globex, grant.Id, "mallory", Clock.Now, Ct));
        Assert.Empty(await Store.RevokeAllAsync(Globex, "mallory", Clock.Now, Ct));

        AssertSameGrant(grant, Assert.Single((await Store.GetStateAsync(Acme, Ct)).ActiveGrants));
        Assert.Equal(GrantStatus.Active, (await Store.GetGrantAsync(Acme, grant.Id, Ct))!.StatusAt(Clock.Now));
    }

    [Fact]
    public async Task History_PastRetention_IsGone()
    {
        var store = await CreateStoreAsync(new GrantsOptions { HistoryRetention = TimeSpan.FromSeconds(1) });
        var expiring = NewGrant(Acme, ShortLife);
        var revoked = NewGrant(Acme, ShortLife);
        await store.CreateGrantAsync(expiring, Ct);
        await store.CreateGrantAsync(revoked, Ct);
        Assert.NotNull(await store.RevokeGrantAsync(Acme, revoked.Id, "ann", Clock.Now, Ct));

        await Clock.PassAsync(ShortLife + PastExpiry);
        Assert.Equal(2, (await store.ListGrantsAsync(Acme, includeHistory: true, Ct)).Count);
        Assert.NotNull(await store.GetGrantAsync(Acme, expiring.Id, Ct));

        await Clock.PassAsync(TimeSpan.FromSeconds(1));
        Assert.Empty(await store.ListGrantsAsync(Acme, includeHistory: true, Ct));
        Assert.Null(await store.GetGrantAsync(Acme, expiring.Id, Ct));
        Assert.Null(await store.GetGrantAsync(Acme, revoked.Id, Ct));
    }

    [Fact]
    public async Task GetState_ReturnsPlatformOverrideAndOnlyActiveGrants()
    {
        var platform = new PlatformSupportSettings { EnabledForAllTenants = false, RequestDurationHours = 12, DefaultDenyData = true, DefaultDenyConfig = false };
        var tenantOverride = new TenantSupportOverride { Mode = TenantOverrideMode.Disabled, Until = Clock.Now.AddDays(1), SetBy = "root", SetAt = Clock.Now };
        var active = NewGrant(Acme, TimeSpan.FromHours(2));
        var revoked = NewGrant(Acme, TimeSpan.FromHours(2));
        var expired = NewGrant(Acme, TimeSpan.FromHours(1)) with { CreatedAt = Clock.Now.AddHours(-3), ExpiresAt = Clock.Now.AddHours(-2) };
        await Store.SetPlatformSettingsAsync(platform, Ct);
        await Store.SetTenantOverrideAsync(Acme, tenantOverride, Ct);
        foreach (var grant in new[] { active, revoked, expired })
        {
            await Store.CreateGrantAsync(grant, Ct);
        }

        await Store.RevokeGrantAsync(Acme, revoked.Id, "ann", Clock.Now, Ct);

        var state = await Store.GetStateAsync(Acme, Ct);

        Assert.Equal(Acme, state.Tenant);
        Assert.Equal(platform, state.Platform);
        AssertSameOverride(tenantOverride, state.Override);
        AssertSameGrant(active, Assert.Single(state.ActiveGrants));
    }

    // ---- invalidation -----------------------------------------------------------------------

    [Theory]
    [InlineData("create")]
    [InlineData("revoke")]
    [InlineData("revoke-all")]
    [InlineData("override")]
    [InlineData("platform")]
    [InlineData("end-session")]
    public async Task Change_IsAnnouncedToOtherInstances(string change)
    {
        var peer = await CreatePeerAsync();
        Assert.True(peer.InvalidationsConnected);
        var grant = NewGrant(Acme, TimeSpan.FromHours(1));
        if (change is "revoke" or "revoke-all")
        {
            // Its own announcement is awaited first, so it cannot pass for the revocation's.
            var created = HeardAsync(peer, Acme);
            await Store.CreateGrantAsync(grant, Ct);
            await created;
        }

        var heard = HeardAsync(peer, change == "platform" ? IGrantStore.AllTenants : Acme);
        switch (change)
        {
            case "create":
                await Store.CreateGrantAsync(grant, Ct);
                break;
            case "revoke":
                Assert.NotNull(await Store.RevokeGrantAsync(Acme, grant.Id, "ann", Clock.Now, Ct));
                break;
            case "revoke-all":
                Assert.Single(await Store.RevokeAllAsync(Acme, "ann", Clock.Now, Ct));
                break;
            case "override":
                await Store.SetTenantOverrideAsync(Acme, new TenantSupportOverride { Mode = TenantOverrideMode.Disabled, SetBy = "root", SetAt = Clock.Now }, Ct);
                break;
            case "platform":
                await Store.SetPlatformSettingsAsync(new PlatformSupportSettings { EnabledForAllTenants = true }, Ct);
                break;
            case "end-session":
                await Store.RevokeSessionAsync(Acme, "s_peer", Clock.Now + TimeSpan.FromHours(1), Ct);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(change), change, null);
        }

        await heard;
    }

    [Fact]
    public async Task EndedSession_IsReportedUntilItsTokenExpires_ForItsTenantOnly()
    {
        await Store.RevokeSessionAsync(Acme, "s_one", Clock.Now + ShortLife, Ct);
        await Store.RevokeSessionAsync(Acme, "s_two", Clock.Now + TimeSpan.FromHours(1), Ct);
        await Store.RevokeSessionAsync(Acme, "s_past", Clock.Now - TimeSpan.FromSeconds(1), Ct);

        var state = await Store.GetStateAsync(Acme, Ct);
        Assert.Equal(["s_one", "s_two"], state.RevokedSessions.Order(StringComparer.Ordinal).ToArray());
        Assert.Empty((await Store.GetStateAsync(Globex, Ct)).RevokedSessions);

        await Clock.PassAsync(ShortLife + PastExpiry);
        Assert.Equal(["s_two"], (await Store.GetStateAsync(Acme, Ct)).RevokedSessions.ToArray());
    }

    // ---- used one-time codes (TOTP replay protection) ----------------------------------------

    [Fact]
    public async Task OneTimeCode_IsAcceptedOncePerUserAndStep_NamesCaseInsensitive()
    {
        var until = Clock.Now + TimeSpan.FromMinutes(2);

        Assert.True(await Store.TryUseOneTimeCodeAsync("mia", 1000, until, Ct));
        Assert.False(await Store.TryUseOneTimeCodeAsync("mia", 1000, until, Ct));
        Assert.False(await Store.TryUseOneTimeCodeAsync("MIA", 1000, until, Ct));
        Assert.True(await Store.TryUseOneTimeCodeAsync("mia", 1001, until, Ct));
        Assert.True(await Store.TryUseOneTimeCodeAsync("jill", 1000, until, Ct));
    }

    [Fact]
    public async Task OneTimeCode_UsedOnOneInstance_IsRefusedOnAnother()
    {
        var peer = await CreatePeerAsync();
        var until = Clock.Now + TimeSpan.FromMinutes(2);

        Assert.True(await Store.TryUseOneTimeCodeAsync("mia", 2000, until, Ct));
        Assert.False(await peer.TryUseOneTimeCodeAsync("mia", 2000, until, Ct));
    }

    [Fact]
    public async Task OneTimeCode_Record_LapsesAtItsUntil()
    {
        Assert.True(await Store.TryUseOneTimeCodeAsync("mia", 3000, Clock.Now + ShortLife, Ct));
        Assert.False(await Store.TryUseOneTimeCodeAsync("mia", 3000, Clock.Now + ShortLife, Ct));

        await Clock.PassAsync(ShortLife + PastExpiry);

        Assert.True(await Store.TryUseOneTimeCodeAsync("mia", 3000, Clock.Now + ShortLife, Ct));
    }

    // ---- what a concrete class provides -----------------------------------------------------

    /// <summary>A store with these options over this test's data.</summary>
    private protected abstract Task<IGrantStore> CreateStoreAsync(GrantsOptions options);

    /// <summary>Another gateway instance over the same data (for Redis: its own connection).</summary>
    private protected abstract Task<IGrantStore> CreatePeerAsync();

    /// <summary>Where the store enforces expiry itself: check it will at <paramref name="expiresAt"/>.</summary>
    private protected virtual Task AssertGrantExpiryEnforcedAsync(string tenant, GrantId id, DateTimeOffset expiresAt) => Task.CompletedTask;

    /// <summary>After expiry: the store's own "active" data is gone (no one deleted it).</summary>
    private protected virtual Task AssertGrantMarkerGoneAsync(string tenant, GrantId id) => Task.CompletedTask;

    private protected virtual Task AssertOverrideExpiryEnforcedAsync(string tenant, DateTimeOffset until) => Task.CompletedTask;

    private protected virtual Task AssertOverrideGoneAsync(string tenant) => Task.CompletedTask;

    // ---- helpers ----------------------------------------------------------------------------

    private protected SupportGrant NewGrant(string tenant, TimeSpan life) => new()
    {
        Id = GrantId.New(),
        Tenant = tenant,
        CreatedBy = "john",
        CreatedAt = Clock.Now,
        Reason = "orders page fails",
        ExpiresAt = Clock.Now + life,
        Grantor = null,
        DenyData = true,
        DenyConfig = true,
    };

    private static GrantId[] ActiveIds(TenantSupportState state) => [.. state.ActiveGrants.Select(g => g.Id)];

    /// <summary>Equal records, and every timestamp with the same offset too (record equality ignores offsets).</summary>
    private protected static void AssertSameGrant(SupportGrant expected, SupportGrant? actual)
    {
        Assert.NotNull(actual);
        // Lists compare by content; everything else as the record compares it.
        Assert.Equal(expected.Targets, actual.Targets);
        Assert.Equal(expected with { Targets = null }, actual with { Targets = null });
        Assert.True(expected.CreatedAt.EqualsExact(actual.CreatedAt), $"CreatedAt {actual.CreatedAt:o}, expected {expected.CreatedAt:o}");
        Assert.True(expected.ExpiresAt.EqualsExact(actual.ExpiresAt), $"ExpiresAt {actual.ExpiresAt:o}, expected {expected.ExpiresAt:o}");
        Assert.Equal(expected.RevokedAt?.Offset, actual.RevokedAt?.Offset);
    }

    private static void AssertSameOverride(TenantSupportOverride expected, TenantSupportOverride? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected, actual);
        Assert.True(expected.SetAt.EqualsExact(actual.SetAt), $"SetAt {actual.SetAt:o}, expected {expected.SetAt:o}");
        Assert.Equal(expected.Until?.Offset, actual.Until?.Offset);
    }

    /// <summary>Completes when <paramref name="store"/> announces <paramref name="tenant"/>; fails after <see cref="EventDeadline"/>.</summary>
    private static async Task HeardAsync(IGrantStore store, string tenant)
    {
        var heard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnInvalidated(string t)
        {
            if (t == tenant)
            {
                heard.TrySetResult();
            }
        }

        store.Invalidated += OnInvalidated;
        try
        {
            await heard.Task.WaitAsync(EventDeadline);
        }
        finally
        {
            store.Invalidated -= OnInvalidated;
        }
    }
}
