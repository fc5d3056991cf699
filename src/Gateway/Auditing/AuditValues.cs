using System.Security.Cryptography;
using System.Text;

namespace Gateway.Auditing;

internal static class AuditValues
{
    /// <summary>
    /// A value cut to about <paramref name="maxLength"/> characters: its start, its end and, between
    /// them, the SHA-256 of the whole value and its length, so a cut value can still be matched
    /// against a suspected original.
    /// </summary>
    public static string Cap(string value, int maxLength)
    {
        if (value.Length <= maxLength)
        {
            return value;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));
        var marker = $"…[cut: {value.Length} chars, sha256 {hash}]…";
        var keep = Math.Max(0, maxLength - marker.Length);
        var head = keep - (keep / 4);
        return string.Concat(value.AsSpan(0, head), marker, value.AsSpan(value.Length - (keep / 4)));
    }
}
