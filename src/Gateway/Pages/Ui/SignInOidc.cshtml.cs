using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Pages.Ui;

/// <summary>
/// <c>GET /_gateway/ui/signin/oidc/{name}?returnUrl=…</c>: starts the authorization code flow of
/// issuer <c>{name}</c> (a redirect to its authorize endpoint); the callback comes back to
/// <c>/_gateway/ui/signin-oidc-{name}</c> and then to the (safe) return URL. Offered in production too.
/// </summary>
internal sealed class SignInOidcModel(PageOidcProviders providers) : UiPageModel
{
    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public IActionResult OnGet(string name)
    {
        if (providers.All.All(p => p.Name != name))
        {
            return SeeOther(PageSignIn.SignInPath + "?error=failed");
        }

        var next = SignInModel.Next(ReturnUrl, Url.IsLocalUrl);
        return Challenge(new AuthenticationProperties { RedirectUri = next }, PageOidc.SchemePrefix + name);
    }
}
