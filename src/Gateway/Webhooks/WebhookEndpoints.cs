using System.Globalization;
using System.Text.Json.Serialization;
using Gateway.Grants;
using Gateway.Management;
using Gateway.Problems;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Webhooks;

/// <summary>
/// Webhook endpoints of a tenant (its admins, and platform admins) under
/// <c>/_gateway/tenants/{tenant}/support/webhooks</c>, and platform-wide ones (platform admins)
/// under <c>/_gateway/platform/support/webhooks</c>: register (the secret is in this answer only),
/// list, read, remove, list deliveries, deliver one again.
/// </summary>
internal static class WebhookEndpoints
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 200;

    public static RouteGroupBuilder MapWebhookEndpoints(this RouteGroupBuilder gateway)
    {
        var management = gateway.MapGroup("")
            .AddEndpointFilter<JsonBodyFilter>()
            .AddEndpointFilter<NoStoreFilter>();
        Map(management.MapGroup("/tenants/{tenant}/support/webhooks").RequireAuthorization(ManagementPolicies.TenantAdmin));
        Map(management.MapGroup("/platform/support/webhooks").RequireAuthorization(ManagementPolicies.PlatformAdmin));
        return gateway;
    }

    private static void Map(RouteGroupBuilder webhooks)
    {
        webhooks.MapPost("", CreateAsync);
        webhooks.MapGet("", ListAsync);
        webhooks.MapGet("/{id}", GetAsync);
        webhooks.MapDelete("/{id}", RemoveAsync);
        webhooks.MapGet("/{id}/deliveries", DeliveriesAsync);
        webhooks.MapPost("/{id}/deliveries/{deliveryId}/retry", RedeliverAsync);
    }

    /// <summary>The route's tenant, or the platform on the platform's routes (never from the query string).</summary>
    private static WebhookScope Scope(HttpContext http) => http.GetRouteValue("tenant") is string tenant ? WebhookScope.Of(tenant) : WebhookScope.Platform;

    private static string Path(WebhookScope scope) =>
        scope.Tenant is { } tenant ? $"/_gateway/tenants/{tenant}/support/webhooks" : "/_gateway/platform/support/webhooks";

    private static async Task<Results<Created<CreatedWebhookView>, GatewayProblem>> CreateAsync(
        HttpContext http, JsonBody<CreateWebhookRequest> body, ManagementCaller caller, WebhookService webhooks, CancellationToken cancellationToken)
    {
        if (body.Value is not { } request)
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, "A JSON body is required: url, events, optional description.");
        }

        var scope = Scope(http);
        var outcome = await webhooks.CreateAsync(caller, scope, request, cancellationToken);
        if (outcome.Problem is { } problem)
        {
            return GatewayProblem.Create(problem, outcome.Detail);
        }

        var (registration, secret) = outcome.Value;
        return TypedResults.Created($"{Path(scope)}/{registration.Id}", new CreatedWebhookView(WebhookView.From(registration), secret));
    }

    private static async Task<Ok<WebhookListView>> ListAsync(HttpContext http, WebhookService webhooks, CancellationToken cancellationToken)
    {
        var scope = Scope(http);
        var list = await webhooks.ListAsync(scope, cancellationToken);
        return TypedResults.Ok(new WebhookListView(scope.Tenant, [.. list.Select(WebhookView.From)]));
    }

    private static async Task<Results<Ok<WebhookView>, GatewayProblem>> GetAsync(HttpContext http, string id, WebhookService webhooks, CancellationToken cancellationToken)
    {
        var outcome = await webhooks.GetAsync(Scope(http), id, cancellationToken);
        return outcome.Value is { } registration ? TypedResults.Ok(WebhookView.From(registration)) : outcome.ToProblem();
    }

    private static async Task<Results<NoContent, GatewayProblem>> RemoveAsync(
        HttpContext http, string id, ManagementCaller caller, WebhookService webhooks, CancellationToken cancellationToken)
    {
        var outcome = await webhooks.RemoveAsync(caller, Scope(http), id, cancellationToken);
        return outcome.Succeeded ? TypedResults.NoContent() : outcome.ToProblem();
    }

    private static async Task<Results<Ok<DeliveryListView>, GatewayProblem>> DeliveriesAsync(
        HttpContext http, string id, string? status, string? limit, WebhookService webhooks, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        var filter = string.IsNullOrEmpty(status) ? "all" : status;
        if (!DeliveryFilter.Names.Contains(filter))
        {
            errors.Add($"status: {string.Join(", ", DeliveryFilter.Names)}.");
        }

        var size = DefaultLimit;
        if (!string.IsNullOrEmpty(limit) && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size is < 1 or > MaxLimit))
        {
            errors.Add($"limit: a whole number from 1 to {MaxLimit}.");
        }

        if (errors.Count > 0)
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, string.Join(" ", errors));
        }

        var outcome = await webhooks.DeliveriesAsync(Scope(http), id, new DeliveryFilter(filter), size, cancellationToken);
        return outcome.Value is { } deliveries
            ? TypedResults.Ok(new DeliveryListView(id, filter, [.. deliveries.Select(DeliveryView.From)]))
            : outcome.ToProblem();
    }

    private static async Task<Results<Accepted<DeliveryView>, GatewayProblem>> RedeliverAsync(
        HttpContext http, string id, string deliveryId, WebhookService webhooks, CancellationToken cancellationToken)
    {
        var scope = Scope(http);
        var outcome = await webhooks.RedeliverAsync(scope, id, deliveryId, cancellationToken);
        return outcome.Value is { } delivery
            ? TypedResults.Accepted($"{Path(scope)}/{id}/deliveries?status=all", DeliveryView.From(delivery))
            : outcome.ToProblem();
    }

    private static GatewayProblem ToProblem<T>(this Outcome<T> outcome) => GatewayProblem.Create(outcome.Problem!, outcome.Detail);
}

