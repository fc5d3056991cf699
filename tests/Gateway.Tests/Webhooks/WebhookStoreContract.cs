using Gateway.Events;
using Gateway.Tests.Grants;
using Gateway.Webhooks;

namespace Gateway.Tests.Webhooks;

/// <summary>
/// The one contract both webhook stores pass (Redis and in-memory): endpoints per scope under a
/// cap, events fanned out to the subscribed endpoints of the tenant and the platform exactly once
/// per (event, endpoint), claims leased so one instance at a time attempts a delivery and a dead
/// instance's claims fall due again, outcomes recorded only by the lease holder, expiry checks
/// scheduled and completed atomically with their fan-out, listings and manual redelivery.
/// </summary>
public abstract class WebhookStoreContract : IAsyncLifetime
{
    private protected static readonly TimeSpan Lease = TimeSpan.FromMinutes(1);
    private protected static readonly WebhookScope Acme = WebhookScope.Of("acme");
    private protected static readonly WebhookScope Globex = WebhookScope.Of("globex");
    private IWebhookStore? _store;

    private protected IWebhookStore Store => _store ?? throw new InvalidOperationException("Not initialised.");

    private protected abstract ITestClock Clock { get; }

    private protected static CancellationToken Ct => CancellationToken.None;

    public virtual async Task InitializeAsync() => _store = await CreateStoreAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    private protected abstract Task<IWebhookStore> CreateStoreAsync();

    /// <summary>Another gateway instance on the same storage.</summary>
    private protected abstract Task<IWebhookStore> CreatePeerAsync();

    [Fact]
    public async Task Registrations_AreCappedPerScope_ListedOldestFirst_AndInvisibleFromOtherScopes()
    {
        var first = Registration(Acme, [SupportEventTypes.SessionStarted], Clock.Now);
        var second = Registration(Acme, [SupportEventTypes.GrantCreated], Clock.Now.AddSeconds(1));
        Assert.True(await Store.AddRegistrationAsync(second, cap: 2, Ct));
        Assert.True(await Store.AddRegistrationAsync(first, cap: 2, Ct));
        Assert.False(await Store.AddRegistrationAsync(Registration(Acme, [SupportEventTypes.SessionEnded], Clock.Now), cap: 2, Ct));
        Assert.True(await Store.AddRegistrationAsync(Registration(WebhookScope.Platform, [SupportEventTypes.SessionEnded], Clock.Now), cap: 2, Ct));

        Assert.Equal([first.Id, second.Id], (await Store.ListRegistrationsAsync(Acme, Ct)).Select(r => r.Id));
        var read = await Store.GetRegistrationAsync(Acme, first.Id, Ct);
        Assert.NotNull(read);
        Assert.Equal((first.Url, first.Secret, first.CreatedBy, "acme"), (read.Url, read.Secret, read.CreatedBy, read.Tenant));
        Assert.Equal(first.Events, read.Events);
        Assert.Null(await Store.GetRegistrationAsync(Globex, first.Id, Ct));
        Assert.Null(await Store.GetRegistrationAsync(WebhookScope.Platform, first.Id, Ct));
        Assert.Single(await Store.ListRegistrationsAsync(WebhookScope.Platform, Ct));
        Assert.Empty(await Store.ListRegistrationsAsync(Globex, Ct));
    }

