using Gateway.Auditing;
using Gateway.Events;
using Gateway.Grants;
using Gateway.Management;
using Gateway.Problems;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

/// <summary>
/// The rules for webhook endpoints: what a registration must look like, the caps, the secret
/// (generated here, shown once, stored protected), and the audit event of every registration and
/// removal (room reserved before the change, as for grants). Who may call is the endpoints' policy.
/// </summary>
internal sealed class WebhookService(
    IWebhookStore store,
    WebhookTargets targets,
    WebhookSecrets secrets,
    IOptions<WebhooksOptions> options,
    IAuditSink audit,
    TimeProvider time)
{
    public const int MaxDescriptionLength = 500;

    public async Task<Outcome<(WebhookRegistration Registration, string Secret)>> CreateAsync(
        ManagementCaller caller, WebhookScope scope, CreateWebhookRequest request, CancellationToken cancellationToken)
    {
        if (await targets.CheckRegistrationAsync(request.Url, cancellationToken) is { } refused)
        {
            return Outcome<(WebhookRegistration, string)>.Fail(refused.Code, refused.Detail);
        }

        if (request.Events is not { Count: > 0 } events)
        {
            return Outcome<(WebhookRegistration, string)>.Fail(ProblemCode.InvalidRequest, $"events: one or more of {string.Join(", ", SupportEventTypes.All)}.");
        }

        var unknown = events.Where(e => e is null || !SupportEventTypes.All.Contains(e)).Select(e => e is null ? "null" : $"'{Printable(e)}'").ToList();
        if (unknown.Count > 0)
        {
            return Outcome<(WebhookRegistration, string)>.Fail(ProblemCode.WebhookUnknownEvent, $"events: unknown {string.Join(", ", unknown)}; known: {string.Join(", ", SupportEventTypes.All)}.");
        }

        if (events.Distinct(StringComparer.Ordinal).Count() != events.Count)
        {
            return Outcome<(WebhookRegistration, string)>.Fail(ProblemCode.InvalidRequest, "events: each type once.");
        }

        if (request.Description is { } description && (description.Length > MaxDescriptionLength || description.Any(c => char.IsControl(c) && c is not '\n' and not '\t')))
        {
            return Outcome<(WebhookRegistration, string)>.Fail(ProblemCode.InvalidRequest, $"description: at most {MaxDescriptionLength} characters, no control characters.");
        }

        var id = WebhookIds.NewWebhookId();
        var (secret, key) = WebhookSignature.NewSecret();
        var registration = new WebhookRegistration
        {
            Id = id,
            Tenant = scope.Tenant,
            Url = request.Url!,
            Events = [.. SupportEventTypes.All.Where(e => events.Contains(e))],
            Description = request.Description,
            CreatedBy = caller.Subject,
            CreatedAt = time.GetUtcNow(),
            Secret = secrets.Protect(key, id),
        };

        // The change is made only if its audit event has room: never a change that goes unrecorded.
        using var room = audit.TryReserve();
        if (room is null)
        {
            return Outcome<(WebhookRegistration, string)>.Fail(ProblemCode.AuditUnavailable);
        }

        var cap = scope.IsPlatform ? options.Value.MaxPlatform : options.Value.MaxPerTenant;
        if (!await store.AddRegistrationAsync(registration, cap, cancellationToken))
        {
            return Outcome<(WebhookRegistration, string)>.Fail(ProblemCode.WebhookLimitReached, $"At most {cap} endpoints {(scope.IsPlatform ? "for the platform" : "per tenant")}; remove one first.");
        }

        Audit(room, caller, scope, "support-webhook-created", registration);
        return (registration, secret);
    }

    public Task<IReadOnlyList<WebhookRegistration>> ListAsync(WebhookScope scope, CancellationToken cancellationToken) =>
        store.ListRegistrationsAsync(scope, cancellationToken);

    public async Task<Outcome<WebhookRegistration>> GetAsync(WebhookScope scope, string id, CancellationToken cancellationToken) =>
        WebhookIds.IsWebhookId(id) && await store.GetRegistrationAsync(scope, id, cancellationToken) is { } registration
            ? registration
            : Outcome<WebhookRegistration>.Fail(ProblemCode.WebhookNotFound);

    public async Task<Outcome<WebhookRegistration>> RemoveAsync(ManagementCaller caller, WebhookScope scope, string id, CancellationToken cancellationToken)
    {
        if (!WebhookIds.IsWebhookId(id))
        {
            return Outcome<WebhookRegistration>.Fail(ProblemCode.WebhookNotFound);
        }

        // Removing an endpoint stops a tenant from hearing of support activity: recorded, or not done.
        using var room = audit.TryReserve();
        if (room is null)
        {
            return Outcome<WebhookRegistration>.Fail(ProblemCode.AuditUnavailable);
        }

        if (await store.RemoveRegistrationAsync(scope, id, cancellationToken) is not { } removed)
        {
            return Outcome<WebhookRegistration>.Fail(ProblemCode.WebhookNotFound);
        }

        Audit(room, caller, scope, "support-webhook-deleted", removed);
        return removed;
    }

    public async Task<Outcome<IReadOnlyList<WebhookDelivery>>> DeliveriesAsync(WebhookScope scope, string id, DeliveryFilter filter, int limit, CancellationToken cancellationToken)
    {
        if ((await GetAsync(scope, id, cancellationToken)).Problem is { } problem)
        {
            return Outcome<IReadOnlyList<WebhookDelivery>>.Fail(problem);
        }

        var all = await store.ListDeliveriesAsync(scope, id, WebhookLimits.DeliveriesListedPerEndpoint, cancellationToken);
        return Outcome<IReadOnlyList<WebhookDelivery>>.From([.. all.Where(d => filter.Matches(d)).Take(limit)]);
    }

    public async Task<Outcome<WebhookDelivery>> RedeliverAsync(WebhookScope scope, string id, string deliveryId, CancellationToken cancellationToken)
    {
        if ((await GetAsync(scope, id, cancellationToken)).Problem is { } problem)
        {
            return Outcome<WebhookDelivery>.Fail(problem);
        }

        return WebhookIds.IsDeliveryId(deliveryId) && await store.RedeliverAsync(scope, id, deliveryId, time.GetUtcNow(), cancellationToken) is { } delivery
            ? delivery
            : Outcome<WebhookDelivery>.Fail(ProblemCode.WebhookDeliveryNotFound);
    }

    private void Audit(IAuditReservation room, ManagementCaller caller, WebhookScope scope, string action, WebhookRegistration registration)
    {
        room.Complete(new AuditEvent
        {
            Timestamp = time.GetUtcNow(),
            Category = "configuration",
            Action = action,
            UserName = caller.Subject,
            UserId = caller.Subject,
            UserRoles = [.. caller.Roles],
            Tenant = scope.Tenant,
            Details = new Dictionary<string, string?>
            {
                ["webhookId"] = registration.Id,
                ["scope"] = scope.IsPlatform ? "platform" : "tenant",
                // Without query: receivers sometimes put a token there, which has no place in the audit.
                ["url"] = Uri.TryCreate(registration.Url, UriKind.Absolute, out var url) ? url.GetLeftPart(UriPartial.Path) : null,
                ["events"] = string.Join(",", registration.Events),
            },
        });
    }

    private static string Printable(string value)
    {
        var clean = new string([.. value.Take(64).Select(c => char.IsControl(c) ? '?' : c)]);
        return value.Length > 64 ? clean + "…" : clean;
    }
}

/// <summary>Which deliveries a listing shows (<c>status</c>): all, pending, failed (the last attempt failed: retrying or dead), dead, delivered.</summary>
internal readonly record struct DeliveryFilter(string Name)
{
    public static readonly IReadOnlyList<string> Names = ["all", "pending", "failed", "dead", "delivered"];

    public bool Matches(WebhookDelivery d) => Name switch
    {
        "pending" => d.Status == DeliveryStatus.Pending,
        "failed" => d.Status != DeliveryStatus.Delivered && d.LastError is not null,
        "dead" => d.Status == DeliveryStatus.Dead,
        "delivered" => d.Status == DeliveryStatus.Delivered,
        _ => true,
    };
}
