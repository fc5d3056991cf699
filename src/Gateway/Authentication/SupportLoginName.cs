using System.Buffers;
using System.Globalization;
using System.Text;

namespace Gateway.Authentication;

/// <summary>
/// A support login name as parsed by <see cref="SupportLoginNames.Parse"/>:
/// <c>[tenant/]support$[target]</c>, after NFKC normalisation, case kept as written.
/// </summary>
internal sealed record SupportLoginName(string? TenantPrefix, string SupportUser, string? TargetUser)
{
    /// <summary>
    /// The audit "who" (<c>user.name</c>): <c>jill$john</c>, or <c>jill$</c> when there is no target
    /// user; never the tenant prefix (the tenant is recorded separately).
    /// </summary>
    public string Who => string.Concat(SupportUser, "$", TargetUser);
}

internal enum SupportLoginParseStatus
{
    /// <summary>No <c>$</c>: an ordinary tenant user, forwarded untouched.</summary>
    NotSupportLogin,
    Valid,
    /// <summary>A support login (or possibly one) that breaks a rule; must be rejected, never forwarded.</summary>
    Invalid,
}

internal readonly record struct SupportLoginParse(SupportLoginParseStatus Status, SupportLoginName? Name, string? ErrorCode, string? Error);

/// <summary>
/// The strict parser for support login names. It fails closed: once a name is (or might be) a
/// support login, every defect is <see cref="SupportLoginParseStatus.Invalid"/>, so a malformed
/// support login can never reach the tenant app as if it were an ordinary name. Linear time, no
/// regular expressions. Error messages are fixed strings and never echo the name.
/// </summary>
internal static class SupportLoginNames
{
    public const int MaxLength = 256;
    public const int MaxPartLength = 64;

    private const string MalformedCode = "support.login.malformed";
    private const string TenantMismatchCode = "support.login.tenant_mismatch";

    private static readonly SearchValues<char> UserPunctuation = SearchValues.Create(".-_@+");
    private static readonly SearchValues<char> TenantChars = SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789-");

    private static readonly SupportLoginParse NotSupport = new(SupportLoginParseStatus.NotSupportLogin, null, null, null);

    /// <summary>Parses <paramref name="rawUserName"/> as sent by the client (e.g. the HTTP Basic user name).</summary>
    /// <param name="rawUserName">The user name exactly as received.</param>
    /// <param name="hostTenant">The tenant resolved from the request's host, or null when the host maps to none.</param>
    public static SupportLoginParse Parse(string? rawUserName, string? hostTenant)
    {
        if (string.IsNullOrEmpty(rawUserName))
        {
            return NotSupport;
        }

        // Before any Unicode work, so a huge input costs nothing. This also rejects over-long
        // ordinary names: we cannot tell cheaply whether they hide a look-alike '$'.
        if (rawUserName.Length > MaxLength)
        {
            return Malformed("The login name is too long.");
        }

        if (HasUnpairedSurrogate(rawUserName))
        {
            return Malformed("The login name is not valid Unicode.");
        }

        string name;
        try
        {
            name = rawUserName.Normalize(NormalizationForm.FormKC);
        }
        catch (ArgumentException)
        {
            return Malformed("The login name is not valid Unicode.");
        }

        // NFKC can expand a name (U+FDFA becomes 18 characters).
        if (name.Length > MaxLength)
        {
            return Malformed("The login name is too long.");
        }

        // Look-alikes are checked in the raw and the normalised name: NFKC folds some into other
        // characters (U+2F03 KANGXI RADICAL SLASH becomes a CJK letter) and creates others
        // (U+00BD ½ becomes "1⁄2", with U+2044 FRACTION SLASH).
        var lookAlikes = ScanLookAlikes(rawUserName) | ScanLookAlikes(name);
        var hasDollar = name.Contains('$') || (lookAlikes & LookAlike.Dollar) != 0;
        if (!hasDollar)
        {
            return NotSupport;
        }

        // From here the name is a support login (or pretends to be one): every defect is Invalid.
        if (lookAlikes != LookAlike.None)
        {
            return Malformed("The login name contains a look-alike of '$' or '/'.");
        }

        if (!AreAllCharactersPermitted(name))
        {
            return Malformed("The support login name contains whitespace, control, formatting or invisible characters.");
        }

        var dollar = name.IndexOf('$');
        if (name.IndexOf('$', dollar + 1) >= 0)
        {
            return Malformed("A support login name must contain exactly one '$'.");
        }

        var left = name.AsSpan(0, dollar);
        var target = name.AsSpan(dollar + 1);
        if (target.Contains('/'))
        {
            return Malformed("A '/' is only allowed between the tenant prefix and the support user.");
        }

        var tenant = ReadOnlySpan<char>.Empty;
        var support = left;
        var slash = left.IndexOf('/');
        if (slash >= 0)
        {
            tenant = left[..slash];
            support = left[(slash + 1)..];
            if (support.Contains('/'))
            {
                return Malformed("A support login name may contain at most one '/'.");
            }

            if (tenant.IsEmpty)
            {
                return Malformed("The tenant prefix before '/' is empty.");
            }
        }

        if (support.IsEmpty)
        {
            return Malformed("The support user before '$' is empty.");
        }

        if (tenant.Length > MaxPartLength || support.Length > MaxPartLength || target.Length > MaxPartLength)
        {
            return Malformed("A part of the support login name is too long.");
        }

        if (slash >= 0 && !IsValidTenantPrefix(tenant))
        {
            return Malformed("The tenant prefix must be lower-case ASCII letters, digits and '-', starting with a letter or digit.");
        }

        if (!IsValidUserPart(support) || (!target.IsEmpty && !IsValidUserPart(target)))
        {
            return Malformed("User names may contain letters, digits, '.', '_', '-', '@' and '+', and must not start or end with '.' or contain '..'.");
        }

        var tenantPrefix = slash >= 0 ? tenant.ToString() : null;
        if (tenantPrefix is not null && hostTenant is not null && !string.Equals(tenantPrefix, hostTenant, StringComparison.Ordinal))
        {
            return new(SupportLoginParseStatus.Invalid, null, TenantMismatchCode, "The tenant prefix does not match the tenant of the host.");
        }

        var parsed = new SupportLoginName(tenantPrefix, support.ToString(), target.IsEmpty ? null : target.ToString());
        return new(SupportLoginParseStatus.Valid, parsed, null, null);
    }

