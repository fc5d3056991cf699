using Gateway.Policy;
using Microsoft.AspNetCore.Http;

namespace Gateway.Tests.Policy;

/// <summary>Support requests whose meaning could differ between the gateway and the backend are refused, not guessed.</summary>
public sealed class RequestAmbiguityTests
{
    private static readonly Dictionary<string, AmbiguityFinding> Findings = new()
    {
        [nameof(RequestAmbiguity.NotOriginForm)] = RequestAmbiguity.NotOriginForm,
        [nameof(RequestAmbiguity.TargetTooLong)] = RequestAmbiguity.TargetTooLong,
        [nameof(RequestAmbiguity.MethodNotUpperCase)] = RequestAmbiguity.MethodNotUpperCase,
        [nameof(RequestAmbiguity.OverrideHeader)] = RequestAmbiguity.OverrideHeader,
        [nameof(RequestAmbiguity.RawNonAscii)] = RequestAmbiguity.RawNonAscii,
        [nameof(RequestAmbiguity.RawControl)] = RequestAmbiguity.RawControl,
        [nameof(RequestAmbiguity.RawFragment)] = RequestAmbiguity.RawFragment,
        [nameof(RequestAmbiguity.Backslash)] = RequestAmbiguity.Backslash,
        [nameof(RequestAmbiguity.EncodedBackslash)] = RequestAmbiguity.EncodedBackslash,
        [nameof(RequestAmbiguity.EncodedSlash)] = RequestAmbiguity.EncodedSlash,
        [nameof(RequestAmbiguity.EncodedPercent)] = RequestAmbiguity.EncodedPercent,
        [nameof(RequestAmbiguity.EncodedDelimiter)] = RequestAmbiguity.EncodedDelimiter,
        [nameof(RequestAmbiguity.PathParameter)] = RequestAmbiguity.PathParameter,
        [nameof(RequestAmbiguity.MalformedPathEncoding)] = RequestAmbiguity.MalformedPathEncoding,
        [nameof(RequestAmbiguity.InvalidUtf8)] = RequestAmbiguity.InvalidUtf8,
        [nameof(RequestAmbiguity.ControlInPath)] = RequestAmbiguity.ControlInPath,
        [nameof(RequestAmbiguity.DotSegment)] = RequestAmbiguity.DotSegment,
        [nameof(RequestAmbiguity.EmptySegment)] = RequestAmbiguity.EmptySegment,
        [nameof(RequestAmbiguity.MalformedQueryEncoding)] = RequestAmbiguity.MalformedQueryEncoding,
        [nameof(RequestAmbiguity.NulInQuery)] = RequestAmbiguity.NulInQuery,
        [nameof(RequestAmbiguity.OverrideParameter)] = RequestAmbiguity.OverrideParameter,
    };

