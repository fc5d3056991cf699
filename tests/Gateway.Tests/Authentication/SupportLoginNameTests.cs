using Gateway.Authentication;

namespace Gateway.Tests.Authentication;

/// <summary>The strict support login name parser, valid and hostile names.</summary>
public sealed class SupportLoginNameTests
{
    private const string Malformed = "support.login.malformed";
    private const string Mismatch = "support.login.tenant_mismatch";

    /// <summary>Mirrors <see cref="SupportLoginParseStatus"/>, which is internal and so cannot be a public theory parameter.</summary>
    public enum Expect
    {
        NotSupport,
        Valid,
        Invalid,
    }

    private static string A(int n) => new('a', n);

    // Columns: raw name, host tenant, expected status, tenant prefix, support user, target user, error code.
    // Enumerated at run time: names with unpaired surrogates or NUL must not be round-tripped
    // through the test runner's serialisation, which could silently replace them.
    public static TheoryData<string, string?, Expect, string?, string?, string?, string?> Rows => new()
    {
        // Plain forms.
        { "jill$john", null, Expect.Valid, null, "jill", "john", null },
        { "jill$", null, Expect.Valid, null, "jill", null, null },
        { "acme/jill$john", "acme", Expect.Valid, "acme", "jill", "john", null },
        { "acme/jill$", "acme", Expect.Valid, "acme", "jill", null, null },
        { "jill$john", "acme", Expect.Valid, null, "jill", "john", null },
        { "acme/jill$john", null, Expect.Valid, "acme", "jill", "john", null },
        { "acme-2/jill$john", "acme-2", Expect.Valid, "acme-2", "jill", "john", null },
        { "9lives/jill$john", "9lives", Expect.Valid, "9lives", "jill", "john", null },

        // Unicode letters, e-mail addresses, the allowed punctuation, case kept as written.
        { "jürgen$josé", null, Expect.Valid, null, "jürgen", "josé", null },
        { "дмитрий$иван", null, Expect.Valid, null, "дмитрий", "иван", null },
        { "山田$田中", null, Expect.Valid, null, "山田", "田中", null },
        { "\U00020000$john", null, Expect.Valid, null, "\U00020000", "john", null },
        { "jill@vendor.com$john", null, Expect.Valid, null, "jill@vendor.com", "john", null },
        { "jill$john.doe@acme.example", null, Expect.Valid, null, "jill", "john.doe@acme.example", null },
        { "jill_s-2+x$j.o.h.n", null, Expect.Valid, null, "jill_s-2+x", "j.o.h.n", null },
        { "JILL$John", null, Expect.Valid, null, "JILL", "John", null },
        { "acme/Jill$JOHN", "acme", Expect.Valid, "acme", "Jill", "JOHN", null },

        // NFKC folds look-alikes into '$' and '/', which are then treated exactly like them.
        { "jill\uFF04john", null, Expect.Valid, null, "jill", "john", null },
        { "jill\uFE69john", null, Expect.Valid, null, "jill", "john", null },
        { "acme\uFF0Fjill$john", "acme", Expect.Valid, "acme", "jill", "john", null },
        { "acme\uFF0Fjill$john", "globex", Expect.Invalid, null, null, null, Mismatch },
        { "jill\uFF04\uFF04john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$john\uFF0Fx", null, Expect.Invalid, null, null, null, Malformed },
        { "ｊｉｌｌ＄ｊｏｈｎ", null, Expect.Valid, null, "jill", "john", null },
        { "ａｃｍｅ／ｊｉｌｌ＄", "acme", Expect.Valid, "acme", "jill", null, null },
        { "\U0001D423\U0001D422\U0001D425\U0001D425$john", null, Expect.Valid, null, "jill", "john", null },
        { "jose\u0301$john", null, Expect.Valid, null, "jos\u00E9", "john", null },

        // Look-alikes NFKC does not fold: Invalid once a dollar (or look-alike) is present.
        { "acme\u2044jill$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "acme\u2215jill$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "acme\u29F8jill$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "acme\uFF3Cjill$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "acme\\jill$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "jill$jo\u0338hn", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\u00BD$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\U0001F4B2john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\U0001F4B2", "acme", Expect.Invalid, null, null, null, Malformed },
        { "acme\u2215jill\U0001F4B2john", "acme", Expect.Invalid, null, null, null, Malformed },

        // No dollar at all: an ordinary tenant user, even with slash look-alikes or odd characters.
        { "john", null, Expect.NotSupport, null, null, null, null },
        { "john.doe@x.com", "acme", Expect.NotSupport, null, null, null, null },
        { "acme/john", "acme", Expect.NotSupport, null, null, null, null },
        { "acme\u2044john", "acme", Expect.NotSupport, null, null, null, null },
        { "DOMAIN\\john", null, Expect.NotSupport, null, null, null, null },
        { "john doe\r\n", null, Expect.NotSupport, null, null, null, null },
        { "", "acme", Expect.NotSupport, null, null, null, null },

        // Dollar count and structure.
        { "jill$$", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$jo$hn", null, Expect.Invalid, null, null, null, Malformed },
        { "$$", null, Expect.Invalid, null, null, null, Malformed },
        { "$john", null, Expect.Invalid, null, null, null, Malformed },
        { "$", null, Expect.Invalid, null, null, null, Malformed },
        { "/jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "acme/$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "acme/$", "acme", Expect.Invalid, null, null, null, Malformed },
        { "acme//jill$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "a/b/jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "acme/jill/$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "jill$john/x", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$/john", null, Expect.Invalid, null, null, null, Malformed },
        { "acme/jill$globex/john", "acme", Expect.Invalid, null, null, null, Malformed },

        // Control, whitespace, format and invisible characters anywhere.
        { "jill\r$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$john\n", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$jo\r\nhn", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\t$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\0$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$john\0", null, Expect.Invalid, null, null, null, Malformed },
        { "jill $john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$jo hn", null, Expect.Invalid, null, null, null, Malformed },
        { " jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$john ", null, Expect.Invalid, null, null, null, Malformed },
        { "acme/ jill$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "jill\u00A0$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$\u3000john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\u2028$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\u200D$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\u200B$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$\u202Enhoj", null, Expect.Invalid, null, null, null, Malformed },
        { "\uFEFFjill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\u3164$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$\uFFA0", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\u0085$john", null, Expect.Invalid, null, null, null, Malformed },

        // Unpaired surrogates: Invalid even without a dollar (the name cannot be normalised).
        { "jill\uD800$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$john\uDC00", null, Expect.Invalid, null, null, null, Malformed },
        { "\uDC00\uD800$john", null, Expect.Invalid, null, null, null, Malformed },
        { "john\uD800", null, Expect.Invalid, null, null, null, Malformed },

        // Characters outside the allowed set.
        { "jill!$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$jo'hn", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$<script>", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$john;rm", null, Expect.Invalid, null, null, null, Malformed },
        { "jill:pw$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill\U0001F600$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$%2Fjohn", null, Expect.Invalid, null, null, null, Malformed },

        // Dot rules.
        { ".jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill.$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$.john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$john.", null, Expect.Invalid, null, null, null, Malformed },
        { "ji..ll$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$.", null, Expect.Invalid, null, null, null, Malformed },
        { "j.ill$j.o", null, Expect.Valid, null, "j.ill", "j.o", null },

        // Tenant prefix: lower-case ASCII [a-z0-9][a-z0-9-]*, and it must agree with the host.
        { "Acme/jill$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "ACME/jill$john", "acme", Expect.Invalid, null, null, null, Malformed },
        { "ACME/jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "-acme/jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "ac_me/jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "ac.me/jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "äcme/jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { "globex/jill$john", "acme", Expect.Invalid, null, null, null, Mismatch },
        { "globex/jill$", "acme", Expect.Invalid, null, null, null, Mismatch },
        { "acme/jill$john", "Acme", Expect.Invalid, null, null, null, Mismatch },
        { "acme/jill$john", "acme2", Expect.Invalid, null, null, null, Mismatch },

        // Lengths: the raw name, the normalised name, and each part.
        { A(256), null, Expect.NotSupport, null, null, null, null },
        { A(257), null, Expect.Invalid, null, null, null, Malformed },
        { "e\u0301" + A(255), null, Expect.Invalid, null, null, null, Malformed }, // 257 raw, 256 after NFKC: the raw length counts
        { A(200) + "$" + A(55), null, Expect.Invalid, null, null, null, Malformed },
        { A(200) + "$" + A(56), null, Expect.Invalid, null, null, null, Malformed },
        { new string('t', 64) + "/" + A(64) + "$" + new string('b', 64), null, Expect.Valid, new string('t', 64), A(64), new string('b', 64), null },
        { new string('t', 65) + "/jill$john", null, Expect.Invalid, null, null, null, Malformed },
        { A(65) + "$john", null, Expect.Invalid, null, null, null, Malformed },
        { "jill$" + A(65), null, Expect.Invalid, null, null, null, Malformed },
        { "jill$" + new string('\uFDFA', 15), null, Expect.Invalid, null, null, null, Malformed },
        { new string('\uFDFA', 15), null, Expect.Invalid, null, null, null, Malformed },
        { new string('\uFF41', 64) + "\uFF04john", null, Expect.Valid, null, A(64), "john", null },
    };

    [Theory]
    [MemberData(nameof(Rows), DisableDiscoveryEnumeration = true)]
    public void Parse_ReturnsTheExpectedOutcome(
        string raw, string? hostTenant, Expect expected, string? tenantPrefix, string? supportUser, string? targetUser, string? errorCode)
    {
        var result = SupportLoginNames.Parse(raw, hostTenant);

        Assert.Equal(expected.ToString(), ToExpect(result.Status).ToString());
        Assert.Equal(errorCode, result.ErrorCode);
        switch (expected)
        {
            case Expect.Valid:
                Assert.NotNull(result.Name);
                Assert.Equal(tenantPrefix, result.Name.TenantPrefix);
                Assert.Equal(supportUser, result.Name.SupportUser);
                Assert.Equal(targetUser, result.Name.TargetUser);
                Assert.Null(result.Error);
                break;
            case Expect.Invalid:
                Assert.Null(result.Name);
                Assert.False(string.IsNullOrWhiteSpace(result.Error));
                break;
            default:
                Assert.Null(result.Name);
                Assert.Null(result.Error);
                break;
        }
    }

    [Fact]
    public void Rows_AreEnough()
    {
        Assert.True(Rows.Count >= 60, $"only {Rows.Count} rows");
    }

    [Fact]
    public void Parse_Null_IsNotSupportLogin()
    {
        Assert.Equal(new SupportLoginParse(SupportLoginParseStatus.NotSupportLogin, null, null, null), SupportLoginNames.Parse(null, "acme"));
    }

    [Fact]
    public void Who_IsSupportAndTargetUser_WithoutTenantPrefix()
    {
        Assert.Equal("jill$john", new SupportLoginName("acme", "jill", "john").Who);
        Assert.Equal("jill$", new SupportLoginName("acme", "jill", null).Who);
        Assert.Equal("jill$john", new SupportLoginName(null, "jill", "john").Who);
    }

    [Fact]
    public void Who_IsTheNormalisedName()
    {
        var result = SupportLoginNames.Parse("ａｃｍｅ／ＪＩＬＬ＄ｊｏｈｎ", "acme");

        Assert.Equal(SupportLoginParseStatus.Valid, result.Status);
        Assert.Equal("JILL$john", result.Name!.Who);
        Assert.Equal("jill$", SupportLoginNames.Parse("acme/jill$", "acme").Name!.Who);
    }

    [Fact]
    public void Who_ReparsesToTheSameName()
    {
        foreach (var raw in new[] { "jill$john", "jill$", "jill@vendor.com$john.doe@acme.example", "ｊｉｌｌ＄ｊｏｈｎ", "jürgen$josé" })
        {
            var first = SupportLoginNames.Parse(raw, null).Name!;
            var again = SupportLoginNames.Parse(first.Who, null).Name;
            Assert.Equal(first, again);
        }
    }

    [Fact]
    public void ErrorMessages_NeverEchoTheName()
    {
        const string Marker = "ZqxMarkerZqx";
        var hostile = new[]
        {
            Marker + "$$" + Marker,
            "<script>" + Marker + "</script>$x",
            "globex/" + Marker + "$" + Marker,
            Marker + "/jill$john",
            "jill$" + Marker + "\r\nSet-Cookie: x=1",
            Marker + "\U0001F4B2" + Marker,
            Marker + "\u2215jill$" + Marker,
            "." + Marker + "$" + Marker,
            Marker + "\uD800$" + Marker,
            new string('x', 300) + Marker,
            "$" + Marker,
        };

        foreach (var raw in hostile)
        {
            var result = SupportLoginNames.Parse(raw, "acme");

            Assert.Equal(SupportLoginParseStatus.Invalid, result.Status);
            Assert.NotNull(result.Error);
            Assert.DoesNotContain(Marker, result.Error, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("script", result.Error, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("globex", result.Error, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Set-Cookie", result.Error, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void Parse_OneMegabyteName_IsRejectedWithoutThrowing()
    {
        var huge = new string('a', 1 << 20);

        Assert.Equal(SupportLoginParseStatus.Invalid, SupportLoginNames.Parse(huge, "acme").Status);
        Assert.Equal(SupportLoginParseStatus.Invalid, SupportLoginNames.Parse("jill$" + huge, "acme").Status);
        Assert.Equal(SupportLoginParseStatus.Invalid, SupportLoginNames.Parse(new string('$', 1 << 20), null).Status);
        Assert.Equal(SupportLoginParseStatus.Invalid, SupportLoginNames.Parse(new string('\uFDFA', 1 << 20), null).Status);
    }

    private static Expect ToExpect(SupportLoginParseStatus status) => status switch
    {
        SupportLoginParseStatus.NotSupportLogin => Expect.NotSupport,
        SupportLoginParseStatus.Valid => Expect.Valid,
        SupportLoginParseStatus.Invalid => Expect.Invalid,
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };
}