/// <summary>Body of <c>POST …/support/webhooks</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record CreateWebhookRequest
{
    /// <summary>Where events are POSTed: https (http outside production or with <c>Webhooks:AllowHttp</c>).</summary>
    public string? Url { get; init; }

    /// <summary>The event types to receive: a subset of <see cref="Gateway.Events.SupportEventTypes.All"/>.</summary>
    public IReadOnlyList<string>? Events { get; init; }

    public string? Description { get; init; }
}

/// <summary>An endpoint as the API shows it: never its secret.</summary>
internal sealed record WebhookView(string Id, string? Tenant, string Url, IReadOnlyList<string> Events, string? Description, string CreatedBy, DateTimeOffset CreatedAt)
{
    public static WebhookView From(WebhookRegistration r) => new(r.Id, r.Tenant, r.Url, r.Events, r.Description, r.CreatedBy, r.CreatedAt);
}

/// <summary>The answer to a registration: the endpoint and its signing secret, shown this once.</summary>
internal sealed record CreatedWebhookView(
    string Id, string? Tenant, string Url, IReadOnlyList<string> Events, string? Description, string CreatedBy, DateTimeOffset CreatedAt, string Secret)
{
    public CreatedWebhookView(WebhookView view, string secret)
        : this(view.Id, view.Tenant, view.Url, view.Events, view.Description, view.CreatedBy, view.CreatedAt, secret)
    {
    }
}

internal sealed record WebhookListView(string? Tenant, IReadOnlyList<WebhookView> Webhooks);

internal sealed record DeliveryView(
    string Id,
    string WebhookId,
    string EventId,
    string EventType,
    string Tenant,
    string Status,
    int Attempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset? LastAttemptAt,
    int? LastStatusCode,
    string? LastError,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? DeliveredAt,
    DateTimeOffset? DeadAt)
{
    public static DeliveryView From(WebhookDelivery d) => new(
        d.Id, d.WebhookId, d.EventId, d.EventType, d.EventTenant,
        d.Status switch { DeliveryStatus.Delivered => "delivered", DeliveryStatus.Dead => "dead", _ => "pending" },
        d.Attempts, d.CreatedAt, d.LastAttemptAt, d.LastStatusCode, d.LastError, d.NextAttemptAt, d.DeliveredAt, d.DeadAt);
}

internal sealed record DeliveryListView(string WebhookId, string Status, IReadOnlyList<DeliveryView> Deliveries);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    PropertyNameCaseInsensitive = false,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(CreateWebhookRequest))]
[JsonSerializable(typeof(CreatedWebhookView))]
[JsonSerializable(typeof(WebhookView))]
[JsonSerializable(typeof(WebhookListView))]
[JsonSerializable(typeof(DeliveryView))]
[JsonSerializable(typeof(DeliveryListView))]
internal sealed partial class WebhooksJsonContext : JsonSerializerContext;