    [Fact]
    public async Task Enqueue_FansOutToTheTenantsAndThePlatformsSubscribedEndpoints_OncePerEventAndEndpoint()
    {
        var acmeSessions = await AddAsync(Acme, SupportEventTypes.SessionStarted, SupportEventTypes.SessionEnded);
        await AddAsync(Acme, SupportEventTypes.GrantCreated);
        await AddAsync(Globex, SupportEventTypes.SessionStarted);
        var platform = await AddAsync(WebhookScope.Platform, SupportEventTypes.SessionStarted);
        var now = Clock.Now;
        var started = Event(SupportEventTypes.SessionStarted, "acme");

        Assert.Equal(2, await Store.EnqueueAsync([started], now, null, Ct));
        Assert.Equal(0, await Store.EnqueueAsync([started], now, null, Ct)); // the same event again: nothing new

        var batch = await Store.ClaimAsync(now, Lease, "a", 10, Ct);
        Assert.Equal(
            new[] { acmeSessions.Id, platform.Id }.Order(StringComparer.Ordinal),
            batch.Deliveries.Select(d => d.Registration.Id).Order(StringComparer.Ordinal));
        Assert.All(batch.Deliveries, d =>
        {
            Assert.Equal(started.Body, d.Body);
            Assert.Equal((started.Id, "session.started", "acme"), (d.Delivery.EventId, d.Delivery.EventType, d.Delivery.EventTenant));
            Assert.Equal(DeliveryStatus.Pending, d.Delivery.Status);
            Assert.True(WebhookIds.IsDeliveryId(d.Delivery.Id), d.Delivery.Id);
            Assert.Equal(d.Registration.Id, d.Delivery.WebhookId);
            Assert.Equal(d.Registration.Scope, d.Delivery.Scope);
        });
        Assert.NotEqual(batch.Deliveries[0].Delivery.Id, batch.Deliveries[1].Delivery.Id);
    }

    [Fact]
    public async Task Claim_LeasesEntries_SoOnlyOneInstanceAttempts_AndADeadInstancesClaimsFallDueAgain()
    {
        await AddAsync(Acme, SupportEventTypes.SessionStarted);
        var peer = await CreatePeerAsync();
        var now = Clock.Now;
        await Store.EnqueueAsync([Event(SupportEventTypes.SessionStarted, "acme"), Event(SupportEventTypes.SessionStarted, "acme")], now, null, Ct);

        var mine = await Store.ClaimAsync(now, Lease, "a", 10, Ct);
        var theirs = await peer.ClaimAsync(now.AddSeconds(1), Lease, "b", 10, Ct);

        Assert.Equal(2, mine.Deliveries.Count);
        Assert.Empty(theirs.Deliveries);
        Assert.Equal(now + Lease, theirs.NextDue!.Value, TimeSpan.FromMilliseconds(1));

        // "a" died without recording: after its lease the peer takes the deliveries over, and a's late outcome is dropped.
        var takenOver = await peer.ClaimAsync(now + Lease, Lease, "b", 10, Ct);
        Assert.Equal(mine.Deliveries.Select(d => d.Delivery.Id).Order(), takenOver.Deliveries.Select(d => d.Delivery.Id).Order());
        var late = mine.Deliveries[0];
        Assert.False(await Store.RecordAttemptAsync(Delivered(late.Delivery, now + Lease), late.Lease, now.AddDays(1), Ct));
        var current = takenOver.Deliveries.Single(d => d.Delivery.Id == late.Delivery.Id);
        Assert.True(await peer.RecordAttemptAsync(Delivered(current.Delivery, now + Lease), current.Lease, now.AddDays(1), Ct));
    }

