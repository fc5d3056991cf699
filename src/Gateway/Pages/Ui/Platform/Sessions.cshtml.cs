using Gateway.Management;
using Gateway.Sessions;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Gateway.Pages.Ui.Platform;

/// <summary>
/// <c>/_gateway/ui/platform/sessions</c> (platform admins): every tenant's support sessions, newest
/// first, filtered by tenant, status and support user, read as <c>GET /_gateway/platform/support/sessions</c>
/// reads them (<see cref="ISessionStore.ListAsync"/>). A GET form: it changes nothing.
/// </summary>
internal sealed class SessionsModel(ISessionStore store, IOptions<TenancyOptions> tenancy) : UiPageModel
{
    [BindProperty(SupportsGet = true, Name = "tenant")]
    public string? FilterTenant { get; set; }

    [BindProperty(SupportsGet = true, Name = "status")]
    public string? FilterStatus { get; set; }

    [BindProperty(SupportsGet = true, Name = "supportUser")]
    public string? FilterSupportUser { get; set; }

    public IReadOnlyList<string> Tenants => [.. tenancy.Value.Tenants.Keys.Order(StringComparer.Ordinal)];

    public IReadOnlyList<SessionView>? Sessions { get; private set; }

    public async Task<IActionResult> OnGetAsync()
    {
        if (await AdmitAsync(ManagementAccessRequirement.PlatformAdmin) is { } refused)
        {
            return refused;
        }

        var tenant = string.IsNullOrEmpty(FilterTenant) ? null : FilterTenant;
        var supportUser = string.IsNullOrWhiteSpace(FilterSupportUser) ? null : FilterSupportUser.Trim();
        if ((tenant is not null && !Tenants.Contains(tenant, StringComparer.Ordinal))
            || FilterStatus is not (null or "" or "all" or "active")
            || supportUser is { Length: > 128 })
        {
            Failure = new PageMessage("Check the filters", "Choose a tenant from the list (or all), a status (all or live), and a support user name of at most 128 characters.");
            return PageWithStatus(StatusCodes.Status400BadRequest);
        }

        var page = await TryStoreAsync(ct => store.ListAsync(new SessionQuery(tenant, FilterStatus == "active", supportUser, null, null, null, SessionEndpoints.DefaultLimit), ct));
        Sessions = page is null ? null : [.. page.Sessions.Select(SessionView.From)];
        return Page();
    }
}
