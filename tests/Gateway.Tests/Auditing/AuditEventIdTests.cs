using Gateway.Auditing;

namespace Gateway.Tests.Auditing;

/// <summary>
/// Event ids are Elasticsearch's <c>_id</c> (a replayed batch must not duplicate events), so
/// they are unique without coordination, sort by time, and read as Crockford base32.
/// </summary>
public sealed class AuditEventIdTests
{
    private const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

    [Fact]
    public void Id_EncodesTheMillisecondsFirst_ThenRandomBits()
    {
        var at = new DateTimeOffset(2026, 11, 22, 13, 45, 1, 234, TimeSpan.Zero);

        var id = AuditEvent.NewId(at);

        Assert.Equal(26, id.Length);
        Assert.All(id, c => Assert.Contains(c, Alphabet));
        // 26 × 5 = 130 bits: 2 leading zero bits, 48 bits of milliseconds, 80 random bits.
        var value = id.Aggregate(UInt128.Zero, (acc, c) => (acc << 5) | (uint)Alphabet.IndexOf(c));
        Assert.Equal((ulong)at.ToUnixTimeMilliseconds(), (ulong)(value >> 80));
    }

    [Fact]
    public void Ids_AreUnique_AcrossThreads_AndSortByTime()
    {
        var at = DateTimeOffset.UnixEpoch.AddYears(56);
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 25_000; i++)
            {
                ids.Add(AuditEvent.NewId(at));
            }
        });

        Assert.Equal(200_000, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.True(string.CompareOrdinal(AuditEvent.NewId(at), AuditEvent.NewId(at.AddMilliseconds(1))) < 0);
        Assert.True(string.CompareOrdinal(AuditEvent.NewId(at.AddYears(1)), AuditEvent.NewId(at.AddYears(2))) < 0);
    }

    [Fact]
    public void DefaultId_IsMadeOnce_FromTheTimestamp()
    {
        var at = new DateTimeOffset(2026, 3, 10, 9, 0, 0, TimeSpan.Zero);
        var auditEvent = new AuditEvent { Timestamp = at, Category = "web", Action = "proxy-request" };

        var first = auditEvent.Id;

        Assert.Same(first, auditEvent.Id);
        Assert.Equal(AuditEvent.NewId(at)[..10], first[..10]);
    }
}
