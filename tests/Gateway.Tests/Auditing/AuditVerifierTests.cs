using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Auditing;
using Gateway.Cli;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.Tokens;
using static Gateway.Tests.Infrastructure.AuditTrail;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Auditing;

/// <summary>
/// A trail written by a real gateway (ordinary and support traffic, write-ahead records, two
/// digests on the fake clock, a closing digest at shutdown), shipped to the Elasticsearch double
/// and exported with <c>audit export</c> — produced once for the tests of <see cref="AuditVerifierTests"/>.
/// </summary>
public sealed class GatewayTrailFixture : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();

    public string Spool => _temp.Sub("spool");

    public string JwksPath => _temp.Sub("jwks.json");

    public string PublicKeyPath => _temp.Sub("audit-public.pem");

    /// <summary>What <c>audit export</c> wrote for the spool: one document per line, in chain order.</summary>
    public IReadOnlyList<string> Export { get; private set; } = [];

    /// <summary>The documents the Elasticsearch double holds, as a scroll returns them and <c>jq -c '._source'</c> rewrites them, in chain order.</summary>
    public IReadOnlyList<string> ElasticsearchExport { get; private set; } = [];

    public string Directory(string name)
    {
        var path = _temp.Sub(name);
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    public async Task InitializeAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await File.WriteAllTextAsync(PublicKeyPath, key.ExportSubjectPublicKeyInfoPem());
        var clock = new FakeTimeProvider(TestClock.Start);
        await using var es = await ElasticsearchDouble.StartAsync();
        await using (var env = await new TestEnvironment
        {
            Clock = clock,
            Backends = TestBackends.Shared,
            MintTokens = true,
            ExtraArgs =
            [
                $"--Audit:SpoolDirectory={Spool}",
                $"--Audit:Integrity:SigningKeyPem={key.ExportPkcs8PrivateKeyPem()}",
                $"--Audit:Elasticsearch:Url={es.Url}",
            ],
        }.StartAsync())
        {
            await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { denyData = false, denyConfig = false }, 201);
            using var client = env.Gateway.Client("acme.localhost");
            await TrafficAsync(client, "a");
            clock.Advance(TimeSpan.FromMinutes(1));
            await env.Gateway.Audit.WaitForAsync(e => Get(e, "event.action") == AuditActions.AuditDigest);
            await TrafficAsync(client, "b");
            clock.Advance(TimeSpan.FromMinutes(1));
            await env.Gateway.Audit.WaitForAsync(e => Get(e, "event.action") == AuditActions.AuditDigest, 2);
            await TrafficAsync(client, "c");
            await File.WriteAllTextAsync(JwksPath, await env.Gateway.Client("localhost").GetStringAsync("/_gateway/.well-known/jwks.json"));

            // Everything spooled so far reaches Elasticsearch (a partial batch goes after BatchMaxDelay on the gateway's clock).
            var spooled = env.Gateway.Audit.Events().Count;
            clock.Advance(TimeSpan.FromSeconds(2));
            await es.WaitForDocumentsAsync(spooled, TimeSpan.FromSeconds(20));
        }

        // The closing digest was written after the shipper stopped: it is only in the spool.
        ElasticsearchExport = AsScrollReturnsIt(es.Documents);
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, await CliVerbs.RunAsync(["audit", "export", "--spool-dir", Spool], TextReader.Null, output, error));
        Export = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public Task DisposeAsync()
    {
        _temp.Dispose();
        return Task.CompletedTask;
    }

    private static async Task TrafficAsync(HttpClient client, string round)
    {
        for (var i = 0; i < 4; i++)
        {
            using var ordinary = await client.GetAsync($"/api/echo/{round}{i}?q={i}&r=x");
            Assert.Equal(HttpStatusCode.OK, ordinary.StatusCode);
        }

        for (var i = 0; i < 2; i++)
        {
            using var write = new HttpRequestMessage(HttpMethod.Put, $"/api/settings/{round}{i}") { Content = JsonContent.Create(new { value = "v" }) };
            write.Headers.Authorization = Basic("jill$john", JillPassword);
            using var response = await client.SendAsync(write);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var read = await GetAsync(client, $"/api/settings/{round}0", Basic("jill$john", JillPassword));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    /// <summary>
    /// What an operator's export gives: a search response embeds each <c>_source</c> as stored,
    /// sorted by instance and sequence number, and <c>jq -c '.hits.hits[]._source'</c> writes each
    /// again its own way (here: every non-ASCII and HTML-sensitive character escaped).
    /// </summary>
    private static List<string> AsScrollReturnsIt(IReadOnlyDictionary<string, string> documents)
    {
        var hits = documents
            .Select(d => (Id: d.Key, Source: d.Value, Doc: JsonDocument.Parse(d.Value).RootElement))
            .OrderBy(d => Get(d.Doc, "gateway.chain.instance"), StringComparer.Ordinal)
            .ThenBy(d => long.Parse(Get(d.Doc, "gateway.chain.seq")!, System.Globalization.CultureInfo.InvariantCulture))
            .Select(d => $$"""{"_index":".ds-gateway-audit-2026.03.10-000001","_id":"{{d.Id}}","_score":null,"_source":{{d.Source}},"sort":["{{Get(d.Doc, "gateway.chain.instance")}}",{{Get(d.Doc, "gateway.chain.seq")}}]}""");
        var response = $$"""{"took":3,"timed_out":false,"hits":{"total":{"value":{{documents.Count}},"relation":"eq"},"hits":[""" + string.Join(",", hits) + "]}}";
        using var parsed = JsonDocument.Parse(response);
        var options = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Default };
        return [.. parsed.RootElement.GetProperty("hits").GetProperty("hits").EnumerateArray().Select(h => JsonSerializer.Serialize(h.GetProperty("_source"), options))];
    }
}