    [Fact]
    public async Task RecordAttempt_PendingIsDueAgainThen_FinalLeavesTheSchedule_AndListingShowsTheOutcomeNewestFirst()
    {
        var endpoint = await AddAsync(Acme, SupportEventTypes.SessionStarted, SupportEventTypes.SessionEnded);
        var now = Clock.Now;
        await Store.EnqueueAsync([Event(SupportEventTypes.SessionStarted, "acme")], now, null, Ct);
        await Store.EnqueueAsync([Event(SupportEventTypes.SessionEnded, "acme")], now.AddMilliseconds(5), null, Ct);
        var claimed = await Store.ClaimAsync(now.AddMilliseconds(5), Lease, "a", 10, Ct);
        var started = claimed.Deliveries.Single(d => d.Delivery.EventType == SupportEventTypes.SessionStarted);
        var ended = claimed.Deliveries.Single(d => d.Delivery.EventType == SupportEventTypes.SessionEnded);

        var retry = started.Delivery with { Attempts = 1, Failures = 1, LastStatusCode = 500, LastError = "HTTP 500", LastAttemptAt = now, NextAttemptAt = now.AddSeconds(5) };
        Assert.True(await Store.RecordAttemptAsync(retry, started.Lease, now.AddDays(1), Ct));
        Assert.True(await Store.RecordAttemptAsync(Delivered(ended.Delivery, now), ended.Lease, now.AddDays(1), Ct));

        var early = await Store.ClaimAsync(now.AddSeconds(4), Lease, "a", 10, Ct);
        Assert.Empty(early.Deliveries);
        Assert.Equal(now.AddSeconds(5), early.NextDue!.Value, TimeSpan.FromMilliseconds(1));
        var again = Assert.Single((await Store.ClaimAsync(now.AddSeconds(5), Lease, "a", 10, Ct)).Deliveries);
        Assert.Equal((started.Delivery.Id, 1, "HTTP 500"), (again.Delivery.Id, again.Delivery.Attempts, again.Delivery.LastError));

        var listed = await Store.ListDeliveriesAsync(Acme, endpoint.Id, 10, Ct);
        Assert.Equal([SupportEventTypes.SessionEnded, SupportEventTypes.SessionStarted], listed.Select(d => d.EventType));
        Assert.Equal([DeliveryStatus.Delivered, DeliveryStatus.Pending], listed.Select(d => d.Status));
        Assert.Equal(500, listed[1].LastStatusCode);
        Assert.Equal(ended.Delivery.Id, (await Store.GetDeliveryAsync(Acme, endpoint.Id, ended.Delivery.Id, Ct))?.Id);
        Assert.Null(await Store.GetDeliveryAsync(Globex, endpoint.Id, ended.Delivery.Id, Ct));
        Assert.Null(await Store.GetDeliveryAsync(Acme, "wh_aaaaaaaaaaaaaaaaaaaaaaaaaa", ended.Delivery.Id, Ct));
    }

    [Fact]
    public async Task FinalDeliveries_AreKeptUntilTheirRetention()
    {
        var endpoint = await AddAsync(Acme, SupportEventTypes.SessionStarted);
        var now = Clock.Now;
        await Store.EnqueueAsync([Event(SupportEventTypes.SessionStarted, "acme"), Event(SupportEventTypes.SessionStarted, "acme")], now, null, Ct);
        var claimed = (await Store.ClaimAsync(now, Lease, "a", 10, Ct)).Deliveries;

        Assert.True(await Store.RecordAttemptAsync(Delivered(claimed[0].Delivery, now), claimed[0].Lease, Clock.Now.AddHours(1), Ct));
        Assert.True(await Store.RecordAttemptAsync(Delivered(claimed[1].Delivery, now), claimed[1].Lease, Clock.Now.AddMilliseconds(-1), Ct));

        Assert.Equal([claimed[0].Delivery.Id], (await Store.ListDeliveriesAsync(Acme, endpoint.Id, 10, Ct)).Select(d => d.Id));
    }

    [Fact]
    public async Task Release_MakesClaimsDueAtOnce_ForAnyInstance()
    {
        await AddAsync(Acme, SupportEventTypes.SessionStarted);
        var peer = await CreatePeerAsync();
        var now = Clock.Now;
        await Store.EnqueueAsync([Event(SupportEventTypes.SessionStarted, "acme")], now, null, Ct);
        var claimed = await Store.ClaimAsync(now, Lease, "a", 10, Ct);

        await Store.ReleaseAsync(claimed.Deliveries, now.AddSeconds(1), Ct);

        var taken = Assert.Single((await peer.ClaimAsync(now.AddSeconds(1), Lease, "b", 10, Ct)).Deliveries);
        Assert.Equal(claimed.Deliveries[0].Delivery.Id, taken.Delivery.Id);
        Assert.False(await Store.RecordAttemptAsync(Delivered(claimed.Deliveries[0].Delivery, now), claimed.Deliveries[0].Lease, now.AddDays(1), Ct));
    }

