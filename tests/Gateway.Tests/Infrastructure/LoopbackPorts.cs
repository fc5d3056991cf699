using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// Ports for servers a test starts itself (redis-server, child gateways' sample apps) or needs
/// to be dead. Binding port 0 and closing hands out an ephemeral port that the next caller, a
/// Kestrel host on port 0 or an outgoing connection can get again; a redis-server that a test
/// stops and restarts on "its" port then meets somebody else's server there. So these ports
/// come from below the kernel's ephemeral range, and no port is handed out twice in a run.
/// </summary>
internal static class LoopbackPorts
{
    private const int First = 20000;
    private const int Last = 32000;

    private static readonly object Gate = new();
    private static int _next = First + Random.Shared.Next(0, 4000);

    /// <summary>A loopback port that is free now and that no other caller in this run receives.</summary>
    public static int Reserve()
    {
        lock (Gate)
        {
            while (_next <= Last)
            {
                var port = _next++;
                if (IsFree(port))
                {
                    return port;
                }
            }
        }

        throw new InvalidOperationException($"No free loopback port left in {First}-{Last}.");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
