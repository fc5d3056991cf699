using System.Buffers;
using System.Text;
using Gateway.Authentication;
using Gateway.Tenancy;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Gateway.SupportSessions;

/// <summary>How a request presents itself to the support pipeline.</summary>
internal enum SupportCredentialKind
{
    /// <summary>No support credential: ordinary traffic, the tenant app's business.</summary>
    None,

    /// <summary>Credentials the gateway cannot read unambiguously; refused (400), never forwarded.</summary>
    Unreadable,

    /// <summary>HTTP Basic whose user name is (or may be) a support login.</summary>
    Basic,

    /// <summary>The gateway's own session token, as bearer token or session cookie.</summary>
    SessionToken,
}

/// <summary>
/// The credentials of one request, read once (<see cref="SupportCredentialReader"/>) and kept on
/// the request as a typed feature. JwtBearer takes the session token from here, so the gateway's
/// reading and the scheme's cannot differ.
/// </summary>
internal sealed class SupportCredentials
{
    public static readonly SupportCredentials None = new() { Kind = SupportCredentialKind.None };
    public static readonly SupportCredentials Unreadable = new() { Kind = SupportCredentialKind.Unreadable };

    public required SupportCredentialKind Kind { get; init; }

    /// <summary>Basic: the parsed login name (valid or invalid; never "not a support login").</summary>
    public SupportLoginParse Login { get; init; }

    /// <summary>Basic: the password as sent.</summary>
    public string? Password { get; init; }

    /// <summary>Session token: the token as sent (bearer token or cookie value).</summary>
    public string? Token { get; init; }

    /// <summary>Session token: its SHA-256, when it is short enough to be cached.</summary>
    public TokenHash? Hash { get; init; }

    /// <summary>Session token: the claims of an earlier verification, or null until JwtBearer has verified it.</summary>
    public SessionTokenClaims? Claims { get; set; }
}

/// <summary>
/// Reads a request's credentials the way the support pipeline and JwtBearer both use them:
/// <list type="bullet">
/// <item>exactly one <c>Authorization</c> header (two are unreadable: an app could read either);</item>
/// <item><c>Bearer</c> with one token68 value: a session token when verified before (found by its
/// hash, no parsing) or when its unverified issuer is the gateway's; any other bearer token is the app's;</item>
/// <item><c>Basic</c>: strict Base64 and a colon, else unreadable; a user name with a <c>$</c> is a support login;</item>
/// <item>without an <c>Authorization</c> header, the session cookie (the header wins, as in JwtBearer,
/// so a leftover cookie beside an app's own bearer token is ignored — and still stripped);</item>
/// <item>anything else that carries a token issued by this gateway (<c>Bearer t t</c>,
/// <c>Bearer "t"</c>, <c>Token t</c>, a session token inside another cookie) is unreadable:
/// refused, never forwarded as ordinary traffic.</item>
/// </list>
/// </summary>
internal sealed class SupportCredentialReader(IOptions<SupportOptions> options, SessionTokenCache cache)
{
    private static readonly SearchValues<char> Token68 = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=");
    private static readonly SearchValues<char> JwtChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.");

    private readonly string _cookieName = options.Value.CookieName;
    private readonly string _issuer = options.Value.Issuer;

    public SupportCredentials Read(HttpRequest request, TenantId tenant)
    {
        var authorization = request.Headers.Authorization;
        if (authorization.Count > 1)
        {
            return SupportCredentials.Unreadable;
        }

        return authorization.Count == 1
            ? ReadAuthorization(authorization[0] ?? "", tenant)
            : ReadCookie(request);
    }

    /// <summary>The session token as JwtBearer must see it: the bearer token, else the session cookie (also for endpoints outside the proxy pipeline).</summary>
    public static string? SessionTokenOf(HttpRequest request, string cookieName)
    {
        if (request.HttpContext.Features.Get<SupportCredentials>() is { Kind: SupportCredentialKind.SessionToken, Token: { } token })
        {
            return token;
        }

        var authorization = request.Headers.Authorization.ToString();
        if (authorization.Length > 0)
        {
            return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : null;
        }

        return request.Cookies.TryGetValue(cookieName, out var cookie) ? cookie : null;
    }

    private SupportCredentials ReadAuthorization(string authorization, TenantId tenant)
    {
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = authorization.AsSpan("Bearer ".Length).Trim();
            if (token.Length > 0 && !token.ContainsAnyExcept(Token68))
            {
                return ReadToken(token) ?? SupportCredentials.None;
            }
        }
        else if (authorization.StartsWith("Basic", StringComparison.OrdinalIgnoreCase)
            && (authorization.Length == 5 || authorization[5] == ' '))
        {
            return ReadBasic(authorization.AsSpan(5).Trim(), tenant);
        }