    [Fact]
    public async Task RemoveRegistration_DropsItsDeliveries_PendingOnesAreNeverClaimed()
    {
        var endpoint = await AddAsync(Acme, SupportEventTypes.SessionStarted);
        var other = await AddAsync(Acme, SupportEventTypes.SessionStarted);
        var now = Clock.Now;
        await Store.EnqueueAsync([Event(SupportEventTypes.SessionStarted, "acme")], now, null, Ct);
        var inFlight = (await Store.ClaimAsync(now, Lease, "a", 10, Ct)).Deliveries.Single(d => d.Registration.Id == endpoint.Id);
        await Store.EnqueueAsync([Event(SupportEventTypes.SessionStarted, "acme")], now, null, Ct);

        Assert.Equal(endpoint.Id, (await Store.RemoveRegistrationAsync(Acme, endpoint.Id, Ct))?.Id);
        Assert.Null(await Store.RemoveRegistrationAsync(Acme, endpoint.Id, Ct));

        Assert.Null(await Store.GetRegistrationAsync(Acme, endpoint.Id, Ct));
        Assert.Empty(await Store.ListDeliveriesAsync(Acme, endpoint.Id, 10, Ct));
        Assert.False(await Store.RecordAttemptAsync(Delivered(inFlight.Delivery, now), inFlight.Lease, now.AddDays(1), Ct));
        var claimed = await Store.ClaimAsync(now + Lease, Lease, "a", 10, Ct);
        Assert.All(claimed.Deliveries, d => Assert.Equal(other.Id, d.Registration.Id));
        Assert.Equal(2, claimed.Deliveries.Count);
    }

    [Fact]
    public async Task Redeliver_MakesADeadDeliveryPendingAndDueNow_WithAFreshRetryPeriod_AndVoidsALeaseInFlight()
    {
        var endpoint = await AddAsync(Acme, SupportEventTypes.SessionStarted);
        var now = Clock.Now;
        await Store.EnqueueAsync([Event(SupportEventTypes.SessionStarted, "acme")], now, null, Ct);
        var claim = Assert.Single((await Store.ClaimAsync(now, Lease, "a", 10, Ct)).Deliveries);
        var dead = claim.Delivery with { Status = DeliveryStatus.Dead, Attempts = 30, Failures = 30, LastError = "HTTP 503", DeadAt = now, NextAttemptAt = null };
        Assert.True(await Store.RecordAttemptAsync(dead, claim.Lease, now.AddDays(7), Ct));
        Assert.Empty((await Store.ClaimAsync(now.AddDays(1), Lease, "a", 10, Ct)).Deliveries);

        var later = now.AddDays(1);
        var again = await Store.RedeliverAsync(Acme, endpoint.Id, claim.Delivery.Id, later, Ct);

        Assert.NotNull(again);
        Assert.Equal((DeliveryStatus.Pending, 30, 0, "HTTP 503", later), (again.Status, again.Attempts, again.Failures, again.LastError, again.RetryingSince));
        Assert.Null(await Store.RedeliverAsync(Globex, endpoint.Id, claim.Delivery.Id, later, Ct));
        var reclaimed = Assert.Single((await Store.ClaimAsync(later, Lease, "a", 10, Ct)).Deliveries);
        Assert.Equal(DeliveryStatus.Pending, reclaimed.Delivery.Status);

        // A manual retry while an attempt is in flight: the attempt's outcome no longer counts.
        Assert.NotNull(await Store.RedeliverAsync(Acme, endpoint.Id, claim.Delivery.Id, later.AddSeconds(1), Ct));
        Assert.False(await Store.RecordAttemptAsync(Delivered(reclaimed.Delivery, later), reclaimed.Lease, later.AddDays(1), Ct));
    }

