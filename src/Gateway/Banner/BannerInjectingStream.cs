using Microsoft.Net.Http.Headers;

namespace Gateway.Banner;

/// <summary>
/// The response body of a support session's page navigation, with the banner put right after the
/// <c>&lt;body…&gt;</c> tag. It decides once, at the first write or flush (when the backend's status
/// and headers are final and nothing has been sent): only a complete (200), uncompressed
/// (<c>Content-Encoding</c> absent or <c>identity</c>), unranged <c>text/html</c> document in an
/// ASCII-compatible charset is rewritten; every other response passes straight through, unbuffered.
/// A rewritten one is held until its <c>&lt;body…&gt;</c> tag has arrived, at most
/// <see cref="MaxScanBytes"/>; a document with no such tag by then (or at its end) is sent unchanged.
/// Its <c>Content-Length</c>, <c>ETag</c> and <c>Last-Modified</c> no longer describe the bytes sent,
/// so they are removed, and it is marked <c>no-store</c>.
/// </summary>
internal sealed class BannerInjectingStream(HttpContext context, Stream inner, byte[] banner) : Stream
{
    /// <summary>How much of a document is held while looking for its body tag.</summary>
    public const int MaxScanBytes = 16 * 1024;

    private static readonly string[] AsciiCompatibleCharsets = ["utf-8", "utf8", "us-ascii", "iso-8859-1", "windows-1252", "latin1"];

    private State _state = State.Undecided;
    private byte[]? _held;
    private int _count;

    private enum State
    {
        Undecided,
        Scanning,
        PassThrough,
    }