        return ContainsGatewayToken(authorization) ? SupportCredentials.Unreadable : SupportCredentials.None;
    }

    private SupportCredentials? ReadToken(ReadOnlySpan<char> token)
    {
        // A token seen (and verified) before is found from the header as it is: the common case.
        var hashed = TokenHash.TryCompute(token, out var hash);
        if (hashed && cache.TryGet(hash, out var claims))
        {
            return new SupportCredentials { Kind = SupportCredentialKind.SessionToken, Token = token.ToString(), Hash = hash, Claims = claims };
        }

        var text = token.ToString();
        return IsGatewayToken(text)
            ? new SupportCredentials { Kind = SupportCredentialKind.SessionToken, Token = text, Hash = hashed ? hash : null }
            : null;
    }

    private static SupportCredentials ReadBasic(ReadOnlySpan<char> parameter, TenantId tenant)
    {
        if (!TryDecodeBasic(parameter, out var user, out var password))
        {
            // A more lenient decoder in the app could find a support login in it.
            return SupportCredentials.Unreadable;
        }

        var login = SupportLoginNames.Parse(user, tenant.Value);
        return login.Status == SupportLoginParseStatus.NotSupportLogin
            ? SupportCredentials.None
            : new SupportCredentials { Kind = SupportCredentialKind.Basic, Login = login, Password = password };
    }

    private SupportCredentials ReadCookie(HttpRequest request)
    {
        var header = request.Headers.Cookie;
        if (header.Count == 0)
        {
            return SupportCredentials.None;
        }

        // Parse cookies only when the raw header could hold the session cookie or a token.
        var mentionsCookie = false;
        var mentionsToken = false;
        foreach (var value in header)
        {
            mentionsCookie |= value is not null && value.Contains(_cookieName, StringComparison.OrdinalIgnoreCase);
            mentionsToken |= value is not null && value.Contains("eyJ", StringComparison.Ordinal);
        }

        if (!mentionsCookie && !mentionsToken)
        {
            return SupportCredentials.None;
        }

        if (mentionsCookie && request.Cookies.TryGetValue(_cookieName, out var cookie) && cookie.Length > 0)
        {
            var hashed = TokenHash.TryCompute(cookie, out var hash);
            return new SupportCredentials
            {
                Kind = SupportCredentialKind.SessionToken,
                Token = cookie,
                Hash = hashed ? hash : null,
                Claims = hashed && cache.TryGet(hash, out var claims) ? claims : null,
            };
        }

        foreach (var value in header)
        {
            if (value is not null && ContainsGatewayToken(value))
            {
                return SupportCredentials.Unreadable;
            }
        }

        return SupportCredentials.None;
    }

    /// <summary>True when <paramref name="value"/> holds, anywhere, a JWT whose (unverified) issuer is this gateway.</summary>
    internal bool ContainsGatewayToken(string value)
    {
        var span = value.AsSpan();
        var start = span.IndexOf("eyJ", StringComparison.Ordinal);
        while (start >= 0)
        {
            var candidate = span[start..];
            var end = candidate.IndexOfAnyExcept(JwtChars);
            if (end >= 0)
            {
                candidate = candidate[..end];
            }

            if (candidate.Count('.') >= 2 && IsGatewayToken(candidate.ToString()))
            {
                return true;
            }

            var next = span[(start + Math.Max(candidate.Length, 3))..].IndexOf("eyJ", StringComparison.Ordinal);
            start = next < 0 ? -1 : start + Math.Max(candidate.Length, 3) + next;
        }

        return false;
    }

    private bool IsGatewayToken(string token)
    {
        try
        {
            return new JsonWebToken(token).Issuer == _issuer;
        }
        catch (ArgumentException)
        {
            return false; // not a JWT: the tenant app's business
        }
    }

    /// <summary>
    /// Decodes <c>user:password</c>. Bytes that are not valid UTF-8 but contain a '$' are decoded
    /// with replacement characters, so the login-name parser refuses them rather than the
    /// request slipping through as ordinary traffic.
    /// </summary>
    private static bool TryDecodeBasic(ReadOnlySpan<char> parameter, out string user, out string password)
    {
        user = password = "";
        if (parameter.IsEmpty)
        {
            return false;
        }

        var bytes = new byte[(parameter.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64Chars(parameter, bytes, out var written))
        {
            return false;
        }

        var text = Encoding.UTF8.GetString(bytes, 0, written);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return false;
        }

        (user, password) = (text[..colon], text[(colon + 1)..]);
        return true;
    }
}
