using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

using Gateway.Authentication;

namespace Gateway.SupportSessions;

/// <summary>
/// Identity to the backend. On all traffic, every inbound header with the
/// gateway's identity prefix is removed, so no client can forge one. On allowed support
/// requests the support user's credentials (Authorization, the session cookie) are removed
/// and the gateway's identity headers and signed identity token are added. The session
/// cookie is removed from every request.
/// </summary>
internal sealed class IdentityTransformProvider(IOptions<SupportOptions> options, SupportTokens tokens) : ITransformProvider
{
    public const string TenantHeader = "Tenant";
    public const string UserHeader = "User";
    public const string SupportUserHeader = "Support-User";
    public const string IsolationHeader = "Isolation";
    public const string GrantsHeader = "Grants";
    public const string IdentityTokenHeader = "Identity";

    private readonly SupportOptions _options = options.Value;
    private readonly InboundHeaderFilter _inbound = new(options.Value);

    // The full header names, made once (the prefix is configuration fixed at start).
    private readonly string _tenantHeader = options.Value.IdentityHeaderPrefix + TenantHeader;
    private readonly string _userHeader = options.Value.IdentityHeaderPrefix + UserHeader;
    private readonly string _supportUserHeader = options.Value.IdentityHeaderPrefix + SupportUserHeader;
    private readonly string _isolationHeader = options.Value.IdentityHeaderPrefix + IsolationHeader;
    private readonly string _grantsHeader = options.Value.IdentityHeaderPrefix + GrantsHeader;
    private readonly string _identityTokenHeader = options.Value.IdentityHeaderPrefix + IdentityTokenHeader;

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context) => context.AddRequestTransform(ApplyIdentity);

    private ValueTask ApplyIdentity(RequestTransformContext context)
    {
        var headers = context.ProxyRequest.Headers;

        // The proxy request's headers are copies of the inbound ones: look at the inbound
        // collection first (cheap), and only rebuild when a header to strip is there.
        if (_inbound.AnyToStrip(context.HttpContext.Request.Headers))
        {
            foreach (var name in headers.Select(h => h.Key).Where(_inbound.ShouldStrip).ToList())
            {
                headers.Remove(name);
            }

            if (context.ProxyRequest.Content is { } content)
            {
                foreach (var name in content.Headers.Select(h => h.Key).Where(_inbound.ShouldStrip).ToList())
                {
                    content.Headers.Remove(name);
                }
            }
        }

        // The gateway's session cookie is never the tenant app's business, whoever sends it.
        var cookie = context.HttpContext.Request.Headers.Cookie;
        if (cookie.Count > 0 && cookie.ToString().Contains(_options.CookieName, StringComparison.OrdinalIgnoreCase))
        {
            RemoveSessionCookie(context);
        }

        if (context.HttpContext.Features.Get<SupportSessionFeature>() is not { } session)
        {
            return ValueTask.CompletedTask;
        }

        headers.Authorization = null;
        headers.TryAddWithoutValidation(_tenantHeader, session.Tenant.Value);
        headers.TryAddWithoutValidation(_userHeader, HeaderValue(session.TargetUser));
        headers.TryAddWithoutValidation(_supportUserHeader, HeaderValue(session.SupportUser));
        headers.TryAddWithoutValidation(_isolationHeader, session.Isolation);
        headers.TryAddWithoutValidation(_grantsHeader, session.AdmittedBy.List);
        headers.TryAddWithoutValidation(_identityTokenHeader, tokens.BackendToken(session, context.HttpContext.Request.Method, TargetUri(context)));
        return ValueTask.CompletedTask;
    }

    /// <summary>The URI the backend is sent, without the query (DPoP's <c>htu</c>).</summary>
    private static string TargetUri(RequestTransformContext context)
    {
        if (context.ProxyRequest.RequestUri is { } uri)
        {
            // As sent (the raw-target transform keeps the client's encoding): cut at the query.
            var sent = uri.OriginalString;
            var query = sent.IndexOf('?', StringComparison.Ordinal);
            return query < 0 ? sent : sent[..query];
        }

        var prefix = context.DestinationPrefix.EndsWith('/') ? context.DestinationPrefix[..^1] : context.DestinationPrefix;
        return prefix + context.Path.ToUriComponent();
    }

    /// <summary>
    /// A user name as a header value: as it is when it is printable ASCII, else in the RFC 8187
    /// extended form (<c>UTF-8''j%C3%B6rg</c>), since HTTP header values are ASCII. The identity
    /// token carries the name itself.
    /// </summary>
    internal static string HeaderValue(string name)
    {
        if (!name.AsSpan().ContainsAnyExceptInRange((char)0x21, (char)0x7E))
        {
            return name;
        }

        var encoded = new System.Text.StringBuilder("UTF-8''", 7 + (name.Length * 3));
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(name))
        {
            // RFC 8187 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
            if (char.IsAsciiLetterOrDigit((char)b) || "!#$&+-.^_`|~".Contains((char)b))
            {
                encoded.Append((char)b);
            }
            else
            {
                encoded.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return encoded.ToString();
    }

    /// <summary>Drops the gateway's session cookie from the Cookie header, keeping the tenant app's own cookies.</summary>
    private void RemoveSessionCookie(RequestTransformContext context)
    {
        var headers = context.ProxyRequest.Headers;
        if (!headers.TryGetValues("Cookie", out var values))
        {
            return;
        }

        var kept = values
            .SelectMany(v => v.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            // Cookie names are matched as ASP.NET Core matches them when it reads the session cookie.
            .Where(c => !string.Equals(c.Split('=', 2)[0].Trim(), _options.CookieName, StringComparison.OrdinalIgnoreCase))
            .ToList();
        headers.Remove("Cookie");
        if (kept.Count > 0)
        {
            headers.TryAddWithoutValidation("Cookie", string.Join("; ", kept));
        }
    }
}
