using System.Text;
using System.Text.Encodings.Web;
using Gateway.Problems;
using Gateway.SupportSessions;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Banner;

/// <summary>
/// The support-session banner ("Support session: jill acting as john — ends 18:00 — sign out") on
/// the HTML pages of support sessions, so a screen share or a screenshot always shows who is acting.
/// Runs in the proxy pipeline after the support decision. Ordinary traffic costs one feature lookup;
/// a support request is wrapped only when its route shows the banner (<c>SupportBanner</c> metadata,
/// default true), it is a GET, not a range request, and it asks for a document (<c>Accept</c> prefers
/// <c>text/html</c>). Then the backend is asked for the whole, uncompressed page (no
/// <c>Accept-Encoding</c>, no conditional headers: a 304 would show a cached copy without the banner),
/// and <see cref="BannerInjectingStream"/> decides from the response's headers whether to rewrite it.
/// </summary>
internal sealed class SupportBannerMiddleware(RequestDelegate next)
{
    public const string StylesheetPath = "/_gateway/assets/banner.css";

    public Task InvokeAsync(HttpContext context)
    {
        var session = context.Features.Get<SupportSessionFeature>();
        if (session is null || !session.Route.Banner)
        {
            return next(context);
        }

        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method) || request.Headers.Range.Count > 0 || !ProblemPage.PrefersHtml(request.Headers.Accept))
        {
            return next(context);
        }

        return WithBannerAsync(context, session);
    }

    /// <summary>The banner's bytes: ASCII only (names as character references), so it fits any ASCII-compatible page.</summary>
    internal static byte[] Markup(string supportUser, string targetUser, string? endsAt, bool signOut)
    {
        var e = HtmlEncoder.Default;
        var html = new StringBuilder(384)
            .Append("<link rel=\"stylesheet\" href=\"").Append(StylesheetPath).Append("\">")
            .Append("<div class=\"sgw-banner\" role=\"status\" data-support-banner=\"\">Support session: <strong>")
            .Append(e.Encode(supportUser)).Append("</strong> acting as <strong>").Append(e.Encode(targetUser)).Append("</strong>");
        if (endsAt is not null)
        {
            html.Append(" &mdash; ends ").Append(e.Encode(endsAt));
        }

        if (signOut)
        {
            html.Append(" &mdash; <a href=\"").Append(ProblemPage.SignOutPath).Append("\">sign out</a>");
        }

        html.Append("</div>");
        return Encoding.ASCII.GetBytes(html.ToString());
    }

    private async Task WithBannerAsync(HttpContext context, SupportSessionFeature session)
    {
        var headers = context.Request.Headers;
        headers.AcceptEncoding = default;
        headers.IfNoneMatch = default;
        headers.IfModifiedSince = default;
        headers.IfMatch = default;
        headers.IfUnmodifiedSince = default;
        headers.IfRange = default;

        // The session ends when its token does, or its access, whichever is first.
        var ends = session.Access.Until;
        if (context.Features.Get<SupportCredentials>()?.Claims?.Expires is { } tokenExpires && (ends is null || tokenExpires < ends))
        {
            ends = tokenExpires;
        }

        var endsAt = ends is { } at ? ProblemPage.LocalTime(context.RequestServices, session.Tenant.Value, at) : null;
        var banner = Markup(session.SupportUser, session.TargetUser, endsAt, session.Credential == SupportCredentialKind.SessionToken);

        var original = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var injecting = new BannerInjectingStream(context, original.Stream, banner);
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(injecting, original));
        try
        {
            await next(context);
            await injecting.CompleteAsync(context.RequestAborted);
        }
        finally
        {
            context.Features.Set(original);
        }
    }
}
