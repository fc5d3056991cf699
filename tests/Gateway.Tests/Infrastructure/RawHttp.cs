using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// One HTTP/1.1 request written byte for byte (a request line exactly as given, which no HTTP
/// client library would send for odd targets), and the status of its answer. The body is read
/// only for problem documents: other answers may stream without end (server-sent events).
/// </summary>
internal static class RawHttp
{
    public sealed record Answer(int Status, string? ContentType, string Body);

    /// <param name="close">Ask the server to close after answering (<c>Connection: close</c>). Without it the
    /// request's own Connection header is the only one (Kestrel hides the names listed beside a close).</param>
    public static async Task<Answer> SendAsync(int port, string host, string method, string rawTarget, IEnumerable<KeyValuePair<string, string>> headers, bool close = true)
    {
        // An answer never takes this long on loopback; a server that keeps quiet is a failure, not a hang.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, deadline.Token);
        var stream = client.GetStream();
        var request = new StringBuilder();
        request.Append(method).Append(' ').Append(rawTarget).Append(" HTTP/1.1\r\n");
        request.Append("Host: ").Append(host).Append("\r\n");
        foreach (var (name, value) in headers)
        {
            request.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        request.Append(close ? "Content-Length: 0\r\nConnection: close\r\n\r\n" : "Content-Length: 0\r\n\r\n");
        // Latin-1: each char of the target is sent as the byte of the same value (raw non-ASCII on purpose).
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request.ToString()), deadline.Token);

        var received = new List<byte>();
        var chunk = new byte[8192];
        int headerEnd;
        while ((headerEnd = IndexOfHeaderEnd(received)) < 0)
        {
            var read = await stream.ReadAsync(chunk, deadline.Token);
            if (read == 0)
            {
                throw new IOException($"The connection closed before a whole response head ({received.Count} bytes).");
            }

            received.AddRange(chunk.AsSpan(0, read));
        }

        var head = Encoding.Latin1.GetString(received.GetRange(0, headerEnd).ToArray());
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var contentType = Header(lines, "Content-Type");
        if (contentType?.StartsWith("application/problem+json", StringComparison.Ordinal) != true || method == "HEAD")
        {
            return new Answer(status, contentType, "");
        }

        // Problem documents are short: read to the end of the connection, or of the body when it stays open.
        var chunked = string.Equals(Header(lines, "Transfer-Encoding"), "chunked", StringComparison.OrdinalIgnoreCase);
        var length = int.TryParse(Header(lines, "Content-Length"), out var declared) ? declared : -1;
        int more;
        while (!Complete(received, headerEnd + 4, chunked, length) && (more = await stream.ReadAsync(chunk, deadline.Token)) > 0)
        {
            received.AddRange(chunk.AsSpan(0, more));
        }

        var body = Encoding.UTF8.GetString(received.GetRange(headerEnd + 4, received.Count - headerEnd - 4).ToArray());
        return new Answer(status, contentType, string.Equals(Header(lines, "Transfer-Encoding"), "chunked", StringComparison.OrdinalIgnoreCase) ? Dechunk(body) : body);
    }

    private static bool Complete(List<byte> received, int bodyStart, bool chunked, int length)
    {
        var body = received.Count - bodyStart;
        if (length >= 0)
        {
            return body >= length;
        }

        if (!chunked || body < 5)
        {
            return false;
        }

        // The last chunk: "0\r\n\r\n".
        return received[^5] == '0' && received[^4] == '\r' && received[^3] == '\n' && received[^2] == '\r' && received[^1] == '\n';
    }

    private static int IndexOfHeaderEnd(List<byte> bytes)
    {
        for (var i = 3; i < bytes.Count; i++)
        {
            if (bytes[i - 3] == '\r' && bytes[i - 2] == '\n' && bytes[i - 1] == '\r' && bytes[i] == '\n')
            {
                return i - 3;
            }
        }

        return -1;
    }

    private static string? Header(string[] lines, string name) =>
        lines.Skip(1).FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))?[(name.Length + 1)..].Trim();

    private static string Dechunk(string body)
    {
        var result = new StringBuilder();
        var position = 0;
        while (position < body.Length)
        {
            var lineEnd = body.IndexOf("\r\n", position, StringComparison.Ordinal);
            var size = Convert.ToInt32(body[position..lineEnd].Split(';')[0], 16);
            if (size == 0)
            {
                break;
            }

            result.Append(body, lineEnd + 2, size);
            position = lineEnd + 2 + size + 2;
        }

        return result.ToString();
    }
}
