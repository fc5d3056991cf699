using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Gateway.Tenancy;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Gateway.Problems;

/// <summary>A problem in words a support engineer understands: a heading and one sentence.</summary>
internal sealed record ProblemWords(string Heading, string Sentence, bool OffersSignIn);

/// <summary>
/// The HTML form of a <see cref="GatewayProblem"/> for browsers: the same status and headers, a
/// heading and a sentence per code, the stable code in small print, links to sign in again and to
/// sign out. Nothing is said that the problem document does not say (the words depend on the code,
/// the tenant of the host and the time only). Chosen by content negotiation in
/// <see cref="GatewayProblem.WriteAsync"/>; API clients keep problem+json byte for byte.
/// </summary>
internal static class ProblemPage
{
    public const string SignInPath = "/_gateway/support/login";
    public const string SignOutPath = "/_gateway/support/logout";
    public const string Stylesheet = "/_gateway/assets/gateway.css";

    /// <summary>The strict policy of every page the gateway renders: no script, no inline style, no framing.</summary>
    public const string ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    private static readonly PathString SupportPages = new("/_gateway/support");

    /// <summary>
    /// True when the answer should be a page: the client lists <c>text/html</c> before any JSON type
    /// (as browsers do; by quality, then order), and the request is on a tenant host (or is one of
    /// the support pages, which live under <c>/_gateway</c> on tenant hosts). No <c>Accept</c>,
    /// <c>*/*</c> or JSON first: problem+json.
    /// </summary>
    public static bool ShouldRender(HttpContext context) =>
        (context.Features.Get<TenantFeature>() is not null || context.Request.Path.StartsWithSegments(SupportPages, StringComparison.OrdinalIgnoreCase))
        && PrefersHtml(context.Request.Headers.Accept);

