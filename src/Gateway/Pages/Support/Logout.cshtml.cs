using System.Globalization;
using Gateway.Authentication;
using Gateway.Problems;
using Gateway.SupportSessions;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Pages.Support;

/// <summary>
/// <c>/_gateway/support/logout</c>: GET asks to confirm (a link or a prefetch must not end a
/// session), POST ends the session on every instance through <see cref="SupportSignIn.SignOutAsync"/>
/// (the JSON logout's call) and always clears the cookie. When the grant store cannot record the end
/// yet, the browser is still signed out, this instance refuses the session and retries, and the page
/// says so.
/// </summary>
internal sealed partial class LogoutModel(SupportSignIn signIn, ILogger<LogoutModel> logger) : GatewayPageModel
{
    public string? Tenant { get; private set; }

    /// <summary>"jill acting as john", when the browser holds a valid session.</summary>
    public string? Who { get; private set; }

    public bool SignedOut { get; private set; }

    /// <summary>Set when the store could not record the sign-out: when the session token expires.</summary>
    /// <summary>The store could not record the sign-out yet (it is refused here and retried).</summary>
    public bool Pending { get; private set; }

    public async Task OnGetAsync()
    {
        Tenant = signIn.HostTenant(HttpContext)?.Value;
        ViewData["Tenant"] = Tenant;
        var session = await HttpContext.AuthenticateAsync(SupportSessionAuthentication.Scheme);
        if (session.Succeeded && session.Principal is { } principal)
        {
            var supportUser = SessionTokenClaims.ActorSubject(principal.FindFirst("act")?.Value);
            Who = supportUser is null ? null : $"{supportUser} acting as {principal.FindFirst("sub")?.Value}";
        }
    }

    public async Task<IActionResult> OnPostAsync()
    {
        Tenant = signIn.HostTenant(HttpContext)?.Value;
        ViewData["Tenant"] = Tenant;
        if (!await ValidFormAsync())
        {
            return Page();
        }

        var session = await HttpContext.AuthenticateAsync(SupportSessionAuthentication.Scheme);
        var result = await signIn.SignOutAsync(HttpContext);
        // Whatever the store said, this browser forgets the session.
        signIn.ClearSessionCookie(HttpContext);
        SignedOut = true;
        if (result == Gateway.Authentication.SignOutResult.Pending)
        {
            Pending = true;
            LogSignOutPending(logger, Tenant ?? "(none)");
        }

        return Page();
    }

    [LoggerMessage(EventId = 1640, Level = LogLevel.Warning, Message = "Support sign-out in tenant {Tenant} not yet recorded (grant store unavailable): refused on this instance, retried until the store takes it")]
    private static partial void LogSignOutPending(ILogger logger, string tenant);
}
