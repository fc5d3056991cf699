using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Gateway.Authentication;
using Gateway.Problems;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Pages.Support;

/// <summary>What the sign-in form posts.</summary>
internal sealed class LoginInput
{
    [Display(Name = "Login name")]
    public string? Username { get; set; }

    [Display(Name = "Password")]
    public string? Password { get; set; }

    [Display(Name = "One-time code")]
    public string? Code { get; set; }
}

/// <summary>
/// <c>/_gateway/support/login</c> on a tenant host: the support engineer's sign-in. It signs in
/// through <see cref="SupportSignIn"/>, exactly as the JSON endpoint does, sets the session cookie
/// and sends the browser to <c>returnUrl</c> on this host (<see cref="ReturnUrls"/>).
/// </summary>
internal sealed class LoginModel(SupportSignIn signIn, SupportMfa mfa) : GatewayPageModel
{
    [BindProperty]
    public LoginInput Input { get; set; } = new();

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    /// <summary>The tenant served at this host, or null (then the login name must carry one).</summary>
    public string? Tenant { get; private set; }

    /// <summary>Every support user needs a one-time code (<c>Support:RequireMfa</c>).</summary>
    public bool CodeRequired => mfa.RequiredForAll;

    /// <summary>The refusal in words, or null.</summary>
    public ProblemWords? Error { get; private set; }

    public string? ErrorCode { get; private set; }

    /// <summary>The last refusal was about the one-time code: the page puts the focus there.</summary>
    public bool FocusCode { get; private set; }

    public void OnGet()
    {
        Tenant = signIn.HostTenant(HttpContext)?.Value;
        ViewData["Tenant"] = Tenant;
        ReturnUrl = ReturnUrls.Sanitize(ReturnUrl, Url.IsLocalUrl);
    }

    public async Task<IActionResult> OnPostAsync()
    {
        OnGet();
        if (!await ValidFormAsync())
        {
            return Page();
        }

        if (string.IsNullOrWhiteSpace(Input.Username) || string.IsNullOrEmpty(Input.Password))
        {
            Error = new ProblemWords("Sign-in details missing", "Enter your login name and your password.", false);
            return PageWithStatus(StatusCodes.Status400BadRequest);
        }

        var outcome = await signIn.SignInAsync(HttpContext, Input.Username.Trim(), Input.Password, Input.Code);
        if (outcome.Session is null)
        {
            var problem = outcome.Problem!;
            var (tenant, time) = ProblemPage.Context(HttpContext);
            var wait = outcome.RetryAfter is { } retry ? Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture) : null;
            if (wait is not null)
            {
                Response.Headers.RetryAfter = wait;
            }

            Error = outcome.MfaNotEnrolled
                ? new ProblemWords("Two-step sign-in not set up", "This gateway requires a one-time code, and your support account has no authenticator app enrolled yet. Ask a platform operator to enrol you (mfa enroll).", false)
                : ProblemPage.Describe(problem.Value, outcome.Tenant?.Value ?? tenant, time, wait);
            if (problem == ProblemCode.SupportNoGrant)
            {
                // Not "ended": at sign-in the engineer may never have had access.
                Error = Error with { Heading = "No active support access" };
            }

            ErrorCode = problem.Value;
            FocusCode = problem == ProblemCode.SupportLoginMfaRequired || problem == ProblemCode.SupportLoginMfaInvalid;
            return PageWithStatus(problem.Status);
        }

        signIn.AppendSessionCookie(HttpContext, outcome);
        // 303: the browser follows with a GET, and a reload of the next page never re-posts the form.
        Response.Headers.Location = ReturnUrl ?? ReturnUrls.Default;
        return StatusCode(StatusCodes.Status303SeeOther);
    }
}
