using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http;

namespace Gateway.Policy;

/// <summary>Why a support request was judged ambiguous. A fixed phrase: it never echoes the request.</summary>
internal readonly record struct AmbiguityFinding(string Reason);

/// <summary>
/// The "unambiguous decisions" rule for support sessions: a support request is
/// classified on the raw target the backend will receive, so anything whose meaning could differ
/// between the gateway and the backend is refused rather than guessed. The rejected forms and the
/// reason for each are in docs/request-ambiguity.md. Runs on every support request: one pass over
/// the target, no regex, no allocation in the unambiguous case apart from enumerating the headers.
/// </summary>
internal static class RequestAmbiguity
{
    /// <summary>Longer targets are refused: no legitimate support request needs more, and backends' limits differ.</summary>
    internal const int MaxTargetLength = 8192;

    private const int StackBufferLimit = 512;

    internal static readonly AmbiguityFinding NotOriginForm = new("request target is not in origin form");
    internal static readonly AmbiguityFinding TargetTooLong = new("request target is too long");
    internal static readonly AmbiguityFinding MethodNotUpperCase = new("method is not an upper-case token");
    internal static readonly AmbiguityFinding OverrideHeader = new("method or path override header");
    internal static readonly AmbiguityFinding RawNonAscii = new("raw non-ASCII character in the target");
    internal static readonly AmbiguityFinding RawControl = new("raw space or control character in the target");
    internal static readonly AmbiguityFinding RawFragment = new("fragment marker in the target");
    internal static readonly AmbiguityFinding Backslash = new("backslash in the path");
    internal static readonly AmbiguityFinding EncodedBackslash = new("encoded backslash in the path");
    internal static readonly AmbiguityFinding EncodedSlash = new("encoded slash in the path");
    internal static readonly AmbiguityFinding EncodedPercent = new("encoded percent sign in the path (double encoding)");
    internal static readonly AmbiguityFinding EncodedDelimiter = new("encoded '?' or '#' in the path");
    internal static readonly AmbiguityFinding PathParameter = new("path parameter (';') in the path");
    internal static readonly AmbiguityFinding MalformedPathEncoding = new("malformed percent-encoding in the path");
    internal static readonly AmbiguityFinding InvalidUtf8 = new("invalid UTF-8 in the path");
    internal static readonly AmbiguityFinding ControlInPath = new("NUL or control character in the path");
    internal static readonly AmbiguityFinding DotSegment = new("dot segment in the path");
    internal static readonly AmbiguityFinding EmptySegment = new("empty segment in the path");
    internal static readonly AmbiguityFinding MalformedQueryEncoding = new("malformed percent-encoding in the query");
    internal static readonly AmbiguityFinding NulInQuery = new("NUL in the query");
    internal static readonly AmbiguityFinding OverrideParameter = new("method override parameter in the query");

    // Compared after normalising '-' to '_' and ignoring case: CGI-style backends (PHP, WSGI, Rack)
    // see "X_HTTP_METHOD_OVERRIDE" and "X-HTTP-Method-Override" as the same variable.
    // X-Original-URL / X-Rewrite-URL replace the path in IIS-fronted and some PHP frameworks.
    private static readonly string[] OverrideHeaderNames =
        ["x_http_method_override", "x_http_method", "x_method_override", "x_original_url", "x_rewrite_url"];

    private static readonly string[] OverrideParameterNames =
        ["_method", "x_http_method_override", "x_http_method", "x_method_override"];

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Null when the request is unambiguous; otherwise the first finding.</summary>
    public static AmbiguityFinding? Check(string? rawTarget, string method, IHeaderDictionary headers)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(headers);

        // Absolute-form, authority-form and asterisk-form carry their own host or no path at all.
        if (string.IsNullOrEmpty(rawTarget) || rawTarget[0] != '/')
        {
            return NotOriginForm;
        }

        if (rawTarget.Length > MaxTargetLength)
        {
            return TargetTooLong;
        }

        if (!IsUpperCaseMethod(method))
        {
            return MethodNotUpperCase;
        }

        if (HasOverrideHeader(headers))
        {
            return OverrideHeader;
        }

        var target = rawTarget.AsSpan();
        if (CheckRawCharacters(target) is { } raw)
        {
            return raw;
        }

