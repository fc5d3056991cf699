using System.Security.Cryptography;
using System.Text;

namespace Gateway.Webhooks;

/// <summary>
/// The embedded store for a single gateway without Redis: the same semantics as Redis under one
/// lock. Lost on restart, like the in-memory grants: deliveries not yet made when the process
/// stops are never made.
/// </summary>
internal sealed class InMemoryWebhookStore(TimeProvider time) : IWebhookStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Scope, string Id), WebhookRegistration> _registrations = [];
    private readonly Dictionary<string, Entry> _deliveries = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Scope, string WebhookId), List<string>> _index = [];
    private readonly Dictionary<string, ExpiryCheck> _checks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _dueAt = new(StringComparer.Ordinal);
    private readonly SortedSet<(DateTimeOffset At, string Member)> _due = [];

    public event Action? DueChanged;

    /// <summary>There are no other instances.</summary>
    public bool HearsOtherInstances => true;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<bool> AddRegistrationAsync(WebhookRegistration registration, int cap, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var scope = registration.Scope.Key;
            if (_registrations.Keys.Count(k => k.Scope == scope) >= cap)
            {
                return Task.FromResult(false);
            }

            _registrations[(scope, registration.Id)] = registration;
            return Task.FromResult(true);
        }
    }

    public Task<WebhookRegistration?> GetRegistrationAsync(WebhookScope scope, string id, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_registrations.GetValueOrDefault((scope.Key, id)));
        }
    }

    public Task<IReadOnlyList<WebhookRegistration>> ListRegistrationsAsync(WebhookScope scope, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<WebhookRegistration>>(
                [.. _registrations.Where(r => r.Key.Scope == scope.Key).Select(r => r.Value).OrderBy(r => r.CreatedAt).ThenBy(r => r.Id, StringComparer.Ordinal)]);
        }
    }

    public Task<WebhookRegistration?> RemoveRegistrationAsync(WebhookScope scope, string id, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_registrations.Remove((scope.Key, id), out var removed))
            {
                return Task.FromResult<WebhookRegistration?>(null);
            }

            if (_index.Remove((scope.Key, id), out var deliveries))
            {
                foreach (var deliveryId in deliveries)
                {
                    _deliveries.Remove(deliveryId);
                    Unschedule("d:" + deliveryId);
                }
            }

            return Task.FromResult<WebhookRegistration?>(removed);
        }
    }

    public Task<int> EnqueueAsync(IReadOnlyList<OutboxEvent> events, DateTimeOffset now, ExpiryCheck? doneCheck, CancellationToken cancellationToken)
    {
        var created = 0;
        var scheduled = 0;
        lock (_lock)
        {
            foreach (var e in events)
            {
                if (e.Expiry is { } expiry && _checks.TryAdd(expiry.Key, expiry))
                {
                    Schedule("c:" + expiry.Key, expiry.ExpiresAt);
                    scheduled++;
                }

                foreach (var registration in _registrations.Values.Where(r => (r.Tenant is null || r.Tenant == e.Tenant) && r.Events.Contains(e.Type)).ToList())
                {
                    var id = DeliveryId(e.Id, registration.Id);
                    if (_deliveries.ContainsKey(id))
                    {
                        continue;
                    }

                    var delivery = new WebhookDelivery
                    {
                        Id = id,
                        WebhookId = registration.Id,
                        Scope = registration.Scope,
                        EventId = e.Id,
                        EventType = e.Type,
                        EventTenant = e.Tenant,
                        CreatedAt = now,
                        RetryingSince = now,
                        NextAttemptAt = now,
                    };
                    _deliveries[id] = new Entry(delivery, e.Body, Lease: null, RetainUntil: null);
                    var index = IndexFor(registration.Scope.Key, registration.Id);
                    index.Add(id);
                    if (index.Count > WebhookLimits.DeliveriesListedPerEndpoint)
                    {
                        index.RemoveAt(0);
                    }

                    Schedule("d:" + id, now);
                    created++;
                }
            }

            if (doneCheck is not null && _checks.Remove(doneCheck.Key))
            {
                Unschedule("c:" + doneCheck.Key);
            }
        }

        if (created + scheduled > 0)
        {
            DueChanged?.Invoke();
        }

        return Task.FromResult(created);
    }

    public Task<ClaimBatch> ClaimAsync(DateTimeOffset now, TimeSpan lease, string owner, int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Prune();
            var deliveries = new List<ClaimedDelivery>();
            var checks = new List<ExpiryCheck>();
            foreach (var (_, member) in _due.TakeWhile(d => d.At <= now).Take(limit).ToList())
            {
                var key = member[2..];
                if (member[0] == 'c')
                {
                    if (_checks.TryGetValue(key, out var check))
                    {
                        Schedule(member, now + lease);
                        checks.Add(check);
                    }
                    else
                    {
                        Unschedule(member);
                    }

                    continue;
                }

                if (_deliveries.TryGetValue(key, out var entry) && _registrations.TryGetValue((entry.Delivery.Scope.Key, entry.Delivery.WebhookId), out var registration))
                {
                    var token = owner + ":" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
                    _deliveries[key] = entry with { Lease = token };
                    Schedule(member, now + lease);
                    deliveries.Add(new ClaimedDelivery(entry.Delivery, entry.Body, registration, token));
                }
                else
                {
                    _deliveries.Remove(key);
                    Unschedule(member);
                }
            }

            return Task.FromResult(new ClaimBatch(deliveries, checks, _due.Count == 0 ? null : _due.Min.At));
        }
    }

    public Task<bool> RecordAttemptAsync(WebhookDelivery updated, string lease, DateTimeOffset retainUntil, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_deliveries.TryGetValue(updated.Id, out var entry) || entry.Lease != lease)
            {
                return Task.FromResult(false);
            }

            var delivery = updated with { Scope = entry.Delivery.Scope, WebhookId = entry.Delivery.WebhookId };
            if (delivery.Status == DeliveryStatus.Pending)
            {
                _deliveries[updated.Id] = entry with { Delivery = delivery, Lease = null, RetainUntil = null };
                Schedule("d:" + updated.Id, delivery.NextAttemptAt ?? time.GetUtcNow());
            }
            else
            {
                _deliveries[updated.Id] = entry with { Delivery = delivery, Lease = null, RetainUntil = retainUntil };
                Unschedule("d:" + updated.Id);
            }

            return Task.FromResult(true);
        }
    }

    public Task ReleaseAsync(IReadOnlyList<ClaimedDelivery> claims, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var claim in claims)
            {
                if (_deliveries.TryGetValue(claim.Delivery.Id, out var entry) && entry.Lease == claim.Lease)
                {
                    _deliveries[claim.Delivery.Id] = entry with { Lease = null };
                    Schedule("d:" + claim.Delivery.Id, now);
                }
            }
        }

        DueChanged?.Invoke();
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(WebhookScope scope, string webhookId, int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Prune();
            if (!_index.TryGetValue((scope.Key, webhookId), out var ids))
            {
                return Task.FromResult<IReadOnlyList<WebhookDelivery>>([]);
            }

            return Task.FromResult<IReadOnlyList<WebhookDelivery>>(
                [.. Enumerable.Reverse(ids).Select(id => _deliveries.GetValueOrDefault(id)?.Delivery).OfType<WebhookDelivery>().Take(limit)]);
        }
    }

    public Task<WebhookDelivery?> GetDeliveryAsync(WebhookScope scope, string webhookId, string deliveryId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Prune();
            return Task.FromResult(Owned(scope, webhookId, deliveryId)?.Delivery);
        }
    }

    public Task<WebhookDelivery?> RedeliverAsync(WebhookScope scope, string webhookId, string deliveryId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        WebhookDelivery? delivery = null;
        lock (_lock)
        {
            Prune();
            if (Owned(scope, webhookId, deliveryId) is { } entry)
            {
                delivery = Redelivery(entry.Delivery, now);
                _deliveries[deliveryId] = entry with { Delivery = delivery, Lease = null, RetainUntil = null };
                Schedule("d:" + deliveryId, now);
            }
        }

        if (delivery is not null)
        {
            DueChanged?.Invoke();
        }

        return Task.FromResult(delivery);
    }

    /// <summary>A delivery made pending again by hand: due now, with a fresh retry period; its history (attempts, last error) stays.</summary>
    internal static WebhookDelivery Redelivery(WebhookDelivery delivery, DateTimeOffset now) =>
        delivery with { Status = DeliveryStatus.Pending, NextAttemptAt = now, RetryingSince = now, Failures = 0, DeliveredAt = null, DeadAt = null };

    private Entry? Owned(WebhookScope scope, string webhookId, string deliveryId) =>
        _deliveries.TryGetValue(deliveryId, out var entry) && entry.Delivery.WebhookId == webhookId && entry.Delivery.Scope == scope ? entry : null;

    private static string DeliveryId(string eventId, string webhookId) =>
        "msg_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(eventId + "|" + webhookId)))[..32];

    private List<string> IndexFor(string scope, string webhookId)
    {
        if (!_index.TryGetValue((scope, webhookId), out var list))
        {
            _index[(scope, webhookId)] = list = [];
        }

        return list;
    }

    private void Schedule(string member, DateTimeOffset at)
    {
        Unschedule(member);
        _dueAt[member] = at;
        _due.Add((at, member));
    }

    private void Unschedule(string member)
    {
        if (_dueAt.Remove(member, out var at))
        {
            _due.Remove((at, member));
        }
    }

    /// <summary>Drops delivered and dead deliveries past their retention.</summary>
    private void Prune()
    {
        var now = time.GetUtcNow();
        foreach (var (id, entry) in _deliveries.Where(d => d.Value.RetainUntil <= now).ToList())
        {
            _deliveries.Remove(id);
            if (_index.TryGetValue((entry.Delivery.Scope.Key, entry.Delivery.WebhookId), out var list))
            {
                list.Remove(id);
            }
        }
    }

    private sealed record Entry(WebhookDelivery Delivery, string Body, string? Lease, DateTimeOffset? RetainUntil);
}

/// <summary>Limits both stores keep.</summary>
internal static class WebhookLimits
{
    /// <summary>Deliveries listed per endpoint (the oldest drop off the list; pending ones are still sent).</summary>
    public const int DeliveriesListedPerEndpoint = 1000;
}
