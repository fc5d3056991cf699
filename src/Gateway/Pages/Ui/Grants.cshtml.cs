using Gateway.Grants;
using Gateway.Management;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Pages.Ui;

/// <summary>
/// <c>/_gateway/ui/grants</c>: the tenant's grants, active and history. Admins (and platform admins)
/// see every grant, as <c>GET …/support/grants</c> shows them; a tenant user sees the grants they
/// created themself (the list endpoint is for admins).
/// </summary>
internal sealed class GrantsModel(GrantService grants, TimeProvider time) : UiPageModel
{
    public IReadOnlyList<SupportGrant>? Active { get; private set; }

    public IReadOnlyList<SupportGrant>? History { get; private set; }

    public bool OwnOnly { get; private set; }

    public DateTimeOffset Now { get; private set; }

    public async Task<IActionResult> OnGetAsync()
    {
        if (await AdmitAsync(ManagementAccessRequirement.TenantMember) is { } refused)
        {
            return refused;
        }

        OwnOnly = PageUser is { IsTenantAdmin: false, IsPlatformAdmin: false };
        Now = time.GetUtcNow();
        var all = await TryStoreAsync(ct => grants.ListAsync(Tenant!, includeHistory: true, ct));
        if (all is not null)
        {
            var shown = all.Where(g => !OwnOnly || g.CreatedBy == PageUser!.Name).OrderByDescending(g => g.CreatedAt).ToList();
            Active = [.. shown.Where(g => g.IsActiveAt(Now))];
            History = [.. shown.Where(g => !g.IsActiveAt(Now))];
        }

        return Page();
    }

    public static string Isolation(SupportGrant g) => (g.DenyData, g.DenyConfig) switch
    {
        (true, true) => "no data, config read-only",
        (true, false) => "no data",
        (false, true) => "config read-only",
        _ => "none",
    };
}

/// <summary>One table of grants on the Grants page.</summary>
internal sealed record GrantTable(GrantsModel Page, IReadOnlyList<SupportGrant> Grants, string Caption);