    private static SupportLoginParse Malformed(string error) => new(SupportLoginParseStatus.Invalid, null, MalformedCode, error);

    private static bool HasUnpairedSurrogate(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return true;
            }
        }

        return false;
    }

    [Flags]
    private enum LookAlike
    {
        None = 0,
        Dollar = 1,
        Slash = 2,
    }

    /// <summary>
    /// Look-alikes of '$' and '/' that NFKC does not fold to them. NFKC already turns U+FF04
    /// FULLWIDTH DOLLAR SIGN and U+FE69 SMALL DOLLAR SIGN into '$', U+FF0F FULLWIDTH SOLIDUS into
    /// '/', and U+2100 ℀, U+2101 ℁, U+2105 ℅, U+2106 ℆ into strings containing '/'; those are then
    /// treated exactly like '$' and '/'. Everything listed here is not folded (or is folded into
    /// something else, such as U+FF3C into '\'), so it is caught explicitly. Letters that resemble a
    /// slash (Katakana ノ, CJK 丿) are deliberately not listed: they are legitimate in names and
    /// cannot change how the name is split.
    /// </summary>
    private static LookAlike ScanLookAlikes(string s)
    {
        var found = LookAlike.None;
        foreach (var rune in s.EnumerateRunes())
        {
            found |= rune.Value switch
            {
                0x1F4B2 => LookAlike.Dollar, // HEAVY DOLLAR SIGN
                0x2044 // FRACTION SLASH (also what ½, ¼ … become under NFKC)
                    or 0x2215 // DIVISION SLASH
                    or 0x29F8 // BIG SOLIDUS
                    or 0x27CB // MATHEMATICAL RISING DIAGONAL
                    or 0x2571 // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
                    or 0x2041 // CARET INSERTION POINT
                    or 0x1735 // PHILIPPINE SINGLE PUNCTUATION
                    or 0x2F03 // KANGXI RADICAL SLASH (NFKC folds it into the letter U+4E3F)
                    or 0x0337 or 0x0338 // COMBINING SHORT/LONG SOLIDUS OVERLAY
                    or 0x20E5 // COMBINING REVERSE SOLIDUS OVERLAY
                    or '\\' // REVERSE SOLIDUS, and what U+FF3C and U+FE68 become under NFKC
                    or 0xFF3C // FULLWIDTH REVERSE SOLIDUS
                    or 0xFE68 // SMALL REVERSE SOLIDUS
                    or 0x29F5 // REVERSE SOLIDUS OPERATOR
                    or 0x29F9 // BIG REVERSE SOLIDUS
                    or 0x2216 => LookAlike.Slash, // SET MINUS
                _ => LookAlike.None,
            };
        }

        return found;
    }

    private static bool AreAllCharactersPermitted(string name)
    {
        var span = name.AsSpan();
        while (!span.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(span, out var rune, out var consumed) != OperationStatus.Done)
            {
                return false;
            }

            if (Rune.IsControl(rune)
                || Rune.IsWhiteSpace(rune)
                || Rune.GetUnicodeCategory(rune) == UnicodeCategory.Format
                || IsInvisibleLetter(rune))
            {
                return false;
            }

            span = span[consumed..];
        }

        return true;
    }

    // Hangul fillers are category Lo, so they pass IsLetterOrDigit, but render as nothing
    // (U+3164 and U+FFA0 become U+1160 under NFKC).
    private static bool IsInvisibleLetter(Rune rune) => rune.Value is 0x115F or 0x1160 or 0x3164 or 0xFFA0;

    private static bool IsValidTenantPrefix(ReadOnlySpan<char> tenant) =>
        tenant[0] != '-' && !tenant.ContainsAnyExcept(TenantChars);

    private static bool IsValidUserPart(ReadOnlySpan<char> part)
    {
        if (part[0] == '.' || part[^1] == '.' || part.IndexOf("..", StringComparison.Ordinal) >= 0)
        {
            return false;
        }

        while (!part.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(part, out var rune, out var consumed) != OperationStatus.Done)
            {
                return false;
            }

            if (!Rune.IsLetterOrDigit(rune) && !(rune.IsAscii && UserPunctuation.Contains((char)rune.Value)))
            {
                return false;
            }

            part = part[consumed..];
        }

        return true;
    }
}
