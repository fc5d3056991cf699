using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// Redis's <c>MONITOR</c> over a raw connection: every command the server executes, from any
/// client, in order. A window is closed by a marker command sent on another connection, so a test
/// reads exactly what ran between two points without waiting for time to pass.
/// </summary>
internal sealed class RedisMonitor : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly StreamReader _reader;
    private readonly int _port;

    private RedisMonitor(TcpClient client, int port)
    {
        _client = client;
        _port = port;
        _reader = new StreamReader(client.GetStream(), Encoding.UTF8);
    }

    public static async Task<RedisMonitor> StartAsync(RedisServer redis)
    {
        var client = new TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, redis.Port);
        var monitor = new RedisMonitor(client, redis.Port);
        await client.GetStream().WriteAsync("MONITOR\r\n"u8.ToArray());
        var ok = await monitor._reader.ReadLineAsync();
        Assert.Equal("+OK", ok);
        return monitor;
    }

    /// <summary>The commands clients sent (name and arguments as Redis logs them) since the last call, up to a marker sent now; a script counts as one.</summary>
    public async Task<IReadOnlyList<string>> CommandsUntilNowAsync()
    {
        var marker = "monitor-marker-" + Guid.NewGuid().ToString("N");
        using (var other = new TcpClient())
        {
            await other.ConnectAsync(System.Net.IPAddress.Loopback, _port);
            var stream = other.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"ECHO {marker}\r\n"));
            using var reply = new StreamReader(stream, Encoding.UTF8);
            await reply.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        var commands = new List<string>();
        while (await _reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)) is { } line)
        {
            if (line.Contains(marker, StringComparison.Ordinal))
            {
                return commands;
            }

            // +1700000000.123456 [0 127.0.0.1:50000] "EVALSHA" "…" …; commands a script runs show as [0 lua] and are part of it.
            var bracket = line.IndexOf("] ", StringComparison.Ordinal);
            if (bracket >= 0 && line.AsSpan(0, bracket).EndsWith(" lua", StringComparison.Ordinal))
            {
                continue;
            }

            commands.Add(bracket < 0 ? line : line[(bracket + 2)..]);
        }

        throw new InvalidOperationException("The MONITOR connection closed.");
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _client.Dispose();
        await Task.CompletedTask;
    }
}
