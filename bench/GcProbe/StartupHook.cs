using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Linq;
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

        if (Environment.GetEnvironmentVariable("BENCH_ALLOC_PROFILE") == "1")
        {
            AllocationSampler.Start();
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
                if (AllocationSampler.IsRunning)
                {
                    body = body[..^1] + ",\"allocByType\":" + AllocationSampler.Json() + "}";
                }

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

/// <summary>
/// With <c>BENCH_ALLOC_PROFILE=1</c>: an allocation profile by type, sampled by the runtime's
/// own GCAllocationTick event (one per ~100 KB allocated, naming the type whose allocation
/// crossed the threshold and carrying the bytes since the last one), read in process by an
/// EventListener. Statistically, each type's share of the bytes is its share of allocation.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private static AllocationSampler? _instance;
    private readonly ConcurrentDictionary<string, long> _bytesByType = new(StringComparer.Ordinal);

    public static bool IsRunning => _instance is not null;

    public static void Start() => _instance ??= new AllocationSampler();

    /// <summary>Cumulative sampled bytes per type, as a JSON object (the bench diffs two reads).</summary>
    public static string Json()
    {
        var pairs = _instance!._bytesByType.ToArray();
        return "{" + string.Join(",", pairs.Select(p => "\"" + p.Key.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\":" + p.Value.ToString(CultureInfo.InvariantCulture))) + "}";
    }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: AllocationTick is verbose
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null || e.PayloadNames is null)
        {
            return;
        }

        var type = "?";
        long bytes = 0;
        for (var i = 0; i < e.PayloadNames.Count; i++)
        {
            switch (e.PayloadNames[i])
            {
                case "TypeName":
                    type = e.Payload[i] as string ?? "?";
                    break;
                case "AllocationAmount64":
                    bytes = Convert.ToInt64(e.Payload[i], CultureInfo.InvariantCulture);
                    break;
            }
        }

        _bytesByType.AddOrUpdate(type, bytes, (_, total) => total + bytes);
    }
}
