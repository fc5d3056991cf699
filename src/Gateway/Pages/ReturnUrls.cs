namespace Gateway.Pages;

/// <summary>
/// Where the sign-in page may send the browser afterwards: a path on this same host, nothing else
/// (no open redirect). <see cref="Microsoft.AspNetCore.Mvc.IUrlHelper.IsLocalUrl"/> first, then
/// stricter rules of our own, since browsers read more into a URL than that check does.
/// </summary>
internal static class ReturnUrls
{
    public const string Default = "/";
    private const int MaxLength = 2048;

    /// <summary><paramref name="candidate"/> when it is a safe same-host path, else <see cref="Default"/>.</summary>
    public static string Sanitize(string? candidate, Func<string, bool> isLocalUrl) =>
        IsSafe(candidate, isLocalUrl) ? candidate! : Default;

    public static bool IsSafe(string? candidate, Func<string, bool> isLocalUrl)
    {
        if (string.IsNullOrEmpty(candidate) || candidate.Length > MaxLength || !isLocalUrl(candidate))
        {
            return false;
        }

        // IsLocalUrl accepts "~/x" (an app-relative path this gateway has no use for).
        if (candidate[0] != '/')
        {
            return false;
        }

        // Decode a few rounds: whatever a browser or a later hop might unescape must still be a plain path.
        var text = candidate;
        for (var round = 0; round < 3; round++)
        {
            if (!IsPlainPath(text))
            {
                return false;
            }

            var decoded = Uri.UnescapeDataString(text);
            if (decoded == text)
            {
                break;
            }

            text = decoded;
        }

        if (!IsPlainPath(text) || HasDotSegment(text))
        {
            return false;
        }

        // Back to the sign-in or sign-out page would only go round in circles.
        return !text.StartsWith("/_gateway/support/", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// A "." or ".." segment in the path: the browser resolves it, so "/_gateway/ui/../../x" would
    /// pass a prefix check and land on "/x". Checked on the decoded text ("%2e%2e" too).
    /// </summary>
    internal static bool HasDotSegment(string text)
    {
        var end = text.IndexOfAny(['?', '#']);
        var path = end < 0 ? text : text[..end];
        foreach (var segment in path.Split('/'))
        {
            if (segment is "." or "..")
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Starts with exactly one '/', no backslash, no control or white-space character, no scheme-like start.</summary>
    private static bool IsPlainPath(string text)
    {
        if (text.Length == 0 || text[0] != '/' || (text.Length > 1 && (text[1] == '/' || text[1] == '\\')))
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c == '\\' || char.IsControl(c) || char.IsWhiteSpace(c))
            {
                return false;
            }
        }

        return true;
    }
}
