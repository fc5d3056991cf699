using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Gateway.Grants;
using Gateway.Management;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Gateway.Pages.Ui.Platform;

/// <summary>The platform settings form: the whole settings object, as <c>PUT /_gateway/platform/support</c> takes it.</summary>
internal sealed class SettingsInput
{
    [Display(Name = "Support enabled for every tenant")]
    public bool EnabledForAllTenants { get; set; }

    [Display(Name = "Default duration of a request (hours)")]
    public int RequestDurationHours { get; set; } = 24;

    [Display(Name = "New grants deny data by default")]
    public bool DefaultDenyData { get; set; } = true;

    [Display(Name = "New grants deny configuration changes by default")]
    public bool DefaultDenyConfig { get; set; } = true;
}

/// <summary>The per-tenant override form, as <c>PUT /_gateway/platform/tenants/{tenant}/support</c> takes it.</summary>
internal sealed class OverrideInput
{
    [Display(Name = "Tenant")]
    public string? Tenant { get; set; }

    [Display(Name = "Support access")]
    public string Mode { get; set; } = "inherit";

    [Display(Name = "Until (UTC, optional)")]
    public string? Until { get; set; }
}

/// <summary>
/// <c>/_gateway/ui/platform</c> (platform admins): the platform settings and the per-tenant
/// overrides, read and changed through <see cref="GrantService"/> as the platform endpoints do.
/// </summary>
internal sealed class SettingsModel(GrantService grants, IGrantStore store, IOptions<TenancyOptions> tenancy) : UiPageModel
{
    [BindProperty]
    public SettingsInput Settings { get; set; } = new();

    [BindProperty]
    public OverrideInput Override { get; set; } = new();

    public IReadOnlyList<string> Tenants => [.. tenancy.Value.Tenants.Keys.Order(StringComparer.Ordinal)];

    /// <summary>Each tenant's override in force, or null (inherit); null list when the store cannot answer.</summary>
    public IReadOnlyList<(string Tenant, TenantSupportOverride? Override)>? Overrides { get; private set; }

    public async Task<IActionResult> OnGetAsync(string? done)
    {
        if (await AdmitAsync(ManagementAccessRequirement.PlatformAdmin) is { } refused)
        {
            return refused;
        }

        Done = done switch
        {
            "settings" => "The platform settings are saved.",
            "override" => "The tenant's override is saved.",
            _ => null,
        };
        await LoadAsync(fillSettings: true);
        return Page();
    }

    public async Task<IActionResult> OnPostSettingsAsync()
    {
        if (await AdmitAsync(ManagementAccessRequirement.PlatformAdmin) is { } refused)
        {
            return refused;
        }

        if (!await ValidFormAsync())
        {
            await LoadAsync(fillSettings: false);
            return Page();
        }

        if (!ModelState.IsValid)
        {
            Failure = new PageMessage("Check the form", "Default duration: a whole number of hours.");
            Response.StatusCode = StatusCodes.Status400BadRequest;
            await LoadAsync(fillSettings: false);
            return Page();
        }

        var request = new PlatformSettingsRequest
        {
            EnabledForAllTenants = Settings.EnabledForAllTenants,
            RequestDurationHours = Settings.RequestDurationHours,
            DefaultDenyData = Settings.DefaultDenyData,
            DefaultDenyConfig = Settings.DefaultDenyConfig,
        };
        var outcome = await TryOutcomeAsync(ct => grants.SetPlatformSettingsAsync(Caller, request, ct));
        if (outcome.Succeeded)
        {
            return SeeOther(PageSignIn.BasePath + "/platform?done=settings");
        }

        Refusal(outcome);
        await LoadAsync(fillSettings: false);
        return Page();
    }

    public async Task<IActionResult> OnPostOverrideAsync()
    {
        if (await AdmitAsync(ManagementAccessRequirement.PlatformAdmin) is { } refused)
        {
            return refused;
        }

        if (!await ValidFormAsync())
        {
            await LoadAsync(fillSettings: true);
            return Page();
        }

        DateTimeOffset? until = null;
        TenantOverrideMode? mode = Override.Mode switch
        {
            "inherit" => TenantOverrideMode.Inherit,
            "enabled" => TenantOverrideMode.Enabled,
            "disabled" => TenantOverrideMode.Disabled,
            _ => null,
        };
        if (!string.IsNullOrWhiteSpace(Override.Until))
        {
            if (DateTime.TryParse(Override.Until, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
            {
                until = new DateTimeOffset(parsed, TimeSpan.Zero);
            }
            else
            {
                mode = null;
            }
        }

        if (mode is not { } chosen || string.IsNullOrEmpty(Override.Tenant))
        {
            Failure = new PageMessage("Check the form", "Choose a tenant and a mode; Until is a date and time in UTC, or empty.");
            Response.StatusCode = StatusCodes.Status400BadRequest;
            await LoadAsync(fillSettings: true);
            return Page();
        }

        var outcome = await TryOutcomeAsync(ct => grants.SetTenantOverrideAsync(Caller, Override.Tenant, new TenantOverrideRequest { Mode = chosen, Until = until }, ct));
        if (outcome.Succeeded)
        {
            return SeeOther(PageSignIn.BasePath + "/platform?done=override");
        }

        Refusal(outcome);
        await LoadAsync(fillSettings: true);
        return Page();
    }

    private async Task LoadAsync(bool fillSettings)
    {
        if (fillSettings && await TryStoreAsync(ct => grants.GetPlatformSettingsAsync(ct)) is { } current)
        {
            Settings = new SettingsInput
            {
                EnabledForAllTenants = current.EnabledForAllTenants,
                RequestDurationHours = current.RequestDurationHours,
                DefaultDenyData = current.DefaultDenyData,
                DefaultDenyConfig = current.DefaultDenyConfig,
            };
        }

        var overrides = new List<(string, TenantSupportOverride?)>();
        foreach (var tenant in Tenants)
        {
            var state = await TryStoreAsync(ct => store.GetStateAsync(tenant, ct));
            if (state is null)
            {
                Overrides = null;
                return;
            }

            overrides.Add((tenant, state.Override));
        }

        Overrides = overrides;
        Override.Tenant ??= Tenant ?? Tenants.FirstOrDefault();
    }

    public static string Mode(TenantOverrideMode mode) => mode.ToString().ToLowerInvariant();
}
