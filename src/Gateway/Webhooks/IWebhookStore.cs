namespace Gateway.Webhooks;

/// <summary>
/// Where webhook endpoints and the outbox live: Redis beside the grants (shared by every instance,
/// surviving restarts) or in memory (the embedded default: one instance, lost on restart). One
/// contract test suite runs against both. Every method either completes or throws
/// <see cref="Grants.GrantStoreUnavailableException"/>.
/// <para>
/// The outbox is one schedule of entries by due time: deliveries (one event to one endpoint) and
/// expiry checks (a grant whose <c>grant.expired</c> is still to come). An instance claims due
/// entries for a lease; until the lease runs out no other instance claims them, and when it runs
/// out (the instance died mid-attempt) they are due again for anyone.
/// </para>
/// </summary>
internal interface IWebhookStore
{
    /// <summary>
    /// Raised when entries became due earlier than anyone may know (new deliveries, a new expiry
    /// check, a release, a manual retry), here or on another instance, or when such news may have
    /// been missed (a reconnect): claim again, which also tells when the earliest entry is due.
    /// </summary>
    event Action? DueChanged;

    /// <summary>True while <see cref="DueChanged"/> would report other instances' changes; while not, claimers poll.</summary>
    bool HearsOtherInstances { get; }

    /// <summary>Starts hearing other instances. Never fails because the store is down: it keeps trying.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Adds an endpoint unless its scope already holds <paramref name="cap"/>; false when it does.</summary>
    Task<bool> AddRegistrationAsync(WebhookRegistration registration, int cap, CancellationToken cancellationToken);

    Task<WebhookRegistration?> GetRegistrationAsync(WebhookScope scope, string id, CancellationToken cancellationToken);

    /// <summary>The scope's endpoints, oldest first.</summary>
    Task<IReadOnlyList<WebhookRegistration>> ListRegistrationsAsync(WebhookScope scope, CancellationToken cancellationToken);

    /// <summary>Removes an endpoint with its deliveries (pending ones are never sent); the endpoint removed, or null when unknown.</summary>
    Task<WebhookRegistration?> RemoveRegistrationAsync(WebhookScope scope, string id, CancellationToken cancellationToken);

    /// <summary>
    /// Fans events out: one pending delivery, due at <paramref name="now"/>, for each endpoint of the
    /// event's tenant and of the platform that subscribes to its type, and an expiry check for each
    /// <see cref="OutboxEvent.Expiry"/>. Idempotent per (event, endpoint): a delivery's id is derived
    /// from both, so enqueuing an event twice creates nothing new. With <paramref name="doneCheck"/>,
    /// removes that expiry check in the same atomic step. Returns how many deliveries were created.
    /// </summary>
    Task<int> EnqueueAsync(IReadOnlyList<OutboxEvent> events, DateTimeOffset now, ExpiryCheck? doneCheck, CancellationToken cancellationToken);

    /// <summary>Claims at most <paramref name="limit"/> due entries until <paramref name="now"/> + <paramref name="lease"/>.</summary>
    Task<ClaimBatch> ClaimAsync(DateTimeOffset now, TimeSpan lease, string owner, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Records an attempt's outcome: <paramref name="updated"/> pending (due again at its
    /// <see cref="WebhookDelivery.NextAttemptAt"/>) or final (delivered or dead, kept until
    /// <paramref name="retainUntil"/>). False when the lease was lost meanwhile (another instance
    /// claimed it, a manual retry, the endpoint was removed): the outcome is dropped.
    /// </summary>
    Task<bool> RecordAttemptAsync(WebhookDelivery updated, string lease, DateTimeOffset retainUntil, CancellationToken cancellationToken);

    /// <summary>Gives claimed deliveries back, due at <paramref name="now"/> (an instance that stops does not make others wait for its leases).</summary>
    Task ReleaseAsync(IReadOnlyList<ClaimedDelivery> claims, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The endpoint's deliveries, newest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(WebhookScope scope, string webhookId, int limit, CancellationToken cancellationToken);

    Task<WebhookDelivery?> GetDeliveryAsync(WebhookScope scope, string webhookId, string deliveryId, CancellationToken cancellationToken);

    /// <summary>
    /// Makes a delivery (of any status) pending and due at <paramref name="now"/>, with a fresh retry
    /// period; an attempt in flight loses its lease. The delivery as it is now, or null when unknown.
    /// </summary>
    Task<WebhookDelivery?> RedeliverAsync(WebhookScope scope, string webhookId, string deliveryId, DateTimeOffset now, CancellationToken cancellationToken);
}