        var q = target.IndexOf('?');
        var path = q < 0 ? target : target[..q];
        return CheckPath(path) ?? (q < 0 ? null : CheckQuery(target[(q + 1)..]));
    }

    /// <summary>
    /// The path the policy classifies: the part before the first '?', percent-decoded once as UTF-8.
    /// Only meaningful for a target <see cref="Check"/> accepted; throws <see cref="ArgumentException"/>
    /// on a target that cannot be decoded.
    /// </summary>
    public static string DecodedPath(string rawTarget)
    {
        ArgumentNullException.ThrowIfNull(rawTarget);
        if (rawTarget.Length == 0 || rawTarget[0] != '/')
        {
            throw new ArgumentException("The request target is not in origin form.", nameof(rawTarget));
        }

        var q = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var path = q < 0 ? rawTarget.AsSpan() : rawTarget.AsSpan(0, q);
        if (!path.Contains('%'))
        {
            return q < 0 ? rawTarget : rawTarget[..q];
        }

        byte[]? rented = null;
        var buffer = path.Length <= StackBufferLimit ? stackalloc byte[path.Length] : (rented = ArrayPool<byte>.Shared.Rent(path.Length));
        try
        {
            var length = DecodePathBytes(path, buffer);
            if (length < 0)
            {
                throw new ArgumentException("The request target's path has malformed percent-encoding.", nameof(rawTarget));
            }

            return StrictUtf8.GetString(buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    // Upper-case letters and '-' only (GET, M-SEARCH, VERSION-CONTROL): backends that compare methods
    // case-insensitively would treat "get" as GET while the policy might count it as an unknown write,
    // and the reverse mismatch is just as possible.
    private static bool IsUpperCaseMethod(string method)
    {
        if (method.Length == 0 || !char.IsAsciiLetterUpper(method[0]))
        {
            return false;
        }

        foreach (var c in method)
        {
            if (!char.IsAsciiLetterUpper(c) && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasOverrideHeader(IHeaderDictionary headers)
    {
        foreach (var header in headers)
        {
            var name = header.Key.AsSpan();
            if (name.Length is < 13 or > 22 || (name[0] | 0x20) != 'x')
            {
                continue;
            }

            foreach (var candidate in OverrideHeaderNames)
            {
                if (EqualsNormalisedName(name, candidate))
                {
                    return true;
                }
            }
        }

        return false;
    }

    // ASCII-case-insensitive comparison of a name against a lower-case candidate, with '-' taken as '_'.
    private static bool EqualsNormalisedName(ReadOnlySpan<char> name, string candidate)
    {
        if (name.Length != candidate.Length)
        {
            return false;
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c == '-')
            {
                c = '_';
            }
            else if (char.IsAsciiLetterUpper(c))
            {
                c = (char)(c | 0x20);
            }

            if (c != candidate[i])
            {
                return false;
            }
        }

        return true;
    }

    private static AmbiguityFinding? CheckRawCharacters(ReadOnlySpan<char> target)
    {
        // Kestrel hands raw bytes above 0x7F through as Latin-1 chars; how a backend reads them is anyone's guess.
        foreach (var c in target)
        {
            if (c > 0x7E)
            {
                return c == 0x7F ? RawControl : RawNonAscii;
            }

            if (c <= 0x20)
            {
                return RawControl;
            }

            if (c == '#')
            {
                return RawFragment;
            }
        }

        return null;
    }

    private static AmbiguityFinding? CheckPath(ReadOnlySpan<char> path)
    {
        var hasNonAsciiBytes = false;
        for (var i = 0; i < path.Length; i++)
        {
            switch (path[i])
            {
                case '\\':
                    return Backslash;
                case ';':
                    return PathParameter;
                case '%':
                    if (!TryHexByte(path, i, out var b))
                    {
                        return MalformedPathEncoding;
                    }

                    switch (b)
                    {
                        case (byte)'/':
                            return EncodedSlash;
                        case (byte)'\\':
                            return EncodedBackslash;
                        case (byte)'%':
                            return EncodedPercent;
                        case (byte)'?' or (byte)'#':
                            return EncodedDelimiter;
                        case (byte)';':
                            return PathParameter;
                        case < 0x20 or 0x7F:
                            return ControlInPath;
                        case >= 0x80:
                            hasNonAsciiBytes = true;
                            break;
                    }

                    i += 2;
                    break;
            }
        }

        if (CheckSegments(path) is { } segment)
        {
            return segment;
        }

        return hasNonAsciiBytes ? CheckDecodedUtf8(path) : null;
    }

    // Raw '/' is the only separator left (encoded ones were refused), so raw segments are decoded segments.
    private static AmbiguityFinding? CheckSegments(ReadOnlySpan<char> path)
    {
        var rest = path[1..];
        while (true)
        {
            var slash = rest.IndexOf('/');
            var segment = slash < 0 ? rest : rest[..slash];
            if (segment.IsEmpty)
            {
                // A trailing slash is an ordinary (final, empty) segment; "//" inside the path is not.
                if (slash >= 0)
                {
                    return EmptySegment;
                }
            }
            else if (IsDotSegment(segment))
            {
                return DotSegment;
            }

            if (slash < 0)
            {
                return null;
            }

            rest = rest[(slash + 1)..];
        }
    }

    // "." or ".." once decoded: ".", "..", "%2e", ".%2E", "%2e%2e", ...
    private static bool IsDotSegment(ReadOnlySpan<char> segment)
    {
        var dots = 0;
        for (var i = 0; i < segment.Length;)
        {
            if (segment[i] == '.')
            {
                i++;
            }
            else if (segment[i] == '%' && i + 2 < segment.Length && segment[i + 1] == '2' && (segment[i + 2] | 0x20) == 'e')
            {
                i += 3;
            }
            else
            {
                return false;
            }

            dots++;
        }

        return dots is 1 or 2;
    }

    private static AmbiguityFinding? CheckDecodedUtf8(ReadOnlySpan<char> path)
    {
        byte[]? rented = null;
        var buffer = path.Length <= StackBufferLimit ? stackalloc byte[path.Length] : (rented = ArrayPool<byte>.Shared.Rent(path.Length));
        try
        {
            var bytes = buffer[..DecodePathBytes(path, buffer)];

            // Rejects overlong forms (%C0%AF), surrogates (%ED%A0%80), code points above U+10FFFF and truncated sequences.
            if (!Utf8.IsValid(bytes))
            {
                return InvalidUtf8;
            }

            // C1 controls U+0080..U+009F are C2 80..C2 9F; in valid UTF-8, C2 is always a lead byte.
            for (var i = 0; i + 1 < bytes.Length; i++)
            {
                if (bytes[i] == 0xC2 && bytes[i + 1] <= 0x9F)
                {
                    return ControlInPath;
                }
            }

            return null;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    // Percent-decodes once into bytes; -1 on malformed encoding. Raw chars are ASCII here (checked before).
    private static int DecodePathBytes(ReadOnlySpan<char> path, Span<byte> destination)
    {
        var length = 0;
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (c == '%')
            {
                if (!TryHexByte(path, i, out var b))
                {
                    return -1;
                }

                destination[length++] = b;
                i += 2;
            }
            else
            {
                destination[length++] = (byte)c;
            }
        }

        return length;
    }

    private static AmbiguityFinding? CheckQuery(ReadOnlySpan<char> query)
    {
        for (var i = 0; i < query.Length; i++)
        {
            if (query[i] == '%')
            {
                if (!TryHexByte(query, i, out var b))
                {
                    return MalformedQueryEncoding;
                }

                if (b == 0)
                {
                    return NulInQuery;
                }

                i += 2;
            }
        }

        // Both '&' and ';' separate parameters somewhere (HTML4 recommended ';'; Python's parser once split on it).
        var rest = query;
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOfAny('&', ';');
            var parameter = end < 0 ? rest : rest[..end];
            var equals = parameter.IndexOf('=');
            if (IsOverrideParameterName(equals < 0 ? parameter : parameter[..equals]))
            {
                return OverrideParameter;
            }

            if (end < 0)
            {
                break;
            }

            rest = rest[(end + 1)..];
        }

        return null;
    }

    // The name is decoded ('+' as space) and, if it still holds '%', decoded again; surrounding whitespace is
    // trimmed and ' ', '.', '[' and '-' count as '_', because PHP rewrites ". method" and " _method" into "_method".
    private static bool IsOverrideParameterName(ReadOnlySpan<char> rawName)
    {
        // Every override name contains "method"; without '%' that has to be visible in the raw name.
        if (rawName.IsEmpty || (!rawName.Contains('%') && !rawName.Contains("method", StringComparison.OrdinalIgnoreCase)))
        {
            return false;
        }

        char[]? rented = null;
        var buffer = rawName.Length <= StackBufferLimit ? stackalloc char[rawName.Length] : (rented = ArrayPool<char>.Shared.Rent(rawName.Length));
        try
        {
            var decoded = buffer[..DecodeQueryComponent(rawName, buffer)];
            if (decoded.Contains('%'))
            {
                decoded = decoded[..DecodeQueryComponent(decoded, decoded)];
            }

            ReadOnlySpan<char> name = decoded.Trim(" \t\r\n\f\v");
            foreach (var candidate in OverrideParameterNames)
            {
                if (EqualsMangledName(name, candidate))
                {
                    return true;
                }
            }

            return false;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    private static bool EqualsMangledName(ReadOnlySpan<char> name, string candidate)
    {
        if (name.Length != candidate.Length)
        {
            return false;
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c is ' ' or '.' or '[' or '-')
            {
                c = '_';
            }
            else if (char.IsAsciiLetterUpper(c))
            {
                c = (char)(c | 0x20);
            }

            if (c != candidate[i])
            {
                return false;
            }
        }

        return true;
    }

    // Decodes '+' and well-formed %XX, one byte per char (the names compared against are ASCII);
    // malformed '%' is kept as is. Safe in place: the write position never passes the read position.
    private static int DecodeQueryComponent(ReadOnlySpan<char> source, Span<char> destination)
    {
        var length = 0;
        for (var i = 0; i < source.Length; i++)
        {
            var c = source[i];
            if (c == '+')
            {
                c = ' ';
            }
            else if (c == '%' && TryHexByte(source, i, out var b))
            {
                c = (char)b;
                i += 2;
            }

            destination[length++] = c;
        }

        return length;
    }

    private static bool TryHexByte(ReadOnlySpan<char> text, int percentIndex, out byte value)
    {
        value = 0;
        if (percentIndex + 2 >= text.Length)
        {
            return false;
        }

        var high = HexValue(text[percentIndex + 1]);
        var low = HexValue(text[percentIndex + 2]);
        if (high < 0 || low < 0)
        {
            return false;
        }

        value = (byte)((high << 4) | low);
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'A' and <= 'F' => c - 'A' + 10,
        >= 'a' and <= 'f' => c - 'a' + 10,
        _ => -1,
    };
}
