using System.ComponentModel.DataAnnotations;
using Gateway.Grants;
using Gateway.Management;
using Gateway.Policy;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Gateway.Pages.Ui.Platform;

/// <summary>The explain form: what <see cref="PolicyExplainer.ExplainAsync"/> takes.</summary>
internal sealed class ExplainInput
{
    [Display(Name = "Tenant")]
    public string? Tenant { get; set; }

    [Display(Name = "Method")]
    public string Method { get; set; } = "GET";

    [Display(Name = "Path")]
    public string Path { get; set; } = "/";

    [Display(Name = "Isolation of the grant")]
    public string Isolation { get; set; } = "denyData,denyConfig";
}

/// <summary>
/// <c>/_gateway/ui/platform/explain</c> (platform admins): "for this tenant, isolation and request:
/// which route, which class, allowed or not, and why", answered by <see cref="PolicyExplainer"/>
/// (the gateway's own routing and <see cref="SupportAuthorizer.Decide"/>). A GET form: it changes nothing.
/// </summary>
internal sealed class ExplainModel(PolicyExplainer explainer, IOptions<TenancyOptions> tenancy) : UiPageModel
{
    public static readonly IReadOnlyList<string> Methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    public static readonly IReadOnlyList<string> Isolations = ["denyData,denyConfig", "denyData", "denyConfig", "none"];

    [BindProperty(SupportsGet = true)]
    public ExplainInput Input { get; set; } = new();

    public IReadOnlyList<string> Tenants => [.. tenancy.Value.Tenants.Keys.Order(StringComparer.Ordinal)];

    public PolicyExplanation? Answer { get; private set; }

    public async Task<IActionResult> OnGetAsync(string? explain)
    {
        if (await AdmitAsync(ManagementAccessRequirement.PlatformAdmin) is { } refused)
        {
            return refused;
        }

        Input.Tenant ??= Tenant ?? Tenants.FirstOrDefault();
        if (explain is null)
        {
            return Page();
        }

        // The API's rules (PolicyEndpoints.Validate), plus what the form's own fields allow.
        var error = PolicyEndpoints.Validate(new ExplainRequest { Tenant = Input.Tenant, Method = Input.Method, Path = Input.Path });
        if (error is not null || !Methods.Contains(Input.Method) || !SupportAccess.TryParseIsolation(Input.Isolation, out var denyData, out var denyConfig) || Input.Path![0] != '/')
        {
            Failure = new PageMessage("Check the form", "Choose a tenant, a method and an isolation; the path starts with / (a query may follow)." + (error is null ? "" : " " + char.ToUpperInvariant(error[0]) + error[1..]));
            return PageWithStatus(StatusCodes.Status400BadRequest);
        }

        Answer = await explainer.ExplainAsync(Input.Tenant!, Input.Method, Input.Path, denyData, denyConfig, cancellationToken: HttpContext.RequestAborted);
        return Page();
    }
}
