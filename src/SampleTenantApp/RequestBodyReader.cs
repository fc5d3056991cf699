using System.IO.Pipelines;

namespace SampleTenantApp;

internal readonly record struct BodySummary(long Bytes, uint Checksum);

internal static class RequestBodyReader
{
    /// <summary>
    /// Drains the request body straight from Kestrel's pipe (no copy, nothing buffered beyond
    /// what the transport already holds) and returns its length and its sum-of-bytes mod 2^32.
    /// </summary>
    public static async Task<BodySummary> DrainAsync(PipeReader reader, bool checksum, CancellationToken cancellationToken)
    {
        long bytes = 0;
        uint sum = 0;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            bytes += buffer.Length;
            if (checksum)
            {
                foreach (var segment in buffer)
                {
                    sum = Sum(segment.Span, sum);
                }
            }

            reader.AdvanceTo(buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return new BodySummary(bytes, sum);
            }
        }
    }

    private static uint Sum(ReadOnlySpan<byte> span, uint sum)
    {
        // Wrapping addition is the documented checksum (mod 2^32).
        unchecked
        {
            foreach (var b in span)
            {
                sum += b;
            }
        }

        return sum;
    }
}
