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

        if (!IsPlainPath(text))
        {
            return false;
        }

        // Back to the sign-in or sign-out page would only go round in circles.
        return !text.StartsWith("/_gateway/support/", StringComparison.OrdinalIgnoreCase);
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