    public static bool PrefersHtml(Microsoft.Extensions.Primitives.StringValues accept)
    {
        if (accept.Count == 0 || !MediaTypeHeaderValue.TryParseList(accept, out var types))
        {
            return false;
        }

        // Highest quality first; a stable sort keeps the client's order among equals.
        foreach (var type in types.Where(t => (t.Quality ?? 1) > 0).OrderByDescending(t => t.Quality ?? 1))
        {
            var media = type.MediaType;
            if (media.Equals("text/html", StringComparison.OrdinalIgnoreCase) || media.Equals("application/xhtml+xml", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            if (media.Equals("*/*", StringComparison.Ordinal) || media.Equals("application/*", StringComparison.OrdinalIgnoreCase)
                || media.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.EndsWith("+json", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        return false;
    }

    /// <summary>The words for a code. <paramref name="tenant"/> is the host's tenant (or null), <paramref name="at"/> the local time, <paramref name="wait"/> a Retry-After.</summary>
    public static ProblemWords Describe(string code, string? tenant, string at, string? wait)
    {
        var t = tenant ?? "this tenant";
        var who = tenant is null ? "A user of the tenant" : $"A user of {tenant}";
        return code switch
        {
            "support.login.invalid" => new("Sign-in failed", "The login name or password is wrong.", true),
            "support.login.malformed" => new("Check the login name", "A support login name is your name, a $ and the user you act as: jill$john, jill$ for the tenant's admin, or acme/jill$john.", true),
            "support.login.tenant_mismatch" => new("Wrong tenant in the login name", "The tenant before the / is not the tenant of this address. Sign in on that tenant's address, or leave the tenant out.", true),
            "support.login.tenant_required" => new("Which tenant?", "This address serves no tenant. Open the sign-in page on the customer's address, or write the tenant first: acme/jill$john.", true),
            "support.login.rate_limited" => new("Too many failed sign-ins", wait is null ? "Wait a few minutes, then try again." : $"Wait {wait} seconds, then try again.", true),
            "support.login.busy" => new("The gateway is busy", "Many sign-ins are being checked at once. Try again in a moment.", true),
            "support.login.mfa_required" => new("One-time code needed", "Enter the 6-digit code from your authenticator app together with your password.", true),
            "support.login.mfa_invalid" => new("One-time code not accepted", "The code is wrong, has expired or was already used. Wait for the next code in your authenticator app and try again.", true),
            "request.credentials_unreadable" => new("Credentials not readable", "The browser sent sign-in details the gateway cannot read. Sign out, close the tab and sign in again.", true),
            "support.session.invalid" => new("Not signed in", $"Your support session for {t} is no longer valid (it expired or was signed out). Sign in again to continue.", true),
            "support.session.ended" => new("Support session ended", $"Your support session for {t} has ended (as of {at}). Sign in again to continue.", true),
            "support.session.wrong_tenant" => new("Signed in to another tenant", $"Your support session belongs to another tenant, not {t}. Sign in on this address to work here.", true),
            "support.not_permitted" => new("Not permitted for this tenant", $"Your support account may not support {t}.", false),
            "support.no_grant" => new("Support access ended", $"Support access to {t} is not active as of {at}. {who} can enable support in the Support access page or their user menu; then sign in again.", true),
            "support.disabled_for_tenant" => new("Support switched off", $"The platform has switched support access off for {t}.", false),
            "support.no_target" => new("No user to act as", $"Write the user you act as after the $ (jill$john), or ask {t} to name a designated admin.", true),
            "support.target_not_granted" => new("Not granted for this user", $"{t}'s support grants do not let support act as this user. Sign in as a user the grant names (the tenant's Support access page shows whom).", true),
            "support.isolation.data" => new("Hidden from support", $"This page holds {t}'s records; the tenant's grant hides them from support.", false),
            "support.isolation.config" => new("Configuration is read-only", $"The tenant's grant lets support read {t}'s configuration, not change it.", false),
            "support.forbidden_route" => new("Not open to support", "This part of the application is never open to support sessions (credentials, billing, support access itself).", false),
            "support.request.ambiguous" => new("Address not accepted", "The address could mean different things to the gateway and the application (encoded slashes, dot segments and the like). Use a plain link.", false),
            "grant_store.unavailable" => new("Support access cannot be checked", $"The gateway cannot check {t}'s support access right now, so it lets no support request through. Try again in a minute.", false),
            "audit.unavailable" => new("Cannot record this action", "Every support action is recorded; the audit trail cannot take more right now, so the gateway refuses it. Try again in a minute.", false),
            "gateway.no_route" => new("Page not found", "The gateway has no application route for this address.", false),
            "proxy.backend_unavailable" => new("Application unreachable", $"{(tenant is null ? "The application" : $"{tenant}'s application")} could not be reached. Try again in a moment.", false),
            "proxy.backend_timeout" => new("Application too slow", $"{(tenant is null ? "The application" : $"{tenant}'s application")} did not answer in time. Try again in a moment.", false),
            "proxy.bad_gateway" => new("Application answer broken", "The application's answer could not be passed on. Try again in a moment.", false),
            _ => new("The request was refused", "The gateway refused this request.", false),
        };
    }

    /// <summary>The tenant of the request (host) and the current time in its zone, "14:02".</summary>
    public static (string? Tenant, string Time) Context(HttpContext context)
    {
        var services = context.RequestServices;
        var tenant = context.Features.Get<TenantFeature>()?.Tenant.Value;
        if (tenant is null && services.GetService<TenantResolver>() is { } resolver && resolver.TryResolve(context.Request.Host, out var resolved))
        {
            tenant = resolved.Value;
        }

        var now = (services.GetService<TimeProvider>() ?? TimeProvider.System).GetUtcNow();
        return (tenant, LocalTime(services, tenant, now));
    }

    /// <summary>"14:02" in the tenant's configured time zone (UTC when unknown), with the zone's name when it is not UTC.</summary>
    public static string LocalTime(IServiceProvider services, string? tenant, DateTimeOffset at)
    {
        var zoneId = tenant is not null && services.GetService<IOptions<TenancyOptions>>()?.Value.Tenants.TryGetValue(tenant, out var options) == true
            ? options!.TimeZone
            : "UTC";
        var zone = TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out var found) ? found : TimeZoneInfo.Utc;
        var local = TimeZoneInfo.ConvertTime(at, zone);
        return local.ToString("HH:mm", CultureInfo.InvariantCulture) + (zone == TimeZoneInfo.Utc ? " UTC" : $" ({zone.Id})");
    }

    /// <summary>The headers every gateway page carries (sign-in pages and refusals).</summary>
    public static void ApplySecurityHeaders(IHeaderDictionary headers)
    {
        headers.CacheControl = "no-store";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
    }

    /// <summary>The page's bytes (UTF-8).</summary>
    public static byte[] Render(HttpContext context, GatewayProblem problem)
    {
        var (tenant, time) = Context(context);
        var wait = context.Response.Headers.RetryAfter.ToString();
        var words = Describe(problem.Code, tenant, time, wait.Length > 0 ? wait : null);
        var e = HtmlEncoder.Default;
        var returnUrl = context.Request.Path.StartsWithSegments("/_gateway", StringComparison.OrdinalIgnoreCase)
            ? "/"
            : context.Request.PathBase + context.Request.Path + context.Request.QueryString;
        var signIn = SignInPath + "?returnUrl=" + Uri.EscapeDataString(returnUrl);

        var html = new StringBuilder(2048);
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"robots\" content=\"noindex\">\n")
            .Append("<title>").Append(e.Encode(words.Heading)).Append(" · Support gateway</title>\n")
            .Append("<link rel=\"stylesheet\" href=\"").Append(Stylesheet).Append("\">\n</head>\n<body>\n")
            .Append("<header class=\"top\"><span class=\"brand\">Support gateway</span>");
        if (tenant is not null)
        {
            html.Append("<span class=\"tenant\">").Append(e.Encode(tenant)).Append("</span>");
        }

        html.Append("</header>\n<main class=\"card refusal\">\n")
            .Append("<p class=\"status\">").Append(problem.Status.ToString(CultureInfo.InvariantCulture)).Append("</p>\n")
            .Append("<h1>").Append(e.Encode(words.Heading)).Append("</h1>\n")
            .Append("<p class=\"lead\">").Append(e.Encode(words.Sentence)).Append("</p>\n")
            .Append("<nav class=\"actions\" aria-label=\"What next\">");
        if (words.OffersSignIn)
        {
            html.Append("<a class=\"button primary\" href=\"").Append(e.Encode(signIn)).Append("\">Sign in again</a>");
        }
        else if (problem.Status >= 500)
        {
            html.Append("<a class=\"button primary\" href=\"").Append(e.Encode(returnUrl)).Append("\">Try again</a>");
        }
        else if (returnUrl != "/")
        {
            html.Append("<a class=\"button primary\" href=\"/\">Start page</a>");
        }

        html.Append("<a class=\"button\" href=\"").Append(SignOutPath).Append("\">Sign out</a></nav>\n")
            .Append("<p class=\"code\">Code <code>").Append(e.Encode(problem.Code)).Append("</code>");
        if (problem.TraceId is { Length: > 0 } trace)
        {
            html.Append(" · trace <code>").Append(e.Encode(trace)).Append("</code>");
        }

        html.Append("</p>\n</main>\n</body>\n</html>\n");
        return Encoding.UTF8.GetBytes(html.ToString());
    }
}
