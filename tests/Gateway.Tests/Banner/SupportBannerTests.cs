using System.Net.Http.Headers;
using System.Text;
using Gateway.Banner;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Pages;
using Microsoft.AspNetCore.Http;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Banner;

/// <summary>The banner's rewriting rules on their own (what is rewritten, where, and what passes untouched).</summary>
public sealed class BannerInjectingStreamTests
{
    private static readonly byte[] Banner = Encoding.ASCII.GetBytes("<div data-support-banner>B</div>");

    [Theory]
    [InlineData(200, "text/html; charset=utf-8", null, false, true)]
    [InlineData(200, "text/html", "identity", false, true)]
    [InlineData(200, "TEXT/HTML; charset=ISO-8859-1", null, false, true)]
    [InlineData(200, "text/html; charset=utf-16", null, false, false)]
    [InlineData(200, "text/html", "gzip", false, false)]
    [InlineData(200, "text/html", "br", false, false)]
    [InlineData(206, "text/html", null, true, false)]
    [InlineData(200, "text/html", null, true, false)]
    [InlineData(304, "text/html", null, false, false)]
    [InlineData(404, "text/html", null, false, false)]
    [InlineData(200, "application/json", null, false, false)]
    [InlineData(200, "application/xhtml+xml", null, false, false)]
    [InlineData(200, null, null, false, false)]
    public void OnlyWholeUncompressedHtmlDocuments_AreRewritten(int status, string? contentType, string? encoding, bool range, bool rewritable) =>
        Assert.Equal(rewritable, BannerInjectingStream.IsRewritable(status, contentType, encoding, range));

    [Theory]
    [InlineData("<html><body>x", 12)]
    [InlineData("<html><BODY class=\"a>b\" data-x='>'>x", 35)]
    [InlineData("<html><bodyguard><body>x", 23)]
    [InlineData("<html><body\n>x", 13)]
    [InlineData("<html><head></head>", -1)]
    public void InsertionPoint_IsRightAfterTheBodyTag(string html, int expected) =>
        Assert.Equal(expected, BannerInjectingStream.FindInsertionPoint(Encoding.ASCII.GetBytes(html), out _));

    [Fact]
    public void SynchronousWrites_TakeTheSameDecisions_WithoutBlockingOnTheAsyncPath()
    {
        var (context, sent) = Response(200, "text/html");
        var stream = new BannerInjectingStream(context, sent, Banner);

        stream.Write(Encoding.ASCII.GetBytes("<html><head></head><bo"));
        stream.Flush();
        Assert.Equal(0, sent.Length); // held (and not flushed) while the tag may still be coming
        stream.Write(Encoding.ASCII.GetBytes("dy>Hello"));
        stream.Write(Encoding.ASCII.GetBytes("</body></html>"));

        Assert.Equal("<html><head></head><body><div data-support-banner>B</div>Hello</body></html>", Encoding.ASCII.GetString(sent.ToArray()));
        Assert.True(stream.Injected);
    }

    [Fact]
    public async Task BodyTagSplitAcrossWrites_IsFound_AndContentLengthEtagGo()
    {
        var (context, sent) = Response(200, "text/html");
        context.Response.ContentLength = 40;
        context.Response.Headers.ETag = "\"v1\"";
        var stream = new BannerInjectingStream(context, sent, Banner);

        await stream.WriteAsync(Encoding.ASCII.GetBytes("<html><head></head><bo"));
        Assert.Equal(0, sent.Length); // held while the tag may still be coming
        await stream.WriteAsync(Encoding.ASCII.GetBytes("dy lang=\"en\">Hello</body></html>"));
        await stream.CompleteAsync(CancellationToken.None);

        Assert.Equal("<html><head></head><body lang=\"en\"><div data-support-banner>B</div>Hello</body></html>", Encoding.ASCII.GetString(sent.ToArray()));
        Assert.True(stream.Injected);
        Assert.Null(context.Response.ContentLength);
        Assert.Equal(0, context.Response.Headers.ETag.Count);
        Assert.Equal("no-store", context.Response.Headers.CacheControl.ToString());
    }

    [Fact]
    public async Task NoBodyTagWithinTheLimit_PassesUnchanged()
    {
        var (context, sent) = Response(200, "text/html");
        var stream = new BannerInjectingStream(context, sent, Banner);
        var page = Encoding.ASCII.GetBytes("<html><head>" + new string('x', BannerInjectingStream.MaxScanBytes) + "</head><body>late</body>");

        await stream.WriteAsync(page);
        await stream.CompleteAsync(CancellationToken.None);

        Assert.Equal(page, sent.ToArray());
        Assert.False(stream.Injected);
    }

