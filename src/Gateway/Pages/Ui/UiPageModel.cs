using System.Security.Claims;
using Gateway.Grants;
using Gateway.Management;
using Gateway.Problems;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.AspNetCore.Mvc.ViewFeatures;

namespace Gateway.Pages.Ui;

/// <summary>A refusal or a failed action in words: a heading, one sentence, the stable code.</summary>
internal sealed record PageMessage(string Heading, string Sentence, string? Code = null)
{
    public static PageMessage From(ProblemCode problem, string? detail) => new(problem.Title, detail ?? problem.Title + ".", problem.Value);

    public static readonly PageMessage StoreUnavailable = new(
        "Support access cannot be read right now",
        "The gateway cannot reach its grant store at the moment, so nothing was changed. Try again in a minute.",
        ProblemCode.GrantStoreUnavailable.Value);
}

/// <summary>
/// What every self-service page (<c>/_gateway/ui</c>) shares: the host's tenant, the page user from
/// the <see cref="PageSignIn.Scheme"/> cookie, the admission check (not signed in: to the sign-in
/// page; not permitted: a readable 403 page) and the pages' content security policy, which allows
/// same-origin script files (the live refresh) but no inline script or style.
/// </summary>
internal abstract class UiPageModel : GatewayPageModel
{
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    /// <summary>The tenant this host serves, or null.</summary>
    public string? Tenant { get; private set; }

    public PageUser? PageUser { get; private set; }

    /// <summary>What the last action did, in one sentence.</summary>
    public string? Done { get; protected set; }

    /// <summary>Why the last action was refused.</summary>
    public PageMessage? Failure { get; protected set; }

    protected ManagementCaller Caller => PageUser!.Caller;

    public override void OnPageHandlerExecuting(PageHandlerExecutingContext context)
    {
        base.OnPageHandlerExecuting(context);
        if (context.HandlerMethod is null)
        {
            // No handler for this method (a POST to a read-only page, an unknown ?handler=): Razor
            // Pages would render the page without running the handler that admits the user.
            context.Result = Refused(StatusCodes.Status404NotFound, new PageMessage("No such action", "This page has no such action. Go back to Support access.", "ui.no_such_action"));
            return;
        }

        Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        Tenant = HttpContext.RequestServices.GetRequiredService<TenantResolver>().TryResolve(Request.Host, out var tenant) ? tenant.Value : null;
        ViewData["Tenant"] = Tenant;
    }

    /// <summary>
    /// Null when the signed-in page user meets <paramref name="requirement"/> on this host; else the
    /// answer: a redirect to the sign-in page, or the 403/404 page in words.
    /// </summary>
    protected async Task<IActionResult?> AdmitAsync(ManagementAccessRequirement requirement)
    {
        var result = await HttpContext.AuthenticateAsync(PageSignIn.Scheme);
        PageUser = PageSignIn.Read(result.Principal);
        if (PageUser is null)
        {
            var back = Request.PathBase + Request.Path + Request.QueryString;
            return Redirect(PageSignIn.SignInPath + "?returnUrl=" + Uri.EscapeDataString(back));
        }

        ViewData["PageUser"] = PageUser;
        if (Tenant is not null)
        {
            // The management policies read the tenant from the request; pages have it from the host.
            HttpContext.Features.Set(new TenantFeature(new TenantId(Tenant)));
        }

        var principal = new ClaimsPrincipal(Caller.ToIdentity("urn:support-gateway:pages"));
        var authorization = HttpContext.RequestServices.GetRequiredService<IAuthorizationService>();
        var decision = await authorization.AuthorizeAsync(principal, HttpContext, requirement);
        if (decision.Succeeded)
        {
            return null;
        }

        var failure = decision.Failure?.FailureReasons.OfType<ManagementAccessFailure>().FirstOrDefault();
        var code = failure?.Problem ?? ProblemCode.ManagementForbidden;
        var words = code == ProblemCode.TenantNotFound
            ? new PageMessage("No tenant here", "This address serves no tenant. Open the pages on your organisation's address.", code.Value)
            : code == ProblemCode.WrongTenant
                ? new PageMessage("Another tenant's page", $"You are signed in for {PageUser.Tenant}, not for {Tenant}. Sign out and sign in on this address.", code.Value)
                : requirement.PlatformOnly
                    ? new PageMessage("For platform admins only", "This page changes support access for every tenant; only platform admins may open it.", code.Value)
                    : new PageMessage("For tenant admins only", $"This page is for the admins of {Tenant}. Ask one of them, or go back to Support access.", code.Value);
        return Refused(code.Status, words);
    }

    /// <summary>The refusal page (<c>Ui/Refused.cshtml</c>) with <paramref name="status"/>.</summary>
    protected IActionResult Refused(int status, PageMessage words)
    {
        var data = new ViewDataDictionary<PageMessage>(MetadataProvider, ModelState) { Model = words };
        data["Tenant"] = Tenant;
        data["PageUser"] = PageUser;
        data["Title"] = words.Heading;
        return new ViewResult { ViewName = "/Pages/Ui/Refused.cshtml", ViewData = data, StatusCode = status };
    }

    /// <summary>Runs a store read; a grant store that cannot answer gives null and <see cref="PageMessage.StoreUnavailable"/>.</summary>
    protected async Task<T?> TryStoreAsync<T>(Func<CancellationToken, Task<T>> call)
        where T : class?
    {
        try
        {
            return await call(HttpContext.RequestAborted);
        }
        catch (GrantStoreUnavailableException)
        {
            Failure ??= PageMessage.StoreUnavailable;
            return null;
        }
    }

    /// <summary>Runs a service call; a grant store that cannot answer is the outcome <c>grant_store.unavailable</c>.</summary>
    protected async Task<Outcome<T>> TryOutcomeAsync<T>(Func<CancellationToken, Task<Outcome<T>>> call)
    {
        try
        {
            return await call(HttpContext.RequestAborted);
        }
        catch (GrantStoreUnavailableException)
        {
            return Outcome<T>.Fail(ProblemCode.GrantStoreUnavailable);
        }
    }

    /// <summary>Shows a refused action in words and answers with its status.</summary>
    protected void Refusal<T>(Outcome<T> outcome)
    {
        var problem = outcome.Problem!;
        Failure = problem == ProblemCode.GrantStoreUnavailable ? PageMessage.StoreUnavailable : PageMessage.From(problem, outcome.Detail);
        Response.StatusCode = problem.Status;
    }

    /// <summary>"Sat 28 Nov, 18:00 (Europe/Berlin) · 17:00 UTC": a time in the tenant's zone and in UTC.</summary>
    public string When(DateTimeOffset at) => PageTime.Format(HttpContext.RequestServices, Tenant, at);

    /// <summary>303 to <paramref name="path"/>: a reload never re-posts the form.</summary>
    protected IActionResult SeeOther(string path)
    {
        Response.Headers.Location = path;
        return StatusCode(StatusCodes.Status303SeeOther);
    }
}
