using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

/// <summary>
/// Loaded by the runtime before <c>Main</c> when <c>DOTNET_STARTUP_HOOKS</c> names this assembly.
/// With <c>BENCH_GC_PORT</c> set, it answers every connection to 127.0.0.1:PORT with one
/// HTTP/1.0 response holding the process's allocation and GC counts, then closes it:
/// <c>curl -s http://127.0.0.1:PORT/</c> →
/// <c>{"allocated":123,"gen0":1,"gen1":0,"gen2":0,"heap":456,"jitted":7890,"jitMs":1234}</c>
/// ("jitted": methods compiled so far, every tier; the benchmark warms up until it stops growing).
/// This gives allocations per request (before/after a wrk run) without EventPipe or
/// dotnet-counters, which the offline feed does not serve, and without an endpoint in the
/// measured app. Its own cost is one thread blocked in Accept and a few hundred bytes per probe.
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        var portText = Environment.GetEnvironmentVariable("BENCH_GC_PORT");
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            return;
        }

        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        var thread = new Thread(() => Serve(listener)) { IsBackground = true, Name = "bench-gc-probe" };
        thread.Start();
    }

    private static void Serve(TcpListener listener)
    {
        while (true)
        {
            try
            {
                using var client = listener.AcceptTcpClient();
                using var stream = client.GetStream();

                // Read whatever request line the client sent, so it does not see a reset.
                var buffer = new byte[1024];
                stream.ReadTimeout = 1000;
                _ = stream.Read(buffer, 0, buffer.Length);

                var body = string.Create(CultureInfo.InvariantCulture,
                    $"{{\"allocated\":{GC.GetTotalAllocatedBytes(precise: true)},\"gen0\":{GC.CollectionCount(0)},\"gen1\":{GC.CollectionCount(1)},\"gen2\":{GC.CollectionCount(2)},\"heap\":{GC.GetTotalMemory(forceFullCollection: false)},\"jitted\":{System.Runtime.JitInfo.GetCompiledMethodCount()},\"jitMs\":{(long)System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds}}}");
                var response = $"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
                stream.Write(Encoding.ASCII.GetBytes(response));
            }
            catch (IOException)
            {
            }
            catch (SocketException)
            {
            }
        }
    }
}
