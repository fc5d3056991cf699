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

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_state == State.Undecided)
        {
            Decide();
        }

        if (_state == State.PassThrough)
        {
            await inner.WriteAsync(buffer, cancellationToken);
            return;
        }

        Hold(buffer.Span);

        // Only the first MaxScanBytes are searched; a tag that starts there may end a little later.
        var at = FindInsertionPoint(_held.AsSpan(0, Math.Min(_count, MaxScanBytes)), out var incomplete);
        if (at < 0 && incomplete)
        {
            at = FindInsertionPoint(_held.AsSpan(0, Math.Min(_count, MaxScanBytes * 2)), out incomplete);
        }

        if (at >= 0)
        {
            await inner.WriteAsync(_held.AsMemory(0, at), cancellationToken);
            await inner.WriteAsync(banner, cancellationToken);
            await inner.WriteAsync(_held.AsMemory(at, _count - at), cancellationToken);
            Injected = true;
            Release();
        }
        else if ((_count >= MaxScanBytes && !incomplete) || _count >= MaxScanBytes * 2)
        {
            await ReleaseUnchangedAsync(cancellationToken);
        }
    }

    public override void Flush() => FlushAsync().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_state == State.Undecided)
        {
            Decide();
        }

        // While looking for the body tag nothing is sent; the document's head alone shows nothing anyway.
        return _state == State.Scanning ? Task.CompletedTask : inner.FlushAsync(cancellationToken);
    }

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
}
