using System.ComponentModel.DataAnnotations;
using Gateway.Grants;
using Gateway.Management;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Pages.Ui;

/// <summary>What the Enable support form posts; every field maps onto the grants API's request.</summary>
internal sealed class EnableInput
{
    [Display(Name = "Reason")]
    public string? Reason { get; set; }

    [Display(Name = "Duration in hours")]
    public int? DurationHours { get; set; }

    [Display(Name = "Or until the end of")]
    public DateOnly? CloseDate { get; set; }

    [Display(Name = "Grantor (the user support acts for; admins only)")]
    public string? Grantor { get; set; }

    [Display(Name = "Deny access to data")]
    public bool DenyData { get; set; } = true;

    [Display(Name = "Deny configuration changes")]
    public bool DenyConfig { get; set; } = true;
}

/// <summary>
/// <c>/_gateway/ui/</c>, Support access: the tenant's status, Enable support, Disable my request,
/// and for the tenant's admins Disable support for everyone. Every change goes through
/// <see cref="GrantService"/>, with the permissions of the management API's policies.
/// </summary>
internal sealed class IndexModel(SupportAccessReader reader, GrantService grants, TimeProvider time) : UiPageModel
{
    [BindProperty]
    public EnableInput Input { get; set; } = new();

    [BindProperty]
    [Display(Name = "Yes, end support access for everyone in this tenant")]
    public bool Confirm { get; set; }

    public SupportAccess? Access { get; private set; }

    /// <summary>The page user's own active grants (what "Disable my request" revokes).</summary>
    public IReadOnlyList<SupportGrant> Mine { get; private set; } = [];

    public int MaxDurationHours { get; private set; }

    public bool CanChange => PageUser is { IsPlatformAdmin: false };

    public bool IsAdmin => PageUser is { IsTenantAdmin: true };

    public async Task<IActionResult> OnGetAsync(string? done)
    {
        if (await AdmitAsync(ManagementAccessRequirement.TenantMember) is { } refused)
        {
            return refused;
        }

        Done = done switch
        {
            "enabled" => "Support access is enabled.",
            "disabled-mine" => "Your support request is disabled.",
            "disabled-all" => "Support access is disabled for everyone in this tenant.",
            "none-mine" => "You have no active support request to disable.",
            _ => null,
        };

        // The boxes start as the platform's defaults for new grants (both ticked unless the platform says otherwise).
        if (await TryStoreAsync(ct => grants.GetPlatformSettingsAsync(ct)) is { } settings)
        {
            Input.DenyData = settings.DefaultDenyData;
            Input.DenyConfig = settings.DefaultDenyConfig;
        }

        await LoadAsync();
        return Page();
    }

    public async Task<IActionResult> OnPostEnableAsync()
    {
        if (await AdmitAsync(ManagementAccessRequirement.TenantMemberOnly) is { } refused)
        {
            return refused;
        }

        if (!await ValidFormAsync())
        {
            await LoadAsync();
            return Page();
        }

        if (!ModelState.IsValid)
        {
            Failure = new PageMessage("Check the form", "Duration: a whole number of hours. Close date: a date.");
            await LoadAsync();
            return PageWithStatus(StatusCodes.Status400BadRequest);
        }

        var request = new CreateGrantRequest
        {
            Reason = string.IsNullOrWhiteSpace(Input.Reason) ? null : Input.Reason.Trim(),
            DurationHours = Input.DurationHours,
            CloseDate = Input.CloseDate,
            Grantor = string.IsNullOrWhiteSpace(Input.Grantor) ? null : Input.Grantor.Trim(),
            DenyData = Input.DenyData,
            DenyConfig = Input.DenyConfig,
        };
        var outcome = await TryOutcomeAsync(ct => grants.CreateAsync(Caller, Tenant!, request, ct));
        if (outcome.Succeeded)
        {
            return SeeOther(PageSignIn.BasePath + "/?done=enabled");
        }

        Refusal(outcome);
        await LoadAsync();
        return Page();
    }

    public async Task<IActionResult> OnPostDisableMineAsync()
    {
        if (await AdmitAsync(ManagementAccessRequirement.TenantMemberOnly) is { } refused)
        {
            return refused;
        }

        if (!await ValidFormAsync())
        {
            await LoadAsync();
            return Page();
        }

        var active = await TryStoreAsync(ct => grants.ListAsync(Tenant!, includeHistory: false, ct));
        var revoked = 0;
        foreach (var grant in active?.Where(g => g.CreatedBy == Caller.Subject) ?? [])
        {
            var outcome = await TryOutcomeAsync(ct => grants.RevokeAsync(Caller, Tenant!, grant.Id.Value, ct));
            if (outcome.Succeeded)
            {
                revoked++;
            }
            else if (outcome.Problem != Problems.ProblemCode.GrantNotActive)
            {
                Refusal(outcome);
            }
        }

        if (Failure is not null)
        {
            await LoadAsync();
            return Page();
        }

        return SeeOther(PageSignIn.BasePath + (revoked > 0 ? "/?done=disabled-mine" : "/?done=none-mine"));
    }

    public async Task<IActionResult> OnPostDisableAllAsync()
    {
        if (await AdmitAsync(ManagementAccessRequirement.TenantAdminOnly) is { } refused)
        {
            return refused;
        }

        if (!await ValidFormAsync())
        {
            await LoadAsync();
            return Page();
        }

        if (!Confirm)
        {
            Failure = new PageMessage("Not confirmed", "Tick the confirmation box to end support access for everyone.");
            await LoadAsync();
            return PageWithStatus(StatusCodes.Status400BadRequest);
        }

        var outcome = await TryOutcomeAsync(ct => grants.RevokeAllAsync(Caller, Tenant!, ct));
        if (outcome.Succeeded)
        {
            return SeeOther(PageSignIn.BasePath + "/?done=disabled-all");
        }

        Refusal(outcome);
        await LoadAsync();
        return Page();
    }

    private async Task LoadAsync()
    {
        MaxDurationHours = HttpContext.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<GrantsOptions>>().Value.MaxDurationHours;
        var result = await reader.GetAsync(Tenant!, HttpContext.RequestAborted);
        Access = result.Access;
        if (Access is not null)
        {
            // The status box says it when the store cannot answer; no second message for the list.
            var active = await TryStoreAsync(ct => grants.ListAsync(Tenant!, includeHistory: false, ct));
            var now = time.GetUtcNow();
            Mine = [.. (active ?? []).Where(g => g.CreatedBy == PageUser!.Name && g.IsActiveAt(now))];
        }
    }
}
