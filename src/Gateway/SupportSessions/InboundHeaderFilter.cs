using Gateway.Authentication;

namespace Gateway.SupportSessions;

/// <summary>
/// Which inbound headers never reach a tenant app, on any request: every header whose name
/// starts with the gateway's identity prefix, and the configured identity and client-address
/// headers (<see cref="SupportOptions.StrippedInboundHeaders"/>, by default
/// <see cref="SupportOptions.DefaultStrippedInboundHeaders"/>; an entry ending in <c>*</c> is a
/// prefix). Names are compared case-insensitively with <c>_</c> and <c>-</c> treated as equal:
/// CGI-style apps (WSGI, Rack, PHP) read <c>X_Gateway_User</c> and <c>X-Gateway-User</c> alike as
/// <c>HTTP_X_GATEWAY_USER</c>. Matching allocates nothing.
/// </summary>
internal sealed class InboundHeaderFilter
{
    // The forwarding headers the proxy sets itself: their canonical spelling is replaced by the
    // proxy's own value; a spelling with '_' would reach a CGI app beside it, so that is stripped.
    private static readonly string[] ProxyOwned = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-prefix"];

    private readonly string[] _prefixes;
    private readonly string[] _names;

    public InboundHeaderFilter(SupportOptions options)
    {
        var prefixes = new List<string> { Normalize(options.IdentityHeaderPrefix) };
        var names = new List<string>();
        foreach (var entry in options.StrippedInboundHeaders ?? [.. SupportOptions.DefaultStrippedInboundHeaders])
        {
            if (entry.EndsWith('*'))
            {
                prefixes.Add(Normalize(entry[..^1]));
            }
            else
            {
                names.Add(Normalize(entry));
            }
        }

        _prefixes = [.. prefixes];
        _names = [.. names];
    }

    public bool ShouldStrip(string name)
    {
        foreach (var prefix in _prefixes)
        {
            if (name.Length >= prefix.Length && Same(name.AsSpan(0, prefix.Length), prefix))
            {
                return true;
            }
        }

        foreach (var exact in _names)
        {
            if (name.Length == exact.Length && Same(name, exact))
            {
                return true;
            }
        }

        if (name.Contains('_', StringComparison.Ordinal))
        {
            foreach (var owned in ProxyOwned)
            {
                if (name.Length == owned.Length && Same(name, owned))
                {
                    return true;
                }
            }
        }

        return false;
    }

    public bool AnyToStrip(IHeaderDictionary headers)
    {
        foreach (var header in headers)
        {
            if (ShouldStrip(header.Key))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Lower-case ASCII, '_' as '-'.</summary>
    internal static string Normalize(string name) => string.Create(name.Length, name, static (chars, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            chars[i] = Fold(source[i]);
        }
    });

    private static bool Same(ReadOnlySpan<char> name, string normalized)
    {
        for (var i = 0; i < normalized.Length; i++)
        {
            if (Fold(name[i]) != normalized[i])
            {
                return false;
            }
        }

        return true;
    }

    private static char Fold(char c) => c == '_' ? '-' : char.ToLowerInvariant(c);
}
