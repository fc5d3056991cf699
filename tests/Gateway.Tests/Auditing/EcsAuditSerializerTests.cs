using System.Text;
using System.Text.Json;
using Gateway.Auditing;

namespace Gateway.Tests.Auditing;

public sealed class EcsAuditSerializerTests
{
    /// <summary>Every property of <see cref="AuditEvent"/> set: the template coverage test walks this too.</summary>
    internal static AuditEvent FullyPopulated() => new()
    {
        Id = "01jdzq7e3c0000000000000000",
        Timestamp = new DateTimeOffset(2026, 3, 10, 9, 15, 30, 123, TimeSpan.FromHours(1)),
        Kind = "event",
        Category = "web",
        Action = "support-request",
        Outcome = "failure",
        Reason = "support.isolation.deny_config",
        Duration = TimeSpan.FromMilliseconds(12.5),
        HttpMethod = "PUT",
        UrlPath = "/api/settings/theme",
        UrlQuery = "a=1&b=2",
        StatusCode = 403,
        RequestBytes = 42,
        ResponseBytes = 310,
        SourceIp = "::ffff:10.1.2.3",
        UserAgent = "curl/8.10.1",
        TraceId = "4bf92f3577b34da6a3ce929d0e0e4736",
        RouteId = "acme-settings",
        RouteClass = "config",
        Tenant = "acme",
        UserName = "jill$john",
        UserId = "jill",
        UserRoles = ["SUPPORT"],
        TargetUserName = "john",
        GrantIds = ["g_one", "g_two"],
        Isolation = "denyData,denyConfig",
        Decision = "denied",
        SessionId = "s_123",
        StartedId = "01jdzq7e3b0000000000000000",
        Details = new Dictionary<string, string?> { ["credential"] = "password", ["http.request.method"] = "PUT", ["gone"] = null },
    };

    /// <summary>An <c>audit-digest</c> event with every digest field set.</summary>
    internal static AuditEvent Digest() => new()
    {
        Id = "01jdzq7e3d0000000000000000",
        Timestamp = new DateTimeOffset(2026, 3, 10, 9, 16, 30, 0, TimeSpan.Zero),
        Category = "process",
        Action = AuditActions.AuditDigest,
        Digest = new AuditDigest(1, 41, new string('a', 64), new string('b', 64), "audit-1", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"),
    };

    /// <summary>The document as the spool writer writes it: with <c>gateway.chain</c> (hash placeholder).</summary>
    internal static byte[] SerializeChained(AuditEvent e, long seq = 42)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using var json = EcsAuditSerializer.CreateWriter(buffer);
        EcsAuditSerializer.Write(json, e, new AuditChainStamp("gw-test", seq));
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Serialize_Chained_WritesTheChainFirstInGateway_AndReturnsWhereTheHashGoes()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using var json = EcsAuditSerializer.CreateWriter(buffer);
        var at = EcsAuditSerializer.Write(json, FullyPopulated(), new AuditChainStamp("gw-test", 42));

        var text = Encoding.UTF8.GetString(buffer.WrittenSpan);
        Assert.Equal(new string('0', 64), text.Substring((int)at, 64));
        Assert.Equal('"', text[(int)at - 1]);
        using var doc = JsonDocument.Parse(text);
        var gateway = doc.RootElement.GetProperty("gateway");
        Assert.Equal("chain", gateway.EnumerateObject().First().Name);
        Assert.Equal("gw-test", gateway.GetProperty("chain").GetProperty("instance").GetString());
        Assert.Equal(42, gateway.GetProperty("chain").GetProperty("seq").GetInt64());
        Assert.Equal("01jdzq7e3b0000000000000000", gateway.GetProperty("support").GetProperty("started_id").GetString());
    }

    [Fact]
    public void Serialize_Digest_WritesTheDigestFields_AndNoOutcomeWhenThereIsNone()
    {
        using var doc = JsonDocument.Parse(SerializeChained(Digest() with { Outcome = null }));

        var digest = doc.RootElement.GetProperty("gateway").GetProperty("digest");
        Assert.Equal(1, digest.GetProperty("first_seq").GetInt64());
        Assert.Equal(41, digest.GetProperty("last_seq").GetInt64());
        Assert.Equal(new string('a', 64), digest.GetProperty("chain_head").GetString());
        Assert.Equal(new string('b', 64), digest.GetProperty("prev_digest").GetString());
        Assert.Equal("audit-1", digest.GetProperty("key_id").GetString());
        Assert.StartsWith("eyJ", digest.GetProperty("jws").GetString(), StringComparison.Ordinal);
        Assert.False(doc.RootElement.GetProperty("event").TryGetProperty("outcome", out _));
    }