    /// <summary>
    /// The sample of targets, methods and headers: (raw target, method, header sent with the value
    /// DELETE, ambiguous?, expected). For an unambiguous row <c>expected</c> is the decoded path; for
    /// an ambiguous one the finding's name. The explain-agreement test sends every row through the
    /// live gateway too.
    /// </summary>
    public static TheoryData<string?, string, string?, bool, string> Samples => new()
    {
        // Legitimate targets: accepted, classified on the once-decoded path.
        { "/api/orders/42", "GET", null, false, "/api/orders/42" },
        { "/api/orders?status=open&x=%2F", "GET", null, false, "/api/orders" },
        { "/caf%C3%A9", "GET", null, false, "/café" },
        { "/a-b_c~d", "GET", null, false, "/a-b_c~d" },
        { "/api/settings/theme", "PUT", null, false, "/api/settings/theme" },
        { "/", "GET", null, false, "/" },
        { "/api/echo/%20space", "GET", null, false, "/api/echo/ space" },
        { "/file.txt", "GET", null, false, "/file.txt" },
        { "/file%2Etxt", "GET", null, false, "/file.txt" },
        { "/.well-known/x", "GET", null, false, "/.well-known/x" },
        { "/a/.b/..c/c../...", "GET", null, false, "/a/.b/..c/c../..." },
        { "/api/orders/", "GET", null, false, "/api/orders/" },
        { "/a+b", "GET", null, false, "/a+b" },
        { "/%41%62c", "GET", null, false, "/Abc" },
        { "/%E2%82%AC", "GET", null, false, "/€" },
        { "/%F0%9F%98%80", "GET", null, false, "/😀" },
        { "/%F4%8F%BF%BF", "GET", null, false, "/\U0010FFFF" },
        { "/%C2%A0", "GET", null, false, "/\u00A0" },
        { "/api?", "GET", null, false, "/api" },
        { "/api?q=a%2Fb%5C%25%2e%2e%3F", "GET", null, false, "/api" },
        { "/api?q=%E9%C0%AF", "GET", null, false, "/api" },
        { "/api?a&&b=;=", "GET", null, false, "/api" },
        { "/api?x=1?y=2", "GET", null, false, "/api" },
        { "/api?method=DELETE", "GET", null, false, "/api" },
        { "/api?x_method=1&_methods=2", "GET", null, false, "/api" },
        { "/api?q=_method", "GET", null, false, "/api" },
        { "/api?q=\\", "GET", null, false, "/api" },
        { "/api/orders", "DELETE", null, false, "/api/orders" },
        { "/api/orders", "HEAD", null, false, "/api/orders" },
        { "/api/orders", "M-SEARCH", null, false, "/api/orders" },
        { "/api/orders", "GET", "X-Forwarded-For", false, "/api/orders" },
        { "/api/orders", "GET", "X-HTTP-Method-Overrides", false, "/api/orders" },
        { "/api/orders", "GET", "X-Method", false, "/api/orders" },
        // Request-target forms other than origin-form.
        { "http://evil/api/orders", "GET", null, true, "NotOriginForm" },
        { "*", "OPTIONS", null, true, "NotOriginForm" },
        { "evil.example:443", "CONNECT", null, true, "NotOriginForm" },
        { "api/orders", "GET", null, true, "NotOriginForm" },
        { "", "GET", null, true, "NotOriginForm" },
        { null, "GET", null, true, "NotOriginForm" },
        // Slashes and backslashes.
        { "/api/orders/..%2fcredentials", "GET", null, true, "EncodedSlash" },
        { "/api/%2Fcredentials", "GET", null, true, "EncodedSlash" },
        { "/api\\credentials", "GET", null, true, "Backslash" },
        { "/api/%5ccredentials", "GET", null, true, "EncodedBackslash" },
        { "/api/%5Ccredentials", "GET", null, true, "EncodedBackslash" },
        { "/api//orders", "GET", null, true, "EmptySegment" },
        { "//evil.example/x", "GET", null, true, "EmptySegment" },
        // Dot segments, plain and encoded.
        { "/api/%2e%2e/credentials", "GET", null, true, "DotSegment" },
        { "/api/orders/.%2E/x", "GET", null, true, "DotSegment" },
        { "/api/orders/%2E./x", "GET", null, true, "DotSegment" },
        { "/api/./orders", "GET", null, true, "DotSegment" },
        { "/api/../credentials", "GET", null, true, "DotSegment" },
        { "/api/orders/..", "GET", null, true, "DotSegment" },
        { "/%2E", "GET", null, true, "DotSegment" },
        { "/api/..?x=1", "GET", null, true, "DotSegment" },
        // Path parameters and encoded delimiters.
        { "/api/orders/..;/credentials", "GET", null, true, "PathParameter" },
        { "/api/credentials;jsessionid=1", "GET", null, true, "PathParameter" },
        { "/api/credentials%3Bx", "GET", null, true, "PathParameter" },
        { "/api/credentials%3F.css", "GET", null, true, "EncodedDelimiter" },
        { "/api/credentials%23x", "GET", null, true, "EncodedDelimiter" },
        // Double and malformed encoding.
        { "/api/%252e%252e/x", "GET", null, true, "EncodedPercent" },
        { "/%252F", "GET", null, true, "EncodedPercent" },
        { "/%2541", "GET", null, true, "EncodedPercent" },
        { "/%25zz", "GET", null, true, "EncodedPercent" },
        { "/%zz", "GET", null, true, "MalformedPathEncoding" },
        { "/%2", "GET", null, true, "MalformedPathEncoding" },
        { "/%", "GET", null, true, "MalformedPathEncoding" },
        { "/%G0", "GET", null, true, "MalformedPathEncoding" },
        // Invalid UTF-8, NUL and controls after decoding.
        { "/%C0%AF", "GET", null, true, "InvalidUtf8" },
        { "/%C0%AE%C0%AE/x", "GET", null, true, "InvalidUtf8" },
        { "/%E0%80%AF", "GET", null, true, "InvalidUtf8" },
        { "/%ED%A0%80", "GET", null, true, "InvalidUtf8" },
        { "/%F4%90%80%80", "GET", null, true, "InvalidUtf8" },
        { "/%C3", "GET", null, true, "InvalidUtf8" },
        { "/%C3x", "GET", null, true, "InvalidUtf8" },
        { "/%A9", "GET", null, true, "InvalidUtf8" },
        { "/%FF", "GET", null, true, "InvalidUtf8" },
        { "/api/orders%00", "GET", null, true, "ControlInPath" },
        { "/api/orders%0A", "GET", null, true, "ControlInPath" },
        { "/api/orders%7F", "GET", null, true, "ControlInPath" },
        { "/api/orders%C2%85", "GET", null, true, "ControlInPath" },
        // Raw characters that Kestrel may pass through.
        { "/café", "GET", null, true, "RawNonAscii" },
        { "/caf\u00C3\u00A9", "GET", null, true, "RawNonAscii" },
        { "/api?q=\u00E9", "GET", null, true, "RawNonAscii" },
        { "/a b", "GET", null, true, "RawControl" },
        { "/a\u0000b", "GET", null, true, "RawControl" },
        { "/a\u007Fb", "GET", null, true, "RawControl" },
        { "/api/orders#frag", "GET", null, true, "RawFragment" },
        { "/api?x=1#frag", "GET", null, true, "RawFragment" },
        // The query: override parameters, malformed encoding, NUL.
        { "/api?_method=DELETE", "GET", null, true, "OverrideParameter" },
        { "/api?%5Fmethod=DELETE", "GET", null, true, "OverrideParameter" },
        { "/api?_METHOD=x", "GET", null, true, "OverrideParameter" },
        { "/api?_method", "GET", null, true, "OverrideParameter" },
        { "/api?a=1&_method=PUT", "GET", null, true, "OverrideParameter" },
        { "/api?a=1;_method=PUT", "GET", null, true, "OverrideParameter" },
        { "/api?.method=DELETE", "GET", null, true, "OverrideParameter" },
        { "/api?+_method=DELETE", "GET", null, true, "OverrideParameter" },
        { "/api?%255Fmethod=DELETE", "GET", null, true, "OverrideParameter" },
        { "/api?X-HTTP-Method-Override=DELETE", "GET", null, true, "OverrideParameter" },
        { "/api?x=%zz", "GET", null, true, "MalformedQueryEncoding" },
        { "/api?x=%", "GET", null, true, "MalformedQueryEncoding" },
        { "/api?x=%00", "GET", null, true, "NulInQuery" },
        // Override headers, whatever their value.
        { "/api/orders", "GET", "X-HTTP-Method-Override", true, "OverrideHeader" },
        { "/api/orders", "DELETE", "X-HTTP-Method-Override", true, "OverrideHeader" },
        { "/api/orders", "POST", "x-http-method", true, "OverrideHeader" },
        { "/api/orders", "GET", "X-METHOD-OVERRIDE", true, "OverrideHeader" },
        { "/api/orders", "GET", "X_HTTP_Method_Override", true, "OverrideHeader" },
        { "/api/orders", "GET", "X-Original-URL", true, "OverrideHeader" },
        { "/api/orders", "GET", "X-Rewrite-Url", true, "OverrideHeader" },
        // Methods.
        { "/api/orders", "get", null, true, "MethodNotUpperCase" },
        { "/api/orders", "Delete", null, true, "MethodNotUpperCase" },
        { "/api/orders", "GET1", null, true, "MethodNotUpperCase" },
        { "/api/orders", "-GET", null, true, "MethodNotUpperCase" },
        { "/api/orders", "", null, true, "MethodNotUpperCase" },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void Check_ClassifiesTarget(string? rawTarget, string method, string? header, bool ambiguous, string expected)
    {
        var headers = new HeaderDictionary();
        if (header is not null)
        {
            headers[header] = "DELETE";
        }

        var finding = RequestAmbiguity.Check(rawTarget, method, headers);

        if (ambiguous)
        {
            Assert.NotNull(finding);
            Assert.Equal(Findings[expected], finding);
            if (rawTarget is { Length: > 1 })
            {
                Assert.DoesNotContain(rawTarget, finding.Value.Reason, StringComparison.Ordinal);
            }
        }
        else
        {
            Assert.Null(finding);
            Assert.Equal(expected, RequestAmbiguity.DecodedPath(rawTarget!));
        }
    }

    [Fact]
    public void Findings_AreDistinctAndShort()
    {
        Assert.Equal(Findings.Count, Findings.Values.Select(f => f.Reason).Distinct().Count());
        Assert.All(Findings.Values, f => Assert.InRange(f.Reason.Length, 10, 60));
    }

    [Fact]
    public void Check_TargetAtLengthLimit_IsAccepted_OneLonger_IsRefused()
    {
        var atLimit = "/" + new string('a', RequestAmbiguity.MaxTargetLength - 1);

        Assert.Null(RequestAmbiguity.Check(atLimit, "GET", new HeaderDictionary()));
        Assert.Equal(RequestAmbiguity.TargetTooLong, RequestAmbiguity.Check(atLimit + "a", "GET", new HeaderDictionary()));
    }

    [Fact]
    public void Check_LongNonAsciiPath_IsValidatedBeyondTheStackBuffer()
    {
        var valid = "/" + string.Concat(Enumerable.Repeat("%C3%A9", 400));
        var invalid = valid + "%C3";

        Assert.Null(RequestAmbiguity.Check(valid, "GET", new HeaderDictionary()));
        Assert.Equal("/" + new string('é', 400), RequestAmbiguity.DecodedPath(valid));
        Assert.Equal(RequestAmbiguity.InvalidUtf8, RequestAmbiguity.Check(invalid, "GET", new HeaderDictionary()));
    }

    [Fact]
    public void Check_OverrideParameterBehindLongPadding_IsFound()
    {
        var target = "/api?" + new string('+', 1000) + "_method=DELETE";

        Assert.Equal(RequestAmbiguity.OverrideParameter, RequestAmbiguity.Check(target, "GET", new HeaderDictionary()));
    }

    [Fact]
    public void Check_OverrideHeaderWithEmptyValue_IsRefused()
    {
        var headers = new HeaderDictionary { ["X-HTTP-Method"] = "" };

        Assert.Equal(RequestAmbiguity.OverrideHeader, RequestAmbiguity.Check("/api", "GET", headers));
    }

    [Theory]
    [InlineData("/%zz")]
    [InlineData("/%C0%AF")]
    [InlineData("http://evil/x")]
    public void DecodedPath_UndecodableTarget_Throws(string rawTarget)
    {
        Assert.ThrowsAny<ArgumentException>(() => RequestAmbiguity.DecodedPath(rawTarget));
    }

    [Fact]
    public void DecodedPath_WithoutEncoding_ReturnsTheTargetItself()
    {
        const string target = "/api/orders/42";

        Assert.Same(target, RequestAmbiguity.DecodedPath(target));
    }
}
