using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Proxying;

/// <summary>
/// Large bodies stream through the gateway process without being buffered: its peak resident
/// memory grows by far less than the body. Measured on a separate gateway process so the test
/// runner's own memory does not count.
/// </summary>
public sealed class StreamingMemoryTests : IAsyncLifetime
{
    private const long BodyBytes = 160L * 1024 * 1024;
    private const long AllowedGrowth = 48L * 1024 * 1024;

    private readonly TempConfigDirectory _config = new();
    private SampleBackend _backend = null!;
    private GatewayProcess _gateway = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _backend = await SampleBackend.StartAsync("acme");
        _gateway = GatewayProcess.Start(
        [
            "--config-dir", _config.Path,
            "--urls", "http://127.0.0.1:0",
            "--Gateway:Demo:HostSampleApps=false",
            $"--Serilog:WriteTo:File:Args:path={Path.Combine(_config.LogDirectory, "gateway-.log")}",
            $"--Audit:SpoolDirectory={Path.Combine(_config.LogDirectory, "spool")}",
            $"--ReverseProxy:Clusters:acme:Destinations:primary:Address={_backend.Address}",
        ]);
        var address = await _gateway.ListeningAsync();
        _client = LoopbackHttp.Client(address.Port, "acme.localhost");

        // Warm up both directions so JIT and pools are in place before measuring.
        using var down = await _client.GetAsync("/download?bytes=1048576");
        down.EnsureSuccessStatusCode();
        using var up = await _client.PostAsync("/upload", new ByteArrayContent(new byte[1048576]));
        up.EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
        _config.Dispose();
    }

    [Fact]
    public async Task LargeDownload_StreamsWithoutBufferingInTheGateway()
    {
        var before = _gateway.Memory();

        using var response = await _client.GetAsync($"/download?bytes={BodyBytes}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(BodyBytes, response.Content.Headers.ContentLength);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[81920];
        long total = 0;
        int read;
        var expectedNext = 0L;
        var intact = true;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            // Spot-check the sample app's pattern (byte i = i % 251) so a corrupted stream fails too.
            intact &= buffer[0] == (byte)(expectedNext % 251);
            total += read;
            expectedNext = total;
        }

        var after = _gateway.Memory();
        Assert.Equal(BodyBytes, total);
        Assert.True(intact, "the streamed bytes do not follow the backend's pattern");
        Assert.True(after.PeakRss - before.Rss < AllowedGrowth, $"gateway peak RSS grew by {(after.PeakRss - before.Rss) / 1048576} MiB for a {BodyBytes / 1048576} MiB body");
    }

    [Fact]
    public async Task LargeUpload_StreamsWithoutBufferingInTheGateway()
    {
        var before = _gateway.Memory();

        using var content = new StreamContent(new PatternStream(BodyBytes));
        using var response = await _client.PostAsync("/upload", content);

        var after = _gateway.Memory();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(BodyBytes, json.RootElement.GetProperty("bytes").GetInt64());
        Assert.True(after.PeakRss - before.Rss < AllowedGrowth, $"gateway peak RSS grew by {(after.PeakRss - before.Rss) / 1048576} MiB for a {BodyBytes / 1048576} MiB body");
    }

    /// <summary>A read-only stream of the given length with no backing buffer, sent chunked.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            for (var i = 0; i < n; i++)
            {
                buffer[offset + i] = (byte)((_position + i) % 251);
            }

            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