    [Fact]
    public void Serialize_FullEvent_WritesEcsFieldsNested()
    {
        using var doc = JsonDocument.Parse(EcsAuditSerializer.Serialize(FullyPopulated()));
        var root = doc.RootElement;

        Assert.Equal("2026-03-10T08:15:30.123Z", root.GetProperty("@timestamp").GetString());
        var e = root.GetProperty("event");
        Assert.Equal("01jdzq7e3c0000000000000000", e.GetProperty("id").GetString());
        Assert.Equal("event", e.GetProperty("kind").GetString());
        Assert.Equal(["web"], e.GetProperty("category").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal("support-request", e.GetProperty("action").GetString());
        Assert.Equal("failure", e.GetProperty("outcome").GetString());
        Assert.Equal("support.isolation.deny_config", e.GetProperty("reason").GetString());
        Assert.Equal(12_500_000L, e.GetProperty("duration").GetInt64());

        Assert.Equal("PUT", root.GetProperty("http").GetProperty("request").GetProperty("method").GetString());
        Assert.Equal(42, root.GetProperty("http").GetProperty("request").GetProperty("bytes").GetInt64());
        Assert.Equal(403, root.GetProperty("http").GetProperty("response").GetProperty("status_code").GetInt32());
        Assert.Equal(310, root.GetProperty("http").GetProperty("response").GetProperty("bytes").GetInt64());
        Assert.Equal("/api/settings/theme", root.GetProperty("url").GetProperty("path").GetString());
        Assert.Equal("a=1&b=2", root.GetProperty("url").GetProperty("query").GetString());
        Assert.Equal("10.1.2.3", root.GetProperty("source").GetProperty("ip").GetString());
        Assert.Equal("curl/8.10.1", root.GetProperty("user_agent").GetProperty("original").GetString());
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", root.GetProperty("trace").GetProperty("id").GetString());

        var user = root.GetProperty("user");
        Assert.Equal("jill$john", user.GetProperty("name").GetString());
        Assert.Equal("jill", user.GetProperty("id").GetString());
        Assert.Equal(["SUPPORT"], user.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal("john", user.GetProperty("target").GetProperty("name").GetString());
        Assert.Equal("acme", root.GetProperty("organization").GetProperty("id").GetString());

        var gateway = root.GetProperty("gateway");
        Assert.Equal("acme-settings", gateway.GetProperty("route").GetProperty("id").GetString());
        Assert.Equal("config", gateway.GetProperty("route").GetProperty("class").GetString());
        var support = gateway.GetProperty("support");
        Assert.Equal(["g_one", "g_two"], support.GetProperty("grant_ids").EnumerateArray().Select(g => g.GetString()));
        Assert.Equal("denyData,denyConfig", support.GetProperty("isolation").GetString());
        Assert.Equal("denied", support.GetProperty("decision").GetString());
        Assert.Equal("s_123", support.GetProperty("session_id").GetString());
        var details = gateway.GetProperty("details");
        Assert.Equal("password", details.GetProperty("credential").GetString());
        Assert.Equal("PUT", details.GetProperty("http.request.method").GetString());
        Assert.False(details.TryGetProperty("gone", out _));

        Assert.Equal("8.11.0", root.GetProperty("ecs").GetProperty("version").GetString());
    }

    [Fact]
    public void Serialize_MinimalEvent_OmitsEveryNullAndEmptyObject()
    {
        var json = Encoding.UTF8.GetString(EcsAuditSerializer.Serialize(new AuditEvent
        {
            Id = "x",
            Timestamp = DateTimeOffset.UnixEpoch,
            Category = "configuration",
            Action = "policy-reload",
        }));

        Assert.Equal(
            """{"@timestamp":"1970-01-01T00:00:00.000Z","event":{"id":"x","kind":"event","category":["configuration"],"action":"policy-reload","outcome":"success"},"ecs":{"version":"8.11.0"}}""",
            json);
        Assert.DoesNotContain("null", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Serialize_IsOneLine_AndEscapesOnlyWhatJsonNeeds()
    {
        var bytes = EcsAuditSerializer.Serialize(new AuditEvent
        {
            Id = "x",
            Timestamp = DateTimeOffset.UnixEpoch,
            Category = "web",
            Action = "proxy-request",
            UrlPath = "/a\nb/<script>/\"q\"/ü",
        });

        Assert.DoesNotContain((byte)'\n', bytes);
        using var doc = JsonDocument.Parse(bytes);
        Assert.Equal("/a\nb/<script>/\"q\"/ü", doc.RootElement.GetProperty("url").GetProperty("path").GetString());
        Assert.Contains("<script>", Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
    }

    [Fact]
    public void Serialize_SourceThatIsNotAnIp_GoesToSourceAddress()
    {
        using var doc = JsonDocument.Parse(EcsAuditSerializer.Serialize(new AuditEvent
        {
            Timestamp = DateTimeOffset.UnixEpoch,
            Category = "web",
            Action = "proxy-request",
            SourceIp = "unix:/run/gateway.sock",
        }));

        var source = doc.RootElement.GetProperty("source");
        Assert.False(source.TryGetProperty("ip", out _));
        Assert.Equal("unix:/run/gateway.sock", source.GetProperty("address").GetString());
    }

    [Fact]
    public void Serialize_LoneSurrogatesAndHugeValues_AreMadeWritable()
    {
        var bytes = EcsAuditSerializer.Serialize(new AuditEvent
        {
            Timestamp = DateTimeOffset.UnixEpoch,
            Category = "web",
            Action = "proxy-request",
            UserAgent = "bad\uD800agent",
            UrlQuery = new string('q', 100_000),
        });

        using var doc = JsonDocument.Parse(bytes);
        Assert.Equal("bad\uFFFDagent", doc.RootElement.GetProperty("user_agent").GetProperty("original").GetString());
        var query = doc.RootElement.GetProperty("url").GetProperty("query").GetString()!;
        Assert.Equal(EcsAuditSerializer.MaxStringLength, query.Length);
        Assert.EndsWith("…", query, StringComparison.Ordinal);
    }
}