    [Fact]
    public async Task CompressedHtml_PassesThroughUnbuffered_WithItsHeaders()
    {
        var (context, sent) = Response(200, "text/html");
        context.Response.Headers.ContentEncoding = "gzip";
        context.Response.ContentLength = 3;
        var stream = new BannerInjectingStream(context, sent, Banner);

        await stream.WriteAsync(new byte[] { 1, 2, 3 });

        Assert.Equal(new byte[] { 1, 2, 3 }, sent.ToArray()); // written at once, not held
        Assert.Equal(3, context.Response.ContentLength);
        Assert.False(stream.Injected);
    }

    [Fact]
    public void Markup_IsAscii_WithNamesEncoded()
    {
        var markup = Encoding.ASCII.GetString(SupportBannerMiddleware.Markup("jüll<x>", "jöhn", "18:00 (Europe/Berlin)", signOut: true));

        Assert.DoesNotContain("<x>", markup, StringComparison.Ordinal);
        Assert.Contains("&#xFC;", markup, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("href=\"/_gateway/support/logout\"", markup, StringComparison.Ordinal);
        Assert.Contains("<link rel=\"stylesheet\" href=\"/_gateway/assets/banner.css\">", markup, StringComparison.Ordinal);
        Assert.DoesNotContain("style=", markup, StringComparison.Ordinal);
    }

    private static (DefaultHttpContext Context, MemoryStream Sent) Response(int status, string contentType)
    {
        var context = new DefaultHttpContext();
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        return (context, new MemoryStream());
    }
}

/// <summary>The banner through the real gateway: on support sessions' pages only, never on anything else.</summary>
public sealed class SupportBannerTests(SupportPagesEnvironment env) : IClassFixture<SupportPagesEnvironment>, IAsyncLifetime
{
    private readonly HttpClient _acme = env.Gateway.Client("acme.localhost");

    public async Task InitializeAsync()
    {
        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", env.Ann);
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { }, 201);
    }

    public Task DisposeAsync()
    {
        _acme.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task SupportSessionsPage_CarriesTheBannerRightAfterBody()
    {
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);

        using var response = await GetAsync(_acme, "/", new AuthenticationHeaderValue("Bearer", token), r => r.Headers.TryAddWithoutValidation("Accept", SignInForm.BrowserAccept));
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var html = Encoding.UTF8.GetString(bytes);

        Assert.Contains("<body><link rel=\"stylesheet\" href=\"/_gateway/assets/banner.css\"><div class=\"sgw-banner\"", html, StringComparison.Ordinal);
        Assert.Contains("Support session: <strong>jill</strong> acting as <strong>john</strong> &mdash; ends ", html, StringComparison.Ordinal);
        // The app's Content-Length described the page without the banner: gone, or right.
        Assert.True(response.Content.Headers.ContentLength is null || response.Content.Headers.ContentLength == bytes.Length);
        Assert.Contains("no-store", response.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task OrdinaryPages_NonHtml_AndHead_AreUntouched()
    {
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);

        using var ordinary = await GetAsync(_acme, "/", null, r => r.Headers.TryAddWithoutValidation("Accept", SignInForm.BrowserAccept));
        Assert.DoesNotContain("sgw-banner", await ordinary.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var json = await GetAsync(_acme, "/api/echo/x", bearer);
        Assert.DoesNotContain("sgw-banner", await json.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var head = new HttpRequestMessage(HttpMethod.Head, "/");
        head.Headers.Authorization = bearer;
        head.Headers.TryAddWithoutValidation("Accept", SignInForm.BrowserAccept);
        using var headResponse = await _acme.SendAsync(head);
        Assert.True(headResponse.IsSuccessStatusCode);
        Assert.Empty(await headResponse.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task DocumentNavigation_AsksTheAppForAnUncompressedWholePage()
    {
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);

        var echo = await EchoAsync(_acme, new AuthenticationHeaderValue("Bearer", token), r =>
        {
            r.Headers.TryAddWithoutValidation("Accept", SignInForm.BrowserAccept);
            r.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, br");
            r.Headers.TryAddWithoutValidation("If-None-Match", "\"v1\"");
        });
        Assert.Null(Header(echo, "Accept-Encoding"));
        Assert.Null(Header(echo, "If-None-Match"));

        // Ordinary traffic keeps every header.
        var ordinary = await EchoAsync(_acme, null, r =>
        {
            r.Headers.TryAddWithoutValidation("Accept", SignInForm.BrowserAccept);
            r.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, br");
        });
        Assert.Equal("gzip, br", Header(ordinary, "Accept-Encoding"));
    }
}
