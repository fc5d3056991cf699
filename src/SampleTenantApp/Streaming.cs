using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SampleTenantApp;

/// <param name="Checksum">Sum of all body bytes mod 2^32 (see <see cref="ChecksumAlgorithm"/>).</param>
internal sealed record UploadResult(long Bytes, uint Checksum, string ChecksumAlgorithm);

/// <summary>Bulk and incremental bodies: <c>/download</c>, <c>/upload</c>, <c>/chunked</c>, <c>/binary</c>, <c>/trailers</c>.</summary>
internal static class Streaming
{
    internal const string ChecksumAlgorithm = "sum32";
    private const long DefaultDownloadBytes = 1024;
    private const long MaxDownloadBytes = 10L * 1024 * 1024 * 1024;
    private const int ChunkSize = 64 * 1024;
    private const int Period = 251;

    // Byte i of a download is (byte)(i % 251). One shared, read-only pattern a period longer
    // than a chunk serves every chunk of every download: the chunk at offset o is
    // Pattern[(o % 251)..][..ChunkSize], so nothing is allocated per request or per byte.
    private static readonly byte[] Pattern = CreatePattern(ChunkSize + Period);
    private static readonly byte[] AllByteValues = CreateAllByteValues();

    public static IEndpointRouteBuilder MapStreaming(this IEndpointRouteBuilder routes)
    {
        routes.MapMethods("/download", [HttpMethods.Get, HttpMethods.Head], DownloadAsync);
        routes.MapMethods("/upload", [HttpMethods.Post, HttpMethods.Put], UploadAsync);
        routes.MapGet("/chunked", ChunkedAsync);
        routes.MapMethods("/binary", [HttpMethods.Get, HttpMethods.Head], Binary);
        routes.MapGet("/trailers", TrailersAsync);
        return routes;
    }

    private static async Task DownloadAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        var bytes = DefaultDownloadBytes;
        if (query.TryGetValue("bytes", out var bytesText)
            && (bytesText.Count != 1
                || !long.TryParse(bytesText[0], NumberStyles.None, CultureInfo.InvariantCulture, out bytes)
                || bytes > MaxDownloadBytes))
        {
            await Problems.BadRequest("invalid_bytes", $"bytes must be a whole number from 0 to {MaxDownloadBytes}.").ExecuteAsync(context);
            return;
        }

        var chunked = false;
        if (query.TryGetValue("chunked", out var chunkedText)
            && (chunkedText.Count != 1 || !bool.TryParse(chunkedText[0], out chunked)))
        {
            await Problems.BadRequest("invalid_chunked", "chunked must be true or false.").ExecuteAsync(context);
            return;
        }

        var response = context.Response;
        response.ContentType = "application/octet-stream";
        if (!chunked)
        {
            response.ContentLength = bytes;
        }

        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }

        for (long offset = 0; offset < bytes;)
        {
            var count = (int)Math.Min(ChunkSize, bytes - offset);
            await response.Body.WriteAsync(Pattern.AsMemory((int)(offset % Period), count), cancellationToken);
            offset += count;
        }
    }

    private static async Task<Ok<UploadResult>> UploadAsync(HttpContext context, CancellationToken cancellationToken)
    {
        // Only this endpoint lifts Kestrel's 30 MB default; it must be done before the body is read.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        var body = await RequestBodyReader.DrainAsync(context.Request.BodyReader, checksum: true, cancellationToken);
        return TypedResults.Ok(new UploadResult(body.Bytes, body.Checksum, ChecksumAlgorithm));
    }

    private static async Task ChunkedAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.ContentType = "text/plain; charset=utf-8";
        for (var i = 1; i <= 5; i++)
        {
            await response.WriteAsync(string.Create(CultureInfo.InvariantCulture, $"chunk-{i}\n"), cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
        }
    }

    private static FileContentHttpResult Binary() => TypedResults.File(AllByteValues, "application/octet-stream");

    private static async Task TrailersAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.ContentType = "text/plain; charset=utf-8";

        // Kestrel supports trailers on HTTP/2 and HTTP/3 only; on HTTP/1.1 this is a plain body.
        var trailers = response.SupportsTrailers();
        if (trailers)
        {
            response.DeclareTrailer("X-Checksum");
        }

        await response.WriteAsync("with trailers", cancellationToken);
        if (trailers)
        {
            response.AppendTrailer("X-Checksum", "abc");
        }
    }

    private static byte[] CreatePattern(int length)
    {
        var pattern = new byte[length];
        for (var i = 0; i < pattern.Length; i++)
        {
            pattern[i] = (byte)(i % Period);
        }

        return pattern;
    }

    private static byte[] CreateAllByteValues()
    {
        var bytes = new byte[256];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)i;
        }

        return bytes;
    }
}
