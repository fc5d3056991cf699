using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Proxying;

/// <summary>
/// RFC 9110 §7.6.1 against a hostile Connection header: names of ordinary headers are removed
/// before forwarding; names of the request's framing, host or credentials are refused with 400;
/// never an exception, a 502 or a stack trace in the log.
/// </summary>
public sealed class ConnectionHeaderTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        _env = await new TestEnvironment { Backends = TestBackends.Shared, MintTokens = false }.StartAsync();
        _env.Gateway.Logs.Clear();
    }

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Theory]
    [InlineData("Host")]
    [InlineData("Content-Type")]
    [InlineData("content-length")]
    [InlineData("Authorization")]
    [InlineData("Transfer-Encoding")]
    [InlineData("Expect")]
    [InlineData("TE")]
    public async Task NamingFramingHostOrCredentials_IsRefusedWith400_NotAnException(string name)
    {
        var hits = _env.Acme.Hits.Total;

        var answer = await RawHttp.SendAsync(_env.Gateway.Port, "acme.localhost", "GET", "/api/echo/x",
            [new("Connection", $"Upgrade2, {name}"), new("Content-Type", "text/plain"), new("Authorization", "Bearer app-token")], close: false);

        Assert.Equal(400, answer.Status);
        Assert.Contains("request.connection_header", answer.Body, StringComparison.Ordinal);
        Assert.Equal(hits, _env.Acme.Hits.Total);
        Assert.Empty(_env.Gateway.Logs.Noisy);
    }

    [Theory]
    [InlineData("X-Custom", "X-Custom")]
    [InlineData("content-language", "Content-Language")]
    public async Task NamingAnOrdinaryHeader_RemovesIt_AndForwards(string named, string header)
    {
        var answer = await RawHttp.SendAsync(_env.Gateway.Port, "acme.localhost", "GET", "/api/echo/x",
            [new("Connection", named), new(header, "hop-value")], close: false);

        Assert.Equal(200, answer.Status);
        Assert.Empty(_env.Gateway.Logs.Noisy);
    }
}
