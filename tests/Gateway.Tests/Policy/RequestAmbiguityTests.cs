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

    /// <param name="expected">For an unambiguous row the decoded path; for an ambiguous one the finding's name.</param>
    [Theory]
    // Legitimate targets: accepted, classified on the once-decoded path.
    [InlineData("/api/orders/42", "GET", null, false, "/api/orders/42")]
    [InlineData("/api/orders?status=open&x=%2F", "GET", null, false, "/api/orders")]
    [InlineData("/caf%C3%A9", "GET", null, false, "/café")]
    [InlineData("/a-b_c~d", "GET", null, false, "/a-b_c~d")]
    [InlineData("/api/settings/theme", "PUT", null, false, "/api/settings/theme")]
    [InlineData("/", "GET", null, false, "/")]
    [InlineData("/api/echo/%20space", "GET", null, false, "/api/echo/ space")]
    [InlineData("/file.txt", "GET", null, false, "/file.txt")]
    [InlineData("/file%2Etxt", "GET", null, false, "/file.txt")]
    [InlineData("/.well-known/x", "GET", null, false, "/.well-known/x")]
    [InlineData("/a/.b/..c/c../...", "GET", null, false, "/a/.b/..c/c../...")]
    [InlineData("/api/orders/", "GET", null, false, "/api/orders/")]
    [InlineData("/a+b", "GET", null, false, "/a+b")]
    [InlineData("/%41%62c", "GET", null, false, "/Abc")]
    [InlineData("/%E2%82%AC", "GET", null, false, "/€")]
    [InlineData("/%F0%9F%98%80", "GET", null, false, "/😀")]
    [InlineData("/%F4%8F%BF%BF", "GET", null, false, "/\U0010FFFF")]
    [InlineData("/%C2%A0", "GET", null, false, "/\u00A0")]
    [InlineData("/api?", "GET", null, false, "/api")]
    [InlineData("/api?q=a%2Fb%5C%25%2e%2e%3F", "GET", null, false, "/api")]
    [InlineData("/api?q=%E9%C0%AF", "GET", null, false, "/api")]
    [InlineData("/api?a&&b=;=", "GET", null, false, "/api")]
    [InlineData("/api?x=1?y=2", "GET", null, false, "/api")]
    [InlineData("/api?method=DELETE", "GET", null, false, "/api")]
    [InlineData("/api?x_method=1&_methods=2", "GET", null, false, "/api")]
    [InlineData("/api?q=_method", "GET", null, false, "/api")]
    [InlineData("/api?q=\\", "GET", null, false, "/api")]
    [InlineData("/api/orders", "DELETE", null, false, "/api/orders")]
    [InlineData("/api/orders", "HEAD", null, false, "/api/orders")]
    [InlineData("/api/orders", "M-SEARCH", null, false, "/api/orders")]
    [InlineData("/api/orders", "GET", "X-Forwarded-For", false, "/api/orders")]
    [InlineData("/api/orders", "GET", "X-HTTP-Method-Overrides", false, "/api/orders")]
    [InlineData("/api/orders", "GET", "X-Method", false, "/api/orders")]
    // Request-target forms other than origin-form.
    [InlineData("http://evil/api/orders", "GET", null, true, "NotOriginForm")]
    [InlineData("*", "OPTIONS", null, true, "NotOriginForm")]
    [InlineData("evil.example:443", "CONNECT", null, true, "NotOriginForm")]
    [InlineData("api/orders", "GET", null, true, "NotOriginForm")]
    [InlineData("", "GET", null, true, "NotOriginForm")]
    [InlineData(null, "GET", null, true, "NotOriginForm")]
    // Slashes and backslashes.
    [InlineData("/api/orders/..%2fcredentials", "GET", null, true, "EncodedSlash")]
    [InlineData("/api/%2Fcredentials", "GET", null, true, "EncodedSlash")]
    [InlineData("/api\\credentials", "GET", null, true, "Backslash")]
    [InlineData("/api/%5ccredentials", "GET", null, true, "EncodedBackslash")]
    [InlineData("/api/%5Ccredentials", "GET", null, true, "EncodedBackslash")]
    [InlineData("/api//orders", "GET", null, true, "EmptySegment")]
    [InlineData("//evil.example/x", "GET", null, true, "EmptySegment")]
    // Dot segments, plain and encoded.
    [InlineData("/api/%2e%2e/credentials", "GET", null, true, "DotSegment")]
    [InlineData("/api/orders/.%2E/x", "GET", null, true, "DotSegment")]
    [InlineData("/api/orders/%2E./x", "GET", null, true, "DotSegment")]
    [InlineData("/api/./orders", "GET", null, true, "DotSegment")]
    [InlineData("/api/../credentials", "GET", null, true, "DotSegment")]
    [InlineData("/api/orders/..", "GET", null, true, "DotSegment")]
    [InlineData("/%2E", "GET", null, true, "DotSegment")]
    [InlineData("/api/..?x=1", "GET", null, true, "DotSegment")]
    // Path parameters and encoded delimiters.
    [InlineData("/api/orders/..;/credentials", "GET", null, true, "PathParameter")]
    [InlineData("/api/credentials;jsessionid=1", "GET", null, true, "PathParameter")]
    [InlineData("/api/credentials%3Bx", "GET", null, true, "PathParameter")]
    [InlineData("/api/credentials%3F.css", "GET", null, true, "EncodedDelimiter")]
    [InlineData("/api/credentials%23x", "GET", null, true, "EncodedDelimiter")]
    // Double and malformed encoding.
    [InlineData("/api/%252e%252e/x", "GET", null, true, "EncodedPercent")]
    [InlineData("/%252F", "GET", null, true, "EncodedPercent")]
    [InlineData("/%2541", "GET", null, true, "EncodedPercent")]
    [InlineData("/%25zz", "GET", null, true, "EncodedPercent")]
    [InlineData("/%zz", "GET", null, true, "MalformedPathEncoding")]
    [InlineData("/%2", "GET", null, true, "MalformedPathEncoding")]
    [InlineData("/%", "GET", null, true, "MalformedPathEncoding")]
    [InlineData("/%G0", "GET", null, true, "MalformedPathEncoding")]
    // Invalid UTF-8, NUL and controls after decoding.
    [InlineData("/%C0%AF", "GET", null, true, "InvalidUtf8")]
    [InlineData("/%C0%AE%C0%AE/x", "GET", null, true, "InvalidUtf8")]
    [InlineData("/%E0%80%AF", "GET", null, true, "InvalidUtf8")]
    [InlineData("/%ED%A0%80", "GET", null, true, "InvalidUtf8")]
    [InlineData("/%F4%90%80%80", "GET", null, true, "InvalidUtf8")]
    [InlineData("/%C3", "GET", null, true, "InvalidUtf8")]
    [InlineData("/%C3x", "GET", null, true, "InvalidUtf8")]
    [InlineData("/%A9", "GET", null, true, "InvalidUtf8")]
    [InlineData("/%FF", "GET", null, true, "InvalidUtf8")]
    [InlineData("/api/orders%00", "GET", null, true, "ControlInPath")]
    [InlineData("/api/orders%0A", "GET", null, true, "ControlInPath")]
    [InlineData("/api/orders%7F", "GET", null, true, "ControlInPath")]
    [InlineData("/api/orders%C2%85", "GET", null, true, "ControlInPath")]
    // Raw characters that Kestrel may pass through.
    [InlineData("/café", "GET", null, true, "RawNonAscii")]
    [InlineData("/caf\u00C3\u00A9", "GET", null, true, "RawNonAscii")]
    [InlineData("/api?q=\u00E9", "GET", null, true, "RawNonAscii")]
    [InlineData("/a b", "GET", null, true, "RawControl")]
    [InlineData("/a\u0000b", "GET", null, true, "RawControl")]
    [InlineData("/a\u007Fb", "GET", null, true, "RawControl")]
    [InlineData("/api/orders#frag", "GET", null, true, "RawFragment")]
    [InlineData("/api?x=1#frag", "GET", null, true, "RawFragment")]
    // The query: override parameters, malformed encoding, NUL.
    [InlineData("/api?_method=DELETE", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?%5Fmethod=DELETE", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?_METHOD=x", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?_method", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?a=1&_method=PUT", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?a=1;_method=PUT", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?.method=DELETE", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?+_method=DELETE", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?%255Fmethod=DELETE", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?X-HTTP-Method-Override=DELETE", "GET", null, true, "OverrideParameter")]
    [InlineData("/api?x=%zz", "GET", null, true, "MalformedQueryEncoding")]
    [InlineData("/api?x=%", "GET", null, true, "MalformedQueryEncoding")]
    [InlineData("/api?x=%00", "GET", null, true, "NulInQuery")]
    // Override headers, whatever their value.
    [InlineData("/api/orders", "GET", "X-HTTP-Method-Override", true, "OverrideHeader")]
    [InlineData("/api/orders", "DELETE", "X-HTTP-Method-Override", true, "OverrideHeader")]
    [InlineData("/api/orders", "POST", "x-http-method", true, "OverrideHeader")]
    [InlineData("/api/orders", "GET", "X-METHOD-OVERRIDE", true, "OverrideHeader")]
    [InlineData("/api/orders", "GET", "X_HTTP_Method_Override", true, "OverrideHeader")]
    [InlineData("/api/orders", "GET", "X-Original-URL", true, "OverrideHeader")]
    [InlineData("/api/orders", "GET", "X-Rewrite-Url", true, "OverrideHeader")]
    // Methods.
    [InlineData("/api/orders", "get", null, true, "MethodNotUpperCase")]
    [InlineData("/api/orders", "Delete", null, true, "MethodNotUpperCase")]
    [InlineData("/api/orders", "GET1", null, true, "MethodNotUpperCase")]
    [InlineData("/api/orders", "-GET", null, true, "MethodNotUpperCase")]
    [InlineData("/api/orders", "", null, true, "MethodNotUpperCase")]
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
