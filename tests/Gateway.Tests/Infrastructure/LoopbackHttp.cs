using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// HTTP clients that reach a server on a loopback port whatever host name the URL carries, so
/// tests send real <c>Host: acme.localhost</c> requests without depending on DNS.
/// </summary>
internal static class LoopbackHttp
{
    public static SocketsHttpHandler Handler(int port) => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    public static HttpClient Client(int port, string host) => new(Handler(port))
    {
        BaseAddress = new Uri($"http://{host}:{port}/"),
        Timeout = TimeSpan.FromMinutes(2),
    };

    public static async Task<ClientWebSocket> ConnectWebSocketAsync(int port, string host, string path, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{host}:{port}{path}"), new HttpMessageInvoker(Handler(port)), cancellationToken);
        return socket;
    }
}