/// <summary>
/// <c>audit verify</c> against a trail a real gateway wrote: clean as written, as exported and as
/// Elasticsearch returns it; and each kind of tampering found and named by its first sequence number.
/// </summary>
public sealed class AuditVerifierTests(GatewayTrailFixture trail) : IClassFixture<GatewayTrailFixture>
{
    [Fact]
    public async Task TheSpool_AsTheGatewayLeftIt_VerifiesClean_AgainstItsPublishedJwks()
    {
        var (exit, output) = await VerifyAsync("--spool-dir", trail.Spool, "--jwks", trail.JwksPath);

        Assert.True(exit == 0, output);
        Assert.Contains("result: clean", output, StringComparison.Ordinal);
        Assert.Contains("3 digest(s)", output, StringComparison.Ordinal);
        Assert.DoesNotContain("unverified tail", output, StringComparison.Ordinal);
        Assert.Matches(@"verified seq 1\.\.\d+", output);
    }

    [Fact]
    public async Task AuditExport_VerifiesClean_WithThePemKey()
    {
        var (exit, output) = await VerifyExportAsync(trail.Export, "--key", trail.PublicKeyPath);

        Assert.True(exit == 0, output);
        Assert.Contains("result: clean", output, StringComparison.Ordinal);
        Assert.Contains(trail.Export, l => Get(Doc(l), "event.action") == AuditActions.SupportRequestStarted);
    }

