using System.Diagnostics;
using System.Text.Json;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Auditing;

/// <summary>
/// The Elasticsearch and Kibana assets in config/ (loaded by config/compose/setup.sh) hold
/// together with the serializer: every field it writes is mapped, nothing mapped is never
/// written, the saved searches point at the data view and at mapped fields, and the setup
/// script really loads them (run with sh + curl against the Elasticsearch double).
/// </summary>
public sealed class AuditAssetsTests
{
    private static readonly string ElasticsearchDir = Path.Combine(RepoPaths.ConfigDir, "elasticsearch");
    private static readonly string KibanaDir = Path.Combine(RepoPaths.ConfigDir, "kibana");
    private static readonly string TemplatePath = Path.Combine(ElasticsearchDir, "index-template.json");
    private static readonly string PolicyPath = Path.Combine(ElasticsearchDir, "ilm-policy.json");
    private static readonly string ObjectsPath = Path.Combine(KibanaDir, "saved-objects.ndjson");

    [Fact]
    public void EveryAssetFile_Parses()
    {
        var json = Directory.GetFiles(ElasticsearchDir, "*.json");
        Assert.Contains(TemplatePath, json);
        Assert.Contains(PolicyPath, json);
        foreach (var file in json)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        }

        var ndjson = Directory.GetFiles(KibanaDir, "*.ndjson");
        Assert.Contains(ObjectsPath, ndjson);
        foreach (var file in ndjson)
        {
            var lines = File.ReadAllLines(file).Where(l => l.Length > 0).ToList();
            Assert.NotEmpty(lines);
            foreach (var line in lines)
            {
                using var doc = JsonDocument.Parse(line);
                var o = doc.RootElement;
                Assert.Equal(JsonValueKind.String, o.GetProperty("type").ValueKind);
                Assert.Equal(JsonValueKind.String, o.GetProperty("id").ValueKind);
                Assert.Equal(JsonValueKind.Object, o.GetProperty("attributes").ValueKind);
                Assert.Equal(JsonValueKind.Array, o.GetProperty("references").ValueKind);
            }
        }
    }

    [Fact]
    public void IndexTemplate_MapsEveryFieldTheSerializerEmits_WithACompatibleType()
    {
        var mappings = Properties();
        var problems = new List<string>();
        foreach (var (path, kind) in EmittedLeaves())
        {
            var mapping = MappingOf(mappings, path);
            if (mapping is null)
            {
                problems.Add($"{path}: not mapped");
                continue;
            }

            var type = mapping.Value.GetProperty("type").GetString();
            var compatible = kind == JsonValueKind.Number
                ? type is "long" or "integer" or "short" or "byte" or "unsigned_long"
                : type is "keyword" or "wildcard" or "ip" or "date" or "flattened" or "match_only_text" or "text";
            if (!compatible)
            {
                problems.Add($"{path}: a {kind} mapped as {type}");
            }
        }

        Assert.Empty(problems);
        Assert.Equal("date", MappingOf(mappings, "@timestamp")!.Value.GetProperty("type").GetString());
        Assert.Equal("ip", MappingOf(mappings, "source.ip")!.Value.GetProperty("type").GetString());
        Assert.Equal("long", MappingOf(mappings, "event.duration")!.Value.GetProperty("type").GetString());
        Assert.Equal("flattened", MappingOf(mappings, "gateway.details.credential")!.Value.GetProperty("type").GetString());
        Assert.Equal("long", MappingOf(mappings, "gateway.chain.seq")!.Value.GetProperty("type").GetString());
        Assert.Equal("long", MappingOf(mappings, "gateway.digest.last_seq")!.Value.GetProperty("type").GetString());
        // The signature is kept in _source for verification, not searched.
        Assert.False(MappingOf(mappings, "gateway.digest.jws")!.Value.GetProperty("index").GetBoolean());
    }

    [Fact]
    public void IndexTemplate_MapsNoFieldTheSerializerNeverEmits()
    {
        var emitted = EmittedLeaves().Select(l => l.Path).ToHashSet(StringComparer.Ordinal);
        var stale = MappedLeaves(Properties(), "")
            .Where(m => !emitted.Contains(m) && !emitted.Any(e => e.StartsWith(m + ".", StringComparison.Ordinal)))
            .ToList();
        Assert.Empty(stale);
    }

    [Fact]
    public void IndexTemplate_IsADataStreamTemplate_ForTheDefaultIndex_WithTheLifecyclePolicy()
    {
        using var template = JsonDocument.Parse(File.ReadAllText(TemplatePath));
        var root = template.RootElement;
        Assert.Equal(JsonValueKind.Object, root.GetProperty("data_stream").ValueKind);
        Assert.True(root.GetProperty("priority").GetInt32() > 100, "above the built-in templates' priority 100");
        var patterns = root.GetProperty("index_patterns").EnumerateArray().Select(p => p.GetString()!).ToList();
        Assert.Contains(patterns, p => Glob(p, new AuditElasticsearchOptions().Index));
        var settings = root.GetProperty("template").GetProperty("settings");
        Assert.Equal("gateway-audit", settings.GetProperty("index.lifecycle.name").GetString());

        using var policy = JsonDocument.Parse(File.ReadAllText(PolicyPath));
        var phases = policy.RootElement.GetProperty("policy").GetProperty("phases");
        var rollover = phases.GetProperty("hot").GetProperty("actions").GetProperty("rollover");
        Assert.Equal("1d", rollover.GetProperty("max_age").GetString());
        Assert.Equal("10gb", rollover.GetProperty("max_primary_shard_size").GetString());
        Assert.Equal("90d", phases.GetProperty("delete").GetProperty("min_age").GetString());
        Assert.Equal(JsonValueKind.Object, phases.GetProperty("delete").GetProperty("actions").GetProperty("delete").ValueKind);
    }

    [Fact]
    public void SavedSearches_ReferenceTheDataView_AndShowMappedFields()
    {
        var objects = File.ReadAllLines(ObjectsPath).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var dataView = Assert.Single(objects, o => o.GetProperty("type").GetString() == "index-pattern");
        var dataViewId = dataView.GetProperty("id").GetString();
        Assert.Equal("gateway-audit*", dataView.GetProperty("attributes").GetProperty("title").GetString());
        Assert.Equal("@timestamp", dataView.GetProperty("attributes").GetProperty("timeFieldName").GetString());

        var searches = objects.Where(o => o.GetProperty("type").GetString() == "search").ToList();
        Assert.Equal(
            ["Config writes", "Denials", "Support sessions by tenant"],
            searches.Select(s => s.GetProperty("attributes").GetProperty("title").GetString()).Order());
        Assert.Equal(objects.Count, objects.Select(o => o.GetProperty("id").GetString()).Distinct().Count());

        var mappings = Properties();
        foreach (var search in searches)
        {
            var attributes = search.GetProperty("attributes");
            var title = attributes.GetProperty("title").GetString();
            using var source = JsonDocument.Parse(attributes.GetProperty("kibanaSavedObjectMeta").GetProperty("searchSourceJSON").GetString()!);
            var refName = source.RootElement.GetProperty("indexRefName").GetString();
            var reference = Assert.Single(search.GetProperty("references").EnumerateArray(), r => r.GetProperty("name").GetString() == refName);
            Assert.Equal("index-pattern", reference.GetProperty("type").GetString());
            Assert.Equal(dataViewId, reference.GetProperty("id").GetString());
            Assert.Equal("kuery", source.RootElement.GetProperty("query").GetProperty("language").GetString());
            foreach (var column in attributes.GetProperty("columns").EnumerateArray().Select(c => c.GetString()!))
            {
                Assert.True(MappingOf(mappings, column) is not null, $"{title}: column {column} is not mapped");
            }
        }

        string Query(string title) => JsonDocument.Parse(searches.Single(s => s.GetProperty("attributes").GetProperty("title").GetString() == title)
            .GetProperty("attributes").GetProperty("kibanaSavedObjectMeta").GetProperty("searchSourceJSON").GetString()!)
            .RootElement.GetProperty("query").GetProperty("query").GetString()!;

        Assert.Equal("event.action:\"support-request\"", Query("Support sessions by tenant"));
        Assert.Equal("gateway.support.decision:denied or (event.outcome:failure and event.category:web)", Query("Denials"));
        Assert.Equal("gateway.route.class:config and not http.request.method:(GET or HEAD or OPTIONS)", Query("Config writes"));
        Assert.Equal(
            ["organization.id", "user.name", "user.target.name", "http.request.method", "url.path", "http.response.status_code"],
            searches.Single(s => s.GetProperty("attributes").GetProperty("title").GetString() == "Support sessions by tenant")
                .GetProperty("attributes").GetProperty("columns").EnumerateArray().Select(c => c.GetString()));
    }

    [Fact]
    public async Task SetupScript_LoadsTheAssets_AndTheGatewayThenWritesToTheDataStream()
    {
        await using var es = await ElasticsearchDouble.StartAsync();
        using var temp = new TempDirectory();

        var (exit, output) = await RunSetupAsync(es, temp);

        Assert.True(exit == 0, output);
        Assert.Contains("setup: done", output, StringComparison.Ordinal);
        Assert.True(JsonElement.DeepEquals(
            JsonDocument.Parse(File.ReadAllText(PolicyPath)).RootElement,
            JsonDocument.Parse(es.LifecyclePolicies["gateway-audit"]).RootElement));
        Assert.True(JsonElement.DeepEquals(
            JsonDocument.Parse(File.ReadAllText(TemplatePath)).RootElement,
            JsonDocument.Parse(es.IndexTemplates["gateway-audit"]).RootElement));
        Assert.Equal(File.ReadAllLines(ObjectsPath).Count(l => l.Length > 0), es.ImportedObjects.Count);

        // With the template in place gateway-audit is a data stream, which takes only `create`.
        await using var pipeline = new AuditPipelineHarness(AuditPipelineHarness.TestOptions(temp.Sub("spool"), es.Url));
        await pipeline.StartAsync();
        var ids = pipeline.Write(5);
        await pipeline.WaitForShippedAsync(5);
        Assert.Equal(ids.Order(), es.DocumentsIn("gateway-audit").Keys.Order());
    }

    [Fact]
    public async Task SetupScript_FailsLoudly_WhenElasticsearchRefuses()
    {
        await using var es = await ElasticsearchDouble.StartAsync();
        es.RequiredAuthorization = "ApiKey needed";
        using var temp = new TempDirectory();

        var (exit, output) = await RunSetupAsync(es, temp);

        Assert.NotEqual(0, exit);
        Assert.Contains("security_exception", output, StringComparison.Ordinal);
        Assert.Empty(es.IndexTemplates);
        Assert.Equal(0, es.ImportRequests);
    }

    /// <summary>Every leaf the serializer writes for a fully populated event (and for a source that is not an IP): path and JSON kind.</summary>
    internal static List<(string Path, JsonValueKind Kind)> EmittedLeaves()
    {
        var leaves = new List<(string, JsonValueKind)>();
        var notAnIp = EcsAuditSerializerTests.FullyPopulated() with { SourceIp = "unix:/run/gateway.sock" };
        // As the spool writer writes them: with the chain fields, and a digest event.
        foreach (var e in new[] { EcsAuditSerializerTests.FullyPopulated(), notAnIp, EcsAuditSerializerTests.Digest() })
        {
            using var doc = JsonDocument.Parse(EcsAuditSerializerTests.SerializeChained(e));
            Walk(doc.RootElement, "", leaves);
        }

        return leaves.Distinct().ToList();
    }

    private static void Walk(JsonElement element, string path, List<(string, JsonValueKind)> leaves)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Walk(property.Value, path.Length == 0 ? property.Name : $"{path}.{property.Name}", leaves);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Walk(item, path, leaves);
                }

                break;
            default:
                leaves.Add((path, element.ValueKind));
                break;
        }
    }

    private static JsonElement Properties()
    {
        using var template = JsonDocument.Parse(File.ReadAllText(TemplatePath));
        return template.RootElement.GetProperty("template").GetProperty("mappings").GetProperty("properties").Clone();
    }

    /// <summary>The mapping that governs <paramref name="path"/>: the field's own, or a flattened ancestor's.</summary>
    private static JsonElement? MappingOf(JsonElement properties, string path)
    {
        var segments = path.Split('.');
        var current = properties;
        for (var i = 0; i < segments.Length; i++)
        {
            if (!current.TryGetProperty(segments[i], out var field))
            {
                return null;
            }

            if (field.TryGetProperty("type", out var type) && type.GetString() == "flattened")
            {
                return field;
            }

            if (i == segments.Length - 1)
            {
                return field.TryGetProperty("type", out _) ? field : null;
            }

            if (!field.TryGetProperty("properties", out current))
            {
                return null;
            }
        }

        return null;
    }

    private static IEnumerable<string> MappedLeaves(JsonElement properties, string prefix)
    {
        foreach (var field in properties.EnumerateObject())
        {
            var path = prefix.Length == 0 ? field.Name : $"{prefix}.{field.Name}";
            if (field.Value.TryGetProperty("properties", out var children))
            {
                foreach (var leaf in MappedLeaves(children, path))
                {
                    yield return leaf;
                }
            }
            else
            {
                yield return path;
            }
        }
    }

    private static bool Glob(string pattern, string value) =>
        System.Text.RegularExpressions.Regex.IsMatch(value, "^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal) + "$");

    /// <summary>Runs config/compose/setup.sh as the compose job would, with the repo's assets mounted under a temp ASSETS_DIR.</summary>
    private static async Task<(int Exit, string Output)> RunSetupAsync(ElasticsearchDouble es, TempDirectory temp)
    {
        var assets = temp.Sub("assets");
        foreach (var (source, name) in new[] { (ElasticsearchDir, "elasticsearch"), (KibanaDir, "kibana") })
        {
            Directory.CreateDirectory(Path.Combine(assets, name));
            foreach (var file in Directory.GetFiles(source))
            {
                File.Copy(file, Path.Combine(assets, name, Path.GetFileName(file)));
            }
        }

        var start = new ProcessStartInfo("sh", [Path.Combine(RepoPaths.ConfigDir, "compose", "setup.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["ELASTICSEARCH_URL"] = es.Url.ToString().TrimEnd('/');
        start.Environment["KIBANA_URL"] = es.Url.ToString().TrimEnd('/');
        start.Environment["ASSETS_DIR"] = assets;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(deadline.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
