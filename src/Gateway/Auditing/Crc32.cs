using System.Buffers.Binary;

namespace Gateway.Auditing;

/// <summary>
/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: the one of zlib, PNG and
/// <c>cksum -o 3</c>), table-driven with slicing-by-8. <c>System.IO.Hashing</c> is not on the
/// package feed (docs/DEPENDENCIES.md), and the spool only needs to detect torn and corrupted
/// records, not resist tampering.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Continues <paramref name="crc"/> (the result of an earlier call) over more data.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var table = Table;
        crc = ~crc;
        while (data.Length >= 8)
        {
            var one = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            var two = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = table[(7 * 256) + (one & 0xff)]
                ^ table[(6 * 256) + ((one >> 8) & 0xff)]
                ^ table[(5 * 256) + ((one >> 16) & 0xff)]
                ^ table[(4 * 256) + (one >> 24)]
                ^ table[(3 * 256) + (two & 0xff)]
                ^ table[(2 * 256) + ((two >> 8) & 0xff)]
                ^ table[(1 * 256) + ((two >> 16) & 0xff)]
                ^ table[two >> 24];
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        for (var i = 0; i < 256; i++)
        {
            for (var slice = 1; slice < 8; slice++)
            {
                var previous = table[((slice - 1) * 256) + i];
                table[(slice * 256) + i] = table[previous & 0xff] ^ (previous >> 8);
            }
        }

        return table;
    }
}