    [Fact]
    public async Task ExpiryCheck_IsScheduledOnce_ClaimedWhenDue_AndCompletedWithItsFanOutAtomically()
    {
        var endpoint = await AddAsync(WebhookScope.Platform, SupportEventTypes.GrantExpired);
        var peer = await CreatePeerAsync();
        var now = Clock.Now;
        var expiry = new ExpiryCheck("acme", "g_abcdefghijklmnopqrstuvwxyz", now.AddHours(1));
        var created = Event(SupportEventTypes.GrantCreated, "acme") with { Expiry = expiry };
        await Store.EnqueueAsync([created], now, null, Ct);
        await Store.EnqueueAsync([created with { Id = WebhookIds.NewEventId() }], now, null, Ct); // a second sighting: still one check

        var before = await Store.ClaimAsync(now.AddMinutes(59), Lease, "a", 10, Ct);
        Assert.Empty(before.Checks);
        Assert.Equal(expiry.ExpiresAt, before.NextDue!.Value, TimeSpan.FromMilliseconds(1));

        var due = await Store.ClaimAsync(expiry.ExpiresAt, Lease, "a", 10, Ct);
        var check = Assert.Single(due.Checks);
        Assert.Equal((expiry.Tenant, expiry.GrantId), (check.Tenant, check.GrantId));
        Assert.Equal(expiry.ExpiresAt, check.ExpiresAt, TimeSpan.FromMilliseconds(1));
        Assert.Empty((await peer.ClaimAsync(expiry.ExpiresAt, Lease, "b", 10, Ct)).Checks); // leased

        var expired = Event(SupportEventTypes.GrantExpired, "acme") with { Id = WebhookIds.ExpiredEventId("acme", expiry.GrantId) };
        Assert.Equal(1, await Store.EnqueueAsync([expired], expiry.ExpiresAt, doneCheck: check, Ct));
        // The same check run again elsewhere (its lease ran out mid-way): the same event, no new delivery.
        Assert.Equal(0, await peer.EnqueueAsync([expired], expiry.ExpiresAt, doneCheck: check, Ct));

        var after = await Store.ClaimAsync(expiry.ExpiresAt + Lease + Lease, Lease, "a", 10, Ct);
        Assert.Empty(after.Checks);
        Assert.Equal(SupportEventTypes.GrantExpired, Assert.Single(after.Deliveries).Delivery.EventType);
        Assert.Equal(endpoint.Id, after.Deliveries[0].Registration.Id);
    }

    [Fact]
    public async Task DueChanged_IsHeardByAnotherInstance_WhenEntriesBecomeDue()
    {
        await AddAsync(Acme, SupportEventTypes.SessionStarted);
        var peer = await CreatePeerAsync();
        await peer.StartAsync(Ct);
        var heard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        peer.DueChanged += () => heard.TrySetResult();
        Assert.True(peer.HearsOtherInstances);

        await Store.EnqueueAsync([Event(SupportEventTypes.SessionStarted, "acme")], Clock.Now, null, Ct);

        await heard.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private protected static WebhookDelivery Delivered(WebhookDelivery delivery, DateTimeOffset at) =>
        delivery with { Status = DeliveryStatus.Delivered, Attempts = delivery.Attempts + 1, DeliveredAt = at, LastAttemptAt = at, LastStatusCode = 204, NextAttemptAt = null };

    private protected async Task<WebhookRegistration> AddAsync(WebhookScope scope, params string[] events)
    {
        var registration = Registration(scope, events, Clock.Now);
        Assert.True(await Store.AddRegistrationAsync(registration, cap: 10, Ct));
        return registration;
    }

    private protected static WebhookRegistration Registration(WebhookScope scope, IReadOnlyList<string> events, DateTimeOffset at) => new()
    {
        Id = WebhookIds.NewWebhookId(),
        Tenant = scope.Tenant,
        Url = "https://hooks.example.com/support?token=t",
        Events = events,
        Description = "ops ü",
        CreatedBy = "ann",
        CreatedAt = at,
        Secret = "v1.c2VjcmV0LWFzLXN0b3JlZA==",
    };

    private protected static OutboxEvent Event(string type, string tenant) =>
        new(WebhookIds.NewEventId(), type, tenant, DateTimeOffset.UnixEpoch, $$"""{"type":"{{type}}","n":"{{Guid.NewGuid():N}} ü"}""");
}
