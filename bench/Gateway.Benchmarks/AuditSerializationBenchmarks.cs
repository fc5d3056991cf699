using System.Buffers;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Gateway.Auditing;

namespace Gateway.Benchmarks;

/// <summary>
/// The ECS serialisation (<see cref="EcsAuditSerializer"/>) of the event one support request
/// produces: done once per audited call, by the spool writer.
/// </summary>
[Config(typeof(GatewayBenchmarkConfig))]
public class AuditSerializationBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private AuditEvent _event = null!;
    private Utf8JsonWriter _writer = null!;

    [GlobalSetup]
    public void Setup()
    {
        var at = new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);
        _event = new AuditEvent
        {
            Id = AuditEvent.NewId(at),
            Timestamp = at,
            Category = "web",
            Action = "support-request",
            Duration = TimeSpan.FromMilliseconds(1.7),
            HttpMethod = "GET",
            UrlPath = "/download",
            UrlQuery = "bytes=1024",
            StatusCode = 200,
            RequestBytes = 0,
            ResponseBytes = 1024,
            SourceIp = "127.0.0.1",
            UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
            TraceId = "4bf92f3577b34da6a3ce929d0e0e4736",
            RouteId = "acme-download",
            RouteClass = "data",
            Tenant = "acme",
            UserName = "jill$john",
            UserId = "jill",
            TargetUserName = "john",
            GrantIds = ["g_abcdefghijklmnopqrstuvwxyz"],
            Isolation = "denyConfig",
            Decision = "allowed",
            SessionId = "s_0123456789abcdefghijklmnop",
        };
        _writer = new Utf8JsonWriter(_buffer);
    }

    [GlobalCleanup]
    public void Cleanup() => _writer.Dispose();

    [Benchmark(Baseline = true, Description = "ECS document to a new byte[]")]
    public int ToBytes() => EcsAuditSerializer.Serialize(_event).Length;

    [Benchmark(Description = "ECS document into a reused buffer (as the spool writer does)")]
    public int ToReusedBuffer()
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        EcsAuditSerializer.Write(_writer, _event);
        _writer.Flush();
        return _buffer.WrittenCount;
    }
}
