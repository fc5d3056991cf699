using System.Net.WebSockets;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Proxying;

/// <summary>A client going away mid-stream is ordinary: logged at Debug at most, never a warning with a stack trace.</summary>
public sealed class ClientDisconnectTests : IAsyncLifetime
{
    private SampleBackend _backend = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _backend = await SampleBackend.StartAsync("acme");
        _gateway = await GatewayHost.StartAsync(
            new Dictionary<string, Uri> { ["acme"] = _backend.Address, ["globex"] = _backend.Address },
            "--Logging:LogLevel:Default=Debug", "--Logging:LogLevel:Microsoft.AspNetCore=Debug", "--Logging:LogLevel:Yarp=Debug");
        _gateway.Logs.Clear(); // start-up notices (demo key, no shipping) are not what this is about
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Theory]
    [InlineData("/events?interval=10", false)]
    [InlineData("/download?bytes=104857600", false)]
    [InlineData("/events?interval=10", true)]
    [InlineData("/download?bytes=104857600", true)]
    public async Task ClientLeavingAStream_LeavesNoWarningOrStackTrace(string path, bool support)
    {
        if (support)
        {
            var api = new ManagementClient(_gateway);
            await api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await api.TokenAsync("john", "tenant-user", "acme"), new { denyData = false }, 201);
            _gateway.Logs.Clear();
        }

        using (var client = _gateway.Client("acme.localhost"))
        using (var response = await GetAsync(client, path, support ? Basic("jill$john", JillPassword) : null))
        await using (var body = await response.Content.ReadAsStreamAsync())
        {
            var buffer = new byte[1024];
            Assert.True(await body.ReadAsync(buffer) > 0);
        }

        // The call's audit event marks the end of its handling: every log line about it is written by then.
        await _gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "url.path") == path.Split('?')[0] && AuditTrail.Get(e, "event.reason") is not null);
        AssertQuiet();
    }

    [Fact]
    public async Task ClientLeavingAWebSocket_LeavesNoWarningOrStackTrace()
    {
        using (var socket = await LoopbackHttp.ConnectWebSocketAsync(_gateway.Port, "acme.localhost", "/ws", CancellationToken.None))
        {
            await socket.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            socket.Abort();
        }

        await _gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "url.path") == "/ws");
        AssertQuiet();
    }

    private void AssertQuiet()
    {
        var noisy = _gateway.Logs.Noisy;
        Assert.True(noisy.Count == 0, string.Join(Environment.NewLine, noisy.Select(e => $"{e.Level} {e.Category} {e.EventId}: {e.Message} {e.Exception?.GetType().Name}")));
    }
}
