using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Pages.Ui;

/// <summary>
/// <c>/_gateway/ui/signin</c>: the DEMO sign-in of the self-service pages. One button per demo user
/// of this host's tenant and the platform admin; no password. Refused with a page when
/// <c>Gateway:Production</c> is true (a passwordless button must never reach production). The
/// buttons of the issuers with a pages client (<see cref="PageOidc"/>) are offered everywhere.
/// </summary>
internal sealed partial class SignInModel(IConfiguration configuration, PageOidcProviders oidc, ILogger<SignInModel> logger) : UiPageModel
{
    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public bool Production => configuration.GetValue<bool>("Gateway:Production");

    /// <summary>
    /// Like the rest of the demo material, the password-less sign-in answers only a client on this
    /// machine (the client behind a trusted proxy counts), unless <c>Gateway:Demo:AllowNonLoopback</c>
    /// (the compose demo) says otherwise: a demo left listening on a public address gives nobody a
    /// tenant admin's page.
    /// </summary>
    public bool FromElsewhere =>
        !(HttpContext.Connection.RemoteIpAddress is { } client && System.Net.IPAddress.IsLoopback(client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client))
        && !configuration.GetValue<bool>("Gateway:Demo:AllowNonLoopback");

    /// <summary>True when the demo sign-in is not offered to this request.</summary>
    public bool DemoRefused => Production || FromElsewhere;

    public IReadOnlyList<PageUser> Users { get; private set; } = [];

    /// <summary>The "Sign in with …" buttons (issuers with a pages client).</summary>
    public IReadOnlyList<PageOidcProvider> Providers => oidc.All;

    public IActionResult OnGet(string? error = null)
    {
        Users = DemoPageUsers.For(Tenant);
        ReturnUrl = Next(ReturnUrl);
        if (PageOidc.Message(error) is { } failed)
        {
            // A failed or refused OIDC sign-in comes back here: in words, with a 4xx status.
            Failure = failed;
            return PageWithStatus(error is PageOidcRefusal.NoRole or PageOidcRefusal.WrongTenant ? StatusCodes.Status403Forbidden : StatusCodes.Status400BadRequest);
        }

        return DemoRefused && Providers.Count == 0 ? PageWithStatus(StatusCodes.Status403Forbidden) : Page();
    }

    public async Task<IActionResult> OnPostAsync(string? user)
    {
        OnGet(null);
        if (!await ValidFormAsync())
        {
            return Page();
        }

        if (DemoRefused)
        {
            return PageWithStatus(StatusCodes.Status403Forbidden);
        }

        if (Users.FirstOrDefault(u => u.Name == user) is not { } chosen)
        {
            Failure = new PageMessage("Unknown demo user", "Choose one of the users listed below.");
            return PageWithStatus(StatusCodes.Status400BadRequest);
        }

        await HttpContext.SignInAsync(PageSignIn.Scheme, PageSignIn.Principal(chosen));
        LogDemoSignIn(logger, chosen.Name, chosen.Role, Tenant ?? "(none)");
        var next = ReturnUrl == PageSignIn.BasePath + "/" && chosen.IsPlatformAdmin ? PageSignIn.BasePath + "/platform" : ReturnUrl!;
        return SeeOther(next);
    }

    /// <summary>A page of <c>/_gateway/ui</c> on this host (no open redirect, no loop back to sign-in), else the start page.</summary>
    private string Next(string? candidate) => Next(candidate, Url.IsLocalUrl);

    internal static string Next(string? candidate, Func<string, bool> isLocalUrl)
    {
        if (!ReturnUrls.IsSafe(candidate, isLocalUrl))
        {
            return PageSignIn.BasePath + "/";
        }

        // The prefixes on the decoded text: "/_gateway/ui/%73ignin" is the sign-in page too.
        var path = Uri.UnescapeDataString(candidate!);
        return path.StartsWith(PageSignIn.BasePath + "/", StringComparison.Ordinal)
            && !path.StartsWith(PageSignIn.SignInPath, StringComparison.OrdinalIgnoreCase)
                ? candidate!
                : PageSignIn.BasePath + "/";
    }

    [LoggerMessage(EventId = 1650, Level = LogLevel.Information, Message = "Demo page sign-in as {User} ({Role}) on tenant host {Tenant}")]
    private static partial void LogDemoSignIn(ILogger logger, string user, string role, string tenant);
}

/// <summary><c>POST /_gateway/ui/signout</c>: forgets the page cookie and shows the sign-in page.</summary>
internal sealed class SignOutModel : UiPageModel
{
    public IActionResult OnGet() => SeeOther(PageSignIn.SignInPath);

    /// <summary>
    /// Signing out only reduces access, so it always succeeds: no antiforgery token is asked for
    /// (a forged sign-out costs the user a sign-in; refusing a real one would leave a session
    /// open on a shared machine).
    /// </summary>
    public async Task<IActionResult> OnPostAsync()
    {
        await HttpContext.SignOutAsync(PageSignIn.Scheme);
        return SeeOther(PageSignIn.SignInPath);
    }
}