    /// <summary>True once the banner went out with this response (tests, audit of what was shown).</summary>
    public bool Injected { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Whether a response with these headers may be rewritten (pure: the rules in one place).</summary>
    internal static bool IsRewritable(int status, string? contentType, string? contentEncoding, bool hasContentRange)
    {
        if (status != StatusCodes.Status200OK || hasContentRange)
        {
            return false;
        }

        if (!string.IsNullOrEmpty(contentEncoding) && !contentEncoding.Trim().Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var media) || !media.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var charset = media.Charset.Value;
        return charset is null || AsciiCompatibleCharsets.Contains(charset.Trim('"'), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Where the banner goes: just after the '&gt;' that closes the first <c>&lt;body</c> tag (quoted
    /// attribute values may hold '&gt;'). -1 when there is none yet; <paramref name="incomplete"/>
    /// says a tag has started but not ended in what is held.
    /// </summary>
    internal static int FindInsertionPoint(ReadOnlySpan<byte> html, out bool incomplete)
    {
        incomplete = false;
        for (var i = html.IndexOf((byte)'<'); i >= 0 && i < html.Length; i = NextTag(html, i + 1))
        {
            if (i + 5 >= html.Length)
            {
                // "<bod" at the end of what has arrived: it may yet become a body tag.
                incomplete = StartsBody(html[i..]);
                return -1;
            }

            if (!StartsBody(html[i..(i + 5)]) || !IsTagNameEnd(html[i + 5]))
            {
                continue;
            }

            byte quote = 0;
            for (var j = i + 5; j < html.Length; j++)
            {
                var c = html[j];
                if (quote != 0)
                {
                    quote = c == quote ? (byte)0 : quote;
                }
                else if (c is (byte)'"' or (byte)'\'')
                {
                    quote = c;
                }
                else if (c == (byte)'>')
                {
                    return j + 1;
                }
            }

            incomplete = true;
            return -1;
        }

        return -1;

        static int NextTag(ReadOnlySpan<byte> html, int from)
        {
            var next = html[from..].IndexOf((byte)'<');
            return next < 0 ? -1 : from + next;
        }

        static bool StartsBody(ReadOnlySpan<byte> text)
        {
            ReadOnlySpan<byte> tag = "<body"u8;
            for (var k = 0; k < text.Length && k < tag.Length; k++)
            {
                if ((text[k] | (k == 0 ? 0 : 0x20)) != tag[k])
                {
                    return false;
                }
            }

            return true;
        }

        static bool IsTagNameEnd(byte c) => c is (byte)'>' or (byte)'/' or (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\f';
    }

    // Synchronous writes take the same decisions and write synchronously to the inner stream (which
    // refuses them when the server forbids synchronous I/O, as it would without this wrapper).
    public override void Write(byte[] buffer, int offset, int count)
    {
        var outgoing = Accept(buffer.AsMemory(offset, count));
        for (var i = 0; i < outgoing.Count; i++)
        {
            inner.Write(outgoing[i].Span);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var outgoing = Accept(buffer);
        for (var i = 0; i < outgoing.Count; i++)
        {
            await inner.WriteAsync(outgoing[i], cancellationToken);
        }
    }

    public override void Flush()
    {
        if (ShouldFlush())
        {
            inner.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        ShouldFlush() ? inner.FlushAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>The response has ended: anything still held goes out unchanged (a document without a body tag).</summary>
    public Task CompleteAsync(CancellationToken cancellationToken) =>
        _state == State.Scanning ? ReleaseUnchangedAsync(cancellationToken) : Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void Decide()
    {
        var response = context.Response;
        var headers = response.Headers;
        if (response.HasStarted || !IsRewritable(response.StatusCode, response.ContentType, headers.ContentEncoding.ToString(), headers.ContentRange.Count > 0))
        {
            _state = State.PassThrough;
            return;
        }

        _state = State.Scanning;
        response.ContentLength = null;
        headers.ETag = default;
        headers.LastModified = default;
        headers.CacheControl = "no-store";
    }

    /// <summary>
    /// What one write sends on, decided here once for the synchronous and the asynchronous path:
    /// the write itself when passing through; nothing while the body tag is still awaited; the held
    /// document's start, the banner and its rest once the tag is found; the held bytes unchanged
    /// when there is no tag within the scan limit.
    /// </summary>
    private Outgoing Accept(ReadOnlyMemory<byte> buffer)
    {
        if (_state == State.Undecided)
        {
            Decide();
        }

        if (_state == State.PassThrough)
        {
            return new Outgoing(1, buffer, default, default);
        }

        Hold(buffer.Span);

        // Only the first MaxScanBytes are searched; a tag that starts there may end a little later.
        var at = FindInsertionPoint(_held.AsSpan(0, Math.Min(_count, MaxScanBytes)), out var incomplete);
        if (at < 0 && incomplete)
        {
            at = FindInsertionPoint(_held.AsSpan(0, Math.Min(_count, MaxScanBytes * 2)), out incomplete);
        }

        var held = _held.AsMemory(0, _count);
        if (at >= 0)
        {
            Injected = true;
            Release();
            return new Outgoing(3, held[..at], banner, held[at..]);
        }

        if ((_count >= MaxScanBytes && !incomplete) || _count >= MaxScanBytes * 2)
        {
            Release();
            return new Outgoing(1, held, default, default);
        }

        return default;
    }

    /// <summary>While looking for the body tag nothing is sent; the document's head alone shows nothing anyway.</summary>
    private bool ShouldFlush()
    {
        if (_state == State.Undecided)
        {
            Decide();
        }

        return _state != State.Scanning;
    }

    private void Hold(ReadOnlySpan<byte> data)
    {
        _held ??= new byte[Math.Max(4096, data.Length)];
        if (_count + data.Length > _held.Length)
        {
            Array.Resize(ref _held, Math.Max(_held.Length * 2, _count + data.Length));
        }

        data.CopyTo(_held.AsSpan(_count));
        _count += data.Length;
    }

    private async Task ReleaseUnchangedAsync(CancellationToken cancellationToken)
    {
        if (_count > 0)
        {
            await inner.WriteAsync(_held.AsMemory(0, _count), cancellationToken);
        }

        Release();
    }

    private void Release()
    {
        _state = State.PassThrough;
        _held = null;
        _count = 0;
    }

    /// <summary>Up to three pieces one write sends on, in order (no array per write).</summary>
    private readonly struct Outgoing(int count, ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second, ReadOnlyMemory<byte> third)
    {
        public int Count => count;

        public ReadOnlyMemory<byte> this[int index] => index switch { 0 => first, 1 => second, _ => third };
    }
}