    [Fact]
    public async Task ElasticsearchExport_VerifiesClean_UpToItsLastDigest_TheRestIsAnUnverifiedTail()
    {
        Assert.Contains(trail.ElasticsearchExport, l => l.Contains("\\u0026", StringComparison.Ordinal)); // rewritten, not as stored
        var (exit, output) = await VerifyExportAsync(trail.ElasticsearchExport, "--jwks", trail.JwksPath);

        // The closing digest never reached Elasticsearch: what came after the second digest is unproven, not tampered with.
        Assert.True(exit == 0, output);
        Assert.Contains("2 digest(s)", output, StringComparison.Ordinal);
        Assert.Contains("WARNING instance", output, StringComparison.Ordinal);
        Assert.Contains("unverified tail", output, StringComparison.Ordinal);
        Assert.Contains("result: clean", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletedEvent_IsAGap_AtItsSequenceNumber()
    {
        var (lines, seq) = Pick(trail.Export);
        lines.RemoveAt(Index(lines, seq));

        await AssertProblemAsync(lines, "gap", seq);
    }

    [Fact]
    public async Task ModifiedEvent_IsFound_AtItsSequenceNumber()
    {
        var (lines, seq) = Pick(trail.Export);
        var i = Index(lines, seq);
        var doc = JsonNode.Parse(lines[i])!;
        doc["url"]!["path"] = "/api/settings/innocent";
        lines[i] = doc.ToJsonString();

        await AssertProblemAsync(lines, "modified", seq);
    }

    [Fact]
    public async Task InsertedEvent_ClaimingATakenSequenceNumber_IsFound()
    {
        var (lines, seq) = Pick(trail.Export);
        var i = Index(lines, seq);
        var forged = JsonNode.Parse(lines[i])!;
        forged["event"]!["id"] = "01forged000000000000000000";
        forged["url"]!["path"] = "/api/settings/forged";
        lines.Insert(i + 1, forged.ToJsonString());

        await AssertProblemAsync(lines, "inserted", seq);
    }

    [Fact]
    public async Task InsertedEvent_WithoutChainFields_IsFound()
    {
        var (lines, seq) = Pick(trail.Export);
        var forged = JsonNode.Parse(lines[Index(lines, seq)])!;
        forged["gateway"]!.AsObject().Remove("chain");
        lines.Insert(Index(lines, seq) + 1, forged.ToJsonString());

        await AssertProblemAsync(lines, "inserted", seq + 1);
    }

    [Fact]
    public async Task TwoEventsSwapped_AreReordered_FromTheFirstOfThem()
    {
        var (lines, seq) = Pick(trail.Export);
        var i = Index(lines, seq);
        (lines[i], lines[i + 1]) = (lines[i + 1], lines[i]);

        await AssertProblemAsync(lines, "reordered", seq);
    }

    [Fact]
    public async Task DeletedDigest_IsAGap_AndTheNextDigestNoLongerFollows()
    {
        var lines = trail.Export.ToList();
        var digest = lines.First(l => Get(Doc(l), "event.action") == AuditActions.AuditDigest);
        var seq = Seq(digest);
        lines.Remove(digest);

        var (exit, output) = await VerifyExportAsync(lines, "--jwks", trail.JwksPath);

        Assert.Equal(1, exit);
        Assert.Contains($"PROBLEM gap: instance", output, StringComparison.Ordinal);
        Assert.Contains("PROBLEM digest-missing", output, StringComparison.Ordinal);
        Assert.Contains($"first bad seq {seq}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TruncatedAfterADigest_IsAnUnverifiedTail_NotTampering()
    {
        var lines = trail.Export.ToList();
        var lastDigest = lines.FindLastIndex(l => Get(Doc(l), "event.action") == AuditActions.AuditDigest);
        var secondLast = lines.FindLastIndex(lastDigest - 1, l => Get(Doc(l), "event.action") == AuditActions.AuditDigest);
        // Cut somewhere between the second-last digest and the last one (which goes too).
        lines.RemoveRange(secondLast + 3, lines.Count - (secondLast + 3));

        var (exit, output) = await VerifyExportAsync(lines, "--jwks", trail.JwksPath);

        Assert.True(exit == 0, output);
        Assert.Contains("unverified tail: 2 event(s)", output, StringComparison.Ordinal);
        Assert.Contains("result: clean", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DigestSignedByAnotherKey_Fails()
    {
        var lines = trail.Export.ToList();
        var i = lines.FindIndex(l => Get(Doc(l), "event.action") == AuditActions.AuditDigest);
        var digest = JsonNode.Parse(lines[i])!;
        var parts = digest["gateway"]!["digest"]!["jws"]!.GetValue<string>().Split('.');
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var signature = other.SignData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), HashAlgorithmName.SHA256);
        digest["gateway"]!["digest"]!["jws"] = $"{parts[0]}.{parts[1]}.{Base64UrlEncoder.Encode(signature)}";
        lines[i] = digest.ToJsonString();

        var (exit, output) = await VerifyExportAsync(lines, "--jwks", trail.JwksPath);

        Assert.Equal(1, exit);
        Assert.Contains("PROBLEM digest-invalid", output, StringComparison.Ordinal);
        Assert.Contains("signature does not verify", output, StringComparison.Ordinal);
        Assert.Contains($"first bad seq {Seq(lines[i])}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysThatDoNotIncludeTheAuditKey_FailEveryDigest()
    {
        using var stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var p = stranger.ExportParameters(false);
        var jwks = trail.Directory("stranger") + "/jwks.json";
        await File.WriteAllTextAsync(jwks, JsonSerializer.Serialize(new { keys = new[] { new { kty = "EC", crv = "P-256", kid = "someone-else", x = Base64UrlEncoder.Encode(p.Q.X), y = Base64UrlEncoder.Encode(p.Q.Y) } } }));

        var (exit, output) = await VerifyExportAsync(trail.Export, "--jwks", jwks);

        Assert.Equal(1, exit);
        Assert.Contains("PROBLEM digest-unknown-key", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutKeys_TheChainIsChecked_AndTheReportSaysSignaturesWereNot()
    {
        var (exit, output) = await VerifyExportAsync(trail.Export);

        Assert.True(exit == 0, output);
        Assert.Contains("signatures were not checked", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--spool-dir")]
    [InlineData("--spool-dir a --export b")]
    [InlineData("--export x.ndjson --jwks a --key b")]
    [InlineData("--color on")]
    public async Task BadUsage_Exits2(string args)
    {
        var (exit, _) = await VerifyAsync(args.Split(' '));
        Assert.Equal(2, exit);
    }

    private async Task AssertProblemAsync(List<string> lines, string kind, long seq)
    {
        var (exit, output) = await VerifyExportAsync(lines, "--jwks", trail.JwksPath);

        Assert.True(exit == 1, output);
        Assert.Contains($"PROBLEM {kind}: instance", output, StringComparison.Ordinal);
        Assert.Contains($"first bad seq {seq}", output, StringComparison.Ordinal);
    }

    /// <summary>A copy of the lines and the sequence number of a support write's event in the middle of them.</summary>
    private static (List<string> Lines, long Seq) Pick(IReadOnlyList<string> lines)
    {
        var copy = lines.ToList();
        var middle = copy.Skip(copy.Count / 3).First(l => Get(Doc(l), "event.action") == AuditActions.SupportRequest && Get(Doc(l), "http.request.method") == "PUT");
        return (copy, Seq(middle));
    }

    private static int Index(List<string> lines, long seq) => lines.FindIndex(l => Seq(l) == seq);

    private static long Seq(string line) => Doc(line).GetProperty("gateway").GetProperty("chain").GetProperty("seq").GetInt64();

    private static JsonElement Doc(string line) => JsonDocument.Parse(line).RootElement;

    private async Task<(int Exit, string Output)> VerifyExportAsync(IEnumerable<string> lines, params string[] keys)
    {
        var path = Path.Combine(trail.Directory("exports"), Guid.NewGuid().ToString("N") + ".ndjson");
        await File.WriteAllLinesAsync(path, lines);
        return await VerifyAsync(["--export", path, .. keys]);
    }

    private static async Task<(int Exit, string Output)> VerifyAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await CliVerbs.RunAsync(["audit", "verify", .. args], TextReader.Null, output, error);
        return (exit, output + error.ToString());
    }
}
