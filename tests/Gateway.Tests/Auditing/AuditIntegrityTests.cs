using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Auditing;

/// <summary>
/// The hash chain and signed digests, on the real spool writer: canonical bytes that survive
/// re-serialization, gap-free sequence numbers that continue across restarts (also once every
/// segment has been shipped and deleted), digests on the injected clock and at shutdown.
/// </summary>
public sealed class AuditIntegrityTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void CanonicalBytes_AreTheSame_HoweverTheDocumentIsWritten()
    {
        var canonical = new AuditCanonicalJson();
        var compact = """{"b":1,"a":{"y":"é\n","x":[3,"<&>"]},"@timestamp":"t"}""";
        var reordered = """
            {
              "@timestamp" : "t",
              "a" : { "x" : [ 3, "\u003c\u0026\u003e" ], "y" : "\u00e9\n" },
              "b" : 1.0e0
            }
            """;

        var expected = """{"@timestamp":"t","a":{"x":[3,"<&>"],"y":"é\n"},"b":1}""";
        Assert.Equal(expected, Encoding.UTF8.GetString(canonical.ToArray(Encoding.UTF8.GetBytes(compact))));
        Assert.Equal(expected, Encoding.UTF8.GetString(canonical.ToArray(Encoding.UTF8.GetBytes(reordered))));
    }

    [Theory]
    [InlineData("""{"s":"a\"b\\c\u0001\u001f\t/"}""", """{"s":"a\"b\\c\u0001\u001f\t/"}""")]
    [InlineData("""{"n":-0,"m":1500,"e":1.5e3,"f":0.5}""", """{"e":1500,"f":0.5,"m":1500,"n":0}""")]
    [InlineData("""{"t":true,"f":false,"z":null,"a":[]}""", """{"a":[],"f":false,"t":true,"z":null}""")]
    public void CanonicalBytes_EscapeOnlyWhatJsonNeeds_AndWriteIntegersPlainly(string input, string expected)
    {
        Assert.Equal(expected, Encoding.UTF8.GetString(new AuditCanonicalJson().ToArray(Encoding.UTF8.GetBytes(input))));
    }

    [Fact]
    public void CanonicalBytes_LeaveOutTheChain_ButNothingElseNamedChain()
    {
        var canonical = new AuditCanonicalJson();

        Assert.Equal("""{"a":1}""", Text(canonical, """{"a":1,"gateway":{"chain":{"seq":1,"hash":"x"}}}"""));
        Assert.Equal("""{"a":1,"gateway":{"route":{"id":"r"}}}""", Text(canonical, """{"gateway":{"chain":{"seq":1},"route":{"id":"r"}},"a":1}"""));
        Assert.Equal("""{"chain":2,"gateway":{"details":{"chain":3}}}""", Text(canonical, """{"chain":2,"gateway":{"details":{"chain":3}}}"""));
    }

    [Fact]
    public void ChainHash_OfAGatewayDocument_SurvivesAnExportToolRewritingIt()
    {
        var e = EcsAuditSerializerTests.FullyPopulated() with { UrlPath = "/api/settings/thème", UserAgent = "agent <1> & \"2\" +" };
        var written = EcsAuditSerializerTests.SerializeChained(e);
        // Another writer: every non-ASCII character and HTML-sensitive one escaped, indented.
        var rewritten = JsonNode.Parse(written)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.Default });
        Assert.NotEqual(Encoding.UTF8.GetString(written), rewritten);
        Assert.Contains("\\u0026", rewritten, StringComparison.Ordinal);

        using var hasher = new AuditChainHasher();
        Span<byte> a = stackalloc byte[32];
        Span<byte> b = stackalloc byte[32];
        hasher.Hash(new byte[32], written, a);
        hasher.Hash(new byte[32], Encoding.UTF8.GetBytes(rewritten), b);
        Assert.True(a.SequenceEqual(b));

        // A changed value is a different hash.
        var changed = rewritten.Replace("jill$john", "jill$ann", StringComparison.Ordinal);
        hasher.Hash(new byte[32], Encoding.UTF8.GetBytes(changed), b);
        Assert.False(a.SequenceEqual(b));
    }

    [Fact]
    public async Task EveryEvent_CarriesTheInstance_AGapFreeSequence_AndAHashLinkedToTheOneBefore()
    {
        await using (var pipeline = new AuditPipelineHarness(Options(_temp.Path)))
        {
            await pipeline.StartSinkAsync();
            pipeline.Write(50);
            await pipeline.WaitForSpooledAsync(50);
            Assert.Equal(File.ReadAllText(Path.Combine(_temp.Path, SpoolRecovery.InstanceIdFileName)).Trim(), pipeline.Sink.InstanceId);
        }

        var lines = AuditSpoolReader.ReadJsonLines(_temp.Path).ToList();
        Assert.Equal(51, lines.Count); // the 50 events and the closing digest
        using var hasher = new AuditChainHasher();
        var previous = new byte[32];
        var instance = File.ReadAllText(Path.Combine(_temp.Path, SpoolRecovery.InstanceIdFileName)).Trim();
        for (var i = 0; i < lines.Count; i++)
        {
            var chain = JsonDocument.Parse(lines[i]).RootElement.GetProperty("gateway").GetProperty("chain");
            Assert.Equal(instance, chain.GetProperty("instance").GetString());
            Assert.Equal(i + 1, chain.GetProperty("seq").GetInt64());
            var expected = new byte[32];
            hasher.Hash(previous, Encoding.UTF8.GetBytes(lines[i]), expected);
            Assert.Equal(Convert.ToHexStringLower(expected), chain.GetProperty("hash").GetString());
            previous = expected;
        }
    }

    [Fact]
    public async Task Digest_IsWrittenEveryInterval_OnTheInjectedClock_SignedWithTheAuditKey_AndNotWhenIdle()
    {
        var clock = new FakeTimeProvider(TestClock.Start);
        await using var pipeline = new AuditPipelineHarness(Options(_temp.Path), clock);
        await pipeline.StartSinkAsync();
        pipeline.Write(5);
        await pipeline.WaitForSpooledAsync(5);

        clock.Advance(TimeSpan.FromMinutes(1));
        await pipeline.WaitForSpooledAsync(6);
        var digest = JsonDocument.Parse(AuditSpoolReader.ReadJsonLines(_temp.Path).Last()).RootElement;
        Assert.Equal(AuditActions.AuditDigest, AuditTrail.Get(digest, "event.action"));
        Assert.Equal("6", AuditTrail.Get(digest, "gateway.chain.seq"));
        Assert.Equal("1", AuditTrail.Get(digest, "gateway.digest.first_seq"));
        Assert.Equal("5", AuditTrail.Get(digest, "gateway.digest.last_seq"));
        var fifth = JsonDocument.Parse(AuditSpoolReader.ReadJsonLines(_temp.Path).ElementAt(4)).RootElement;
        Assert.Equal(AuditTrail.Get(fifth, "gateway.chain.hash"), AuditTrail.Get(digest, "gateway.digest.chain_head"));
        Assert.Null(AuditTrail.Get(digest, "gateway.digest.prev_digest"));
        Assert.Equal(pipeline.SigningKey.KeyId, AuditTrail.Get(digest, "gateway.digest.key_id"));
        Assert.Equal(pipeline.SigningKey.KeyId, JsonDocument.Parse(Base64Url(AuditTrail.Get(digest, "gateway.digest.jws")!.Split('.')[0])).RootElement.GetProperty("kid").GetString());

        // A minute with nothing written: no digest. (Had one been due, it would come before this event.)
        clock.Advance(TimeSpan.FromMinutes(1));
        var marker = pipeline.Write(1, first: 99).Single();
        await pipeline.WaitForSpooledAsync(7);
        Assert.Equal(marker, AuditSpoolTests.EventId(AuditSpoolReader.ReadJsonLines(_temp.Path).Last()));

        // The next digest covers from the last one on, and names it.
        clock.Advance(TimeSpan.FromMinutes(1));
        await pipeline.WaitForSpooledAsync(8);
        var next = JsonDocument.Parse(AuditSpoolReader.ReadJsonLines(_temp.Path).Last()).RootElement;
        Assert.Equal("6", AuditTrail.Get(next, "gateway.digest.first_seq"));
        Assert.Equal("7", AuditTrail.Get(next, "gateway.digest.last_seq"));
        Assert.Equal(AuditDigest.HashOf(AuditTrail.Get(digest, "gateway.digest.jws")!), AuditTrail.Get(next, "gateway.digest.prev_digest"));

        using var keys = AuditVerificationKeys.FromPem(pipeline.SigningKey.PublicKeyPem);
        var result = AuditVerifier.Verify(AuditVerifier.ReadSpool(_temp.Path, []), keys);
        Assert.True(result.Clean, string.Join("\n", result.Problems));
        Assert.Equal(8, Assert.Single(result.Instances).VerifiedThrough);
    }

    [Fact]
    public async Task Shutdown_WritesADigestCoveringEverything()
    {
        await using (var pipeline = new AuditPipelineHarness(Options(_temp.Path)))
        {
            await pipeline.StartSinkAsync();
            pipeline.Write(3);
            await pipeline.WaitForSpooledAsync(3);
        }

        var last = JsonDocument.Parse(AuditSpoolReader.ReadJsonLines(_temp.Path).Last()).RootElement;
        Assert.Equal(AuditActions.AuditDigest, AuditTrail.Get(last, "event.action"));
        Assert.Equal("3", AuditTrail.Get(last, "gateway.digest.last_seq"));
        Assert.Equal("4", AuditTrail.Get(last, "gateway.chain.seq"));
    }

    [Fact]
    public async Task Chain_ContinuesAcrossRestarts_EvenOnceEverySegmentWasShippedAndDeleted()
    {
        var key = NewKeyPem();
        await using var es = await ElasticsearchDouble.StartAsync();
        var options = Options(_temp.Path, key, es.Url);
        // Run 1 writes 20 events (and its closing digest). Run 2 writes nothing: it ships run 1's
        // digest, which moves the checkpoint into its own empty segment, and deletes the rest; at
        // its stop that empty segment goes too. Run 3 starts on a spool without a single segment.
        foreach (var (run, events) in new[] { (1, 20), (2, 0), (3, 20) })
        {
            if (run == 3)
            {
                Assert.Empty(SpoolFormat.ListSegments(_temp.Path));
            }

            await using var pipeline = new AuditPipelineHarness(options);
            await pipeline.StartAsync();
            pipeline.Write(events, first: run * 100);
            await pipeline.WaitForSpooledAsync(events);
            await pipeline.WaitForShippedAsync(Math.Max(events, 1));
        }

        // The last run's closing digest is in the spool; everything else was shipped.
        var shipped = es.Documents.Values.Select(d => JsonDocument.Parse(d).RootElement).ToList();
        var seqs = shipped.Select(d => long.Parse(AuditTrail.Get(d, "gateway.chain.seq")!, System.Globalization.CultureInfo.InvariantCulture)).Order().ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
        Assert.Single(shipped.Select(d => AuditTrail.Get(d, "gateway.chain.instance")).Distinct());

        var export = es.Documents.Values.Concat(AuditSpoolReader.ReadJsonLines(_temp.Path, unshippedOnly: true))
            .OrderBy(d => JsonDocument.Parse(d).RootElement.GetProperty("gateway").GetProperty("chain").GetProperty("seq").GetInt64())
            .Select((d, i) => new AuditVerifyInput($"line {i + 1}", d));
        using var keys = AuditVerificationKeys.FromPem(key);
        var result = AuditVerifier.Verify(export, keys);
        Assert.True(result.Clean, string.Join("\n", result.Problems));
        Assert.Equal(2, Assert.Single(result.Instances).Digests);
        Assert.Equal(42, result.Instances[0].LastSeq);
        Assert.Equal(0, result.Instances[0].TailEvents);
    }

    [Fact]
    public async Task ConfiguredInstanceId_NamesTheChain()
    {
        var options = Options(_temp.Path);
        options = new AuditOptions { SpoolDirectory = options.SpoolDirectory, InstanceId = "gw-eu-1", Integrity = options.Integrity };
        await using (var pipeline = new AuditPipelineHarness(options))
        {
            await pipeline.StartSinkAsync();
            pipeline.Write(1);
            await pipeline.WaitForSpooledAsync(1);
        }

        Assert.All(AuditSpoolReader.ReadJsonLines(_temp.Path), l => Assert.Equal("gw-eu-1", AuditTrail.Get(JsonDocument.Parse(l).RootElement, "gateway.chain.instance")));
    }

    internal static string NewKeyPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportPkcs8PrivateKeyPem();
    }

    internal static AuditOptions Options(string directory, string? keyPem = null, Uri? elasticsearch = null)
    {
        var o = AuditPipelineHarness.TestOptions(directory, elasticsearch);
        return new AuditOptions
        {
            SpoolDirectory = o.SpoolDirectory,
            QueueCapacity = o.QueueCapacity,
            FsyncPolicy = o.FsyncPolicy,
            Elasticsearch = o.Elasticsearch,
            Integrity = new AuditIntegrityOptions { SigningKeyPem = keyPem ?? NewKeyPem() },
        };
    }

    private static string Text(AuditCanonicalJson canonical, string json) => Encoding.UTF8.GetString(canonical.ToArray(Encoding.UTF8.GetBytes(json)));

    private static byte[] Base64Url(string text) => Microsoft.IdentityModel.Tokens.Base64UrlEncoder.DecodeBytes(text);
}
