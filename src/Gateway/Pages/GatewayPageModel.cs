using Gateway.Problems;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Gateway.Pages;

/// <summary>
/// What every gateway page shares: the security headers (strict CSP, no framing, no referrer, no
/// caching), and an antiforgery check that answers a stale form with a page, not an empty 400.
/// </summary>
[IgnoreAntiforgeryToken] // validated in ValidFormAsync, so an expired form gets words, not a bare 400
internal abstract class GatewayPageModel : PageModel
{
    /// <summary>Set when a posted form failed the antiforgery check.</summary>
    public bool FormExpired { get; private set; }

    public override void OnPageHandlerExecuting(PageHandlerExecutingContext context)
    {
        ProblemPage.ApplySecurityHeaders(Response.Headers);
        base.OnPageHandlerExecuting(context);
    }

    /// <summary>True for a form post with a valid antiforgery token; otherwise the page says the form expired (400).</summary>
    protected async Task<bool> ValidFormAsync()
    {
        var antiforgery = HttpContext.RequestServices.GetRequiredService<IAntiforgery>();
        if (Request.HasFormContentType && await antiforgery.IsRequestValidAsync(HttpContext))
        {
            return true;
        }

        FormExpired = true;
        Response.StatusCode = StatusCodes.Status400BadRequest;
        return false;
    }

    /// <summary>The page with the status of <paramref name="status"/>.</summary>
    protected PageResult PageWithStatus(int status)
    {
        Response.StatusCode = status;
        return Page();
    }
}
