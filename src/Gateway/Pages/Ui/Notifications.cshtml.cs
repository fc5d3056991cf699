using Gateway.Management;
using Gateway.Webhooks;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Pages.Ui;

/// <summary>
/// <c>/_gateway/ui/notifications</c> (tenant admins): the tenant's webhook endpoints and their last
/// deliveries, read only, through <see cref="WebhookService"/> as the webhook endpoints read them.
/// Registering and removing endpoints stays with the management API (the secret is shown once).
/// </summary>
internal sealed class NotificationsModel(WebhookService webhooks) : UiPageModel
{
    public const int DeliveriesShown = 5;

    /// <summary>Each endpoint with its last deliveries; null deliveries when they could not be read (the failure is shown above).</summary>
    public IReadOnlyList<(WebhookRegistration Endpoint, IReadOnlyList<WebhookDelivery>? Deliveries)>? Endpoints { get; private set; }

    public async Task<IActionResult> OnGetAsync()
    {
        if (await AdmitAsync(ManagementAccessRequirement.TenantAdmin) is { } refused)
        {
            return refused;
        }

        var scope = WebhookScope.Of(Tenant!);
        var list = await TryStoreAsync(ct => webhooks.ListAsync(scope, ct));
        if (list is null)
        {
            return Page();
        }

        var endpoints = new List<(WebhookRegistration, IReadOnlyList<WebhookDelivery>?)>();
        foreach (var endpoint in list)
        {
            var deliveries = await TryOutcomeAsync(ct => webhooks.DeliveriesAsync(scope, endpoint.Id, new DeliveryFilter("all"), DeliveriesShown, ct));
            if (!deliveries.Succeeded)
            {
                // Not "no deliveries yet": say that they could not be read.
                Refusal(deliveries);
            }

            endpoints.Add((endpoint, deliveries.Succeeded ? deliveries.Value ?? [] : null));
        }

        Endpoints = endpoints;
        return Page();
    }
}
