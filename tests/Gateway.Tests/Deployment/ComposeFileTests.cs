using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Gateway.Tests.Deployment;

/// <summary>
/// There is no Docker engine on the build machines, so `docker compose config` / `up` cannot
/// check docker-compose.yml. These tests parse it with a real YAML parser (YamlDotNet) and
/// hold it to what it promises: the production shape of PRODUCT.md §9 (services, images,
/// ports, healthchecks, start-up order, volumes) and that every path and config name it
/// refers to exists in this repository.
/// </summary>
public sealed partial class ComposeFileTests
{
    private static readonly string[] ExpectedServices =
        ["gateway", "redis", "elasticsearch", "kibana", "sample-acme", "sample-globex", "setup"];

    private readonly string _repoRoot;
    private readonly string _composeText;
    private readonly YamlMappingNode _root;
    private readonly YamlMappingNode _services;

    public ComposeFileTests()
    {
        _repoRoot = FindRepoRoot();
        var path = Path.Combine(_repoRoot, "docker-compose.yml");
        Assert.True(File.Exists(path), $"docker-compose.yml not found at {path}");
        _composeText = File.ReadAllText(path);

        var stream = new YamlStream();
        stream.Load(new StringReader(_composeText)); // throws on syntax errors and duplicate keys
        Assert.Single(stream.Documents);
        _root = Assert.IsType<YamlMappingNode>(stream.Documents[0].RootNode);
        _services = Assert.IsType<YamlMappingNode>(Child(_root, "services"));
    }

    [Fact]
    public void Declares_exactly_the_production_services()
    {
        var actual = _services.Children.Keys.Select(Scalar).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(ExpectedServices.Order(StringComparer.Ordinal), actual);
    }

    [Fact]
    public void Every_service_has_a_pinned_image_or_a_build()
    {
        var problems = new List<string>();
        foreach (var (name, service) in Services())
        {
            var image = OptionalScalar(service, "image");
            var hasBuild = Child(service, "build") is not null;
            if (image is null && !hasBuild)
            {
                problems.Add($"{name}: neither image nor build");
            }
            else if (!hasBuild && !HasExplicitTag(image!))
            {
                problems.Add($"{name}: pulled image '{image}' must carry an explicit, non-latest tag");
            }
        }

        Assert.Empty(problems);

        Assert.NotNull(Child(Service("gateway"), "build"));
        Assert.NotNull(Child(Service("sample-acme"), "build"));
        Assert.NotNull(Child(Service("sample-globex"), "build"));
        Assert.Matches(@"^redis:7(\.|$)", RequiredScalar(Service("redis"), "image"));
        Assert.Matches(@"^curlimages/curl:\d", RequiredScalar(Service("setup"), "image"));

        var es = RequiredScalar(Service("elasticsearch"), "image");
        var kibana = RequiredScalar(Service("kibana"), "image");
        var esMatch = Regex.Match(es, @"^docker\.elastic\.co/elasticsearch/elasticsearch:(8\.\d+\.\d+)$");
        var kibanaMatch = Regex.Match(kibana, @"^docker\.elastic\.co/kibana/kibana:(8\.\d+\.\d+)$");
        Assert.True(esMatch.Success, $"elasticsearch image '{es}' is not an 8.x official image");
        Assert.True(kibanaMatch.Success, $"kibana image '{kibana}' is not an 8.x official image");
        // Kibana refuses to start against an Elasticsearch of another version.
        Assert.Equal(esMatch.Groups[1].Value, kibanaMatch.Groups[1].Value);
    }

    [Fact]
    public void Builds_use_the_repo_root_as_context_and_existing_dockerfiles()
    {
        var expected = new Dictionary<string, string>
        {
            ["gateway"] = "src/Gateway/Dockerfile",
            ["sample-acme"] = "src/SampleTenantApp/Dockerfile",
            ["sample-globex"] = "src/SampleTenantApp/Dockerfile",
        };

        var built = Services().Where(s => Child(s.Node, "build") is not null).Select(s => s.Name).ToHashSet();
        Assert.Equal(expected.Keys.ToHashSet(), built);

        foreach (var (name, dockerfileRelative) in expected)
        {
            var build = Assert.IsType<YamlMappingNode>(Child(Service(name), "build"));
            var context = Path.GetFullPath(Path.Combine(_repoRoot, RequiredScalar(build, "context")));
            // The Dockerfiles COPY Gateway.sln, Directory.*.props, global.json, src/ and config/.
            Assert.True(File.Exists(Path.Combine(context, "Gateway.sln")),
                $"{name}: build context '{context}' is not the repo root");

            var dockerfile = RequiredScalar(build, "dockerfile");
            Assert.Equal(dockerfileRelative, dockerfile);
            var dockerfilePath = Path.Combine(context, dockerfile);
            Assert.True(File.Exists(dockerfilePath), $"{name}: dockerfile '{dockerfilePath}' does not exist");

            // The project the Dockerfile publishes must exist, and the image must listen where
            // compose expects it (8080) as a non-root user.
            var text = File.ReadAllText(dockerfilePath);
            var publish = Regex.Match(text, @"dotnet publish\s+(\S+\.csproj)");
            Assert.True(publish.Success, $"{dockerfile}: no 'dotnet publish <project>.csproj'");
            Assert.True(File.Exists(Path.Combine(context, publish.Groups[1].Value)),
                $"{dockerfile}: published project '{publish.Groups[1].Value}' does not exist");
            Assert.Matches(@"(?m)^EXPOSE\s+8080\s*$", text);
            Assert.Matches(@"ASPNETCORE_URLS=http://\+:8080", text);
            var lastUser = Regex.Matches(text, @"(?m)^USER\s+(\S+)").LastOrDefault();
            Assert.True(lastUser is not null && lastUser.Groups[1].Value is not ("root" or "0"),
                $"{dockerfile}: the runtime stage must switch to a non-root USER");
        }
    }

    [Fact]
    public void Gateway_publishes_port_8080()
    {
        var ports = Sequence(Service("gateway"), "ports");
        Assert.Contains(ports, p => PortMapping(p) == ("8080", "8080"));

        // Short-syntax port mappings must be quoted: YAML 1.1 reads unquoted xx:yy as base 60.
        foreach (var (name, service) in Services())
        {
            foreach (var port in Sequence(service, "ports").OfType<YamlScalarNode>())
            {
                Assert.True(port.Style is ScalarStyle.DoubleQuoted or ScalarStyle.SingleQuoted,
                    $"{name}: port '{port.Value}' should be quoted");
            }
        }
    }

    [Fact]
    public void Every_long_running_service_has_a_healthcheck()
    {
        var problems = new List<string>();
        foreach (var (name, service) in Services().Where(s => s.Name != "setup"))
        {
            if (Child(service, "healthcheck") is not YamlMappingNode healthcheck)
            {
                problems.Add($"{name}: no healthcheck");
                continue;
            }

            if (OptionalScalar(healthcheck, "disable") == "true")
            {
                problems.Add($"{name}: healthcheck disabled");
                continue;
            }

            var test = HealthcheckTest(healthcheck);
            if (test.Count == 0 || test[0] is not ("CMD" or "CMD-SHELL") || test.Count < 2)
            {
                problems.Add($"{name}: healthcheck test must be [CMD, ...] or [CMD-SHELL, ...] or a string");
            }

            // Images built on mcr.microsoft.com/dotnet/aspnet have neither curl nor wget.
            if (Child(service, "build") is not null && test.Any(t => Regex.IsMatch(t, @"\b(curl|wget)\b")))
            {
                problems.Add($"{name}: healthcheck uses curl/wget, which the aspnet image does not have");
            }
        }

        Assert.Empty(problems);

        var gatewayProbe = string.Join(' ', HealthcheckTest(Assert.IsType<YamlMappingNode>(Child(Service("gateway"), "healthcheck"))));
        Assert.Contains("/_gateway/health/ready", gatewayProbe, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1/8080", gatewayProbe, StringComparison.Ordinal);
        Assert.Contains("redis-cli ping", string.Join(' ', HealthcheckTest(Assert.IsType<YamlMappingNode>(Child(Service("redis"), "healthcheck")))), StringComparison.Ordinal);
        Assert.Contains("_cluster/health", string.Join(' ', HealthcheckTest(Assert.IsType<YamlMappingNode>(Child(Service("elasticsearch"), "healthcheck")))), StringComparison.Ordinal);
        Assert.Contains("/api/status", string.Join(' ', HealthcheckTest(Assert.IsType<YamlMappingNode>(Child(Service("kibana"), "healthcheck")))), StringComparison.Ordinal);
    }

    [Fact]
    public void Gateway_starts_after_its_dependencies_with_the_right_conditions()
    {
        var expected = new Dictionary<string, string>
        {
            ["redis"] = "service_healthy",
            ["elasticsearch"] = "service_healthy",
            ["sample-acme"] = "service_started",
            ["sample-globex"] = "service_started",
        };
        Assert.Equal(expected.OrderBy(kv => kv.Key, StringComparer.Ordinal),
            DependsOn(Service("gateway")).OrderBy(kv => kv.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void Every_depends_on_names_an_existing_service_that_can_satisfy_the_condition()
    {
        var problems = new List<string>();
        foreach (var (name, service) in Services())
        {
            foreach (var (target, condition) in DependsOn(service))
            {
                if (Child(_services, target) is not YamlMappingNode targetService)
                {
                    problems.Add($"{name}: depends_on unknown service '{target}'");
                }
                else if (condition == "service_healthy" && Child(targetService, "healthcheck") is null)
                {
                    problems.Add($"{name}: waits for '{target}' to be healthy, but it has no healthcheck");
                }
                else if (condition is not ("service_started" or "service_healthy" or "service_completed_successfully"))
                {
                    problems.Add($"{name}: unknown depends_on condition '{condition}' for '{target}'");
                }
            }
        }

        Assert.Empty(problems);
        Assert.Equal("service_healthy", DependsOn(Service("kibana"))["elasticsearch"]);
    }

    [Fact]
    public void Named_volumes_are_declared_at_top_level_and_all_declared_ones_are_used()
    {
        var declared = Child(_root, "volumes") is YamlMappingNode volumes
            ? volumes.Children.Keys.Select(Scalar).ToHashSet()
            : [];

        var used = Services()
            .SelectMany(s => Mounts(s.Node).Where(m => m.Type == "volume").Select(m => (s.Name, m.Source)))
            .ToList();

        var undeclared = used.Where(u => !declared.Contains(u.Source)).Select(u => $"{u.Name}: {u.Source}");
        Assert.Empty(undeclared);
        Assert.Empty(declared.Except(used.Select(u => u.Source)));

        // Data that must survive a container replacement lives on named volumes.
        Assert.Contains(Mounts(Service("redis")), m => m.Type == "volume" && m.Target == "/data");
        Assert.Contains(Mounts(Service("elasticsearch")), m => m.Type == "volume" && m.Target == "/usr/share/elasticsearch/data");
    }

    [Fact]
    public void Bind_mounted_host_paths_are_repo_relative_and_exist()
    {
        var binds = Services()
            .SelectMany(s => Mounts(s.Node).Where(m => m.Type == "bind").Select(m => (s.Name, m.Source)))
            .ToList();
        Assert.NotEmpty(binds); // the setup job mounts config/

        var problems = new List<string>();
        foreach (var (name, source) in binds)
        {
            if (!source.StartsWith("./", StringComparison.Ordinal))
            {
                problems.Add($"{name}: bind source '{source}' is not relative to the repo root");
                continue;
            }

            var full = Path.GetFullPath(Path.Combine(_repoRoot, source));
            if (!Directory.Exists(full) && !File.Exists(full))
            {
                problems.Add($"{name}: bind source '{source}' does not exist in the repo");
            }
        }

        Assert.Empty(problems);
    }

    [Fact]
    public void Setup_is_a_one_shot_job_after_elasticsearch_and_kibana_that_runs_the_mounted_script()
    {
        var setup = Service("setup");

        var restart = Assert.IsType<YamlScalarNode>(Child(setup, "restart"));
        Assert.Equal("no", restart.Value);
        // Unquoted, YAML 1.1 parsers read `no` as boolean false, which compose rejects.
        Assert.NotEqual(ScalarStyle.Plain, restart.Style);

        var dependsOn = DependsOn(setup);
        Assert.Equal("service_healthy", dependsOn["elasticsearch"]);
        Assert.Equal("service_healthy", dependsOn["kibana"]);

        var mounts = Mounts(setup).ToList();
        Assert.All(mounts, m => Assert.True(m.ReadOnly, $"setup: mount {m.Source} should be read-only"));
        Assert.Contains(mounts, m => m.Type == "bind" && m.Source == "./config/elasticsearch");
        Assert.Contains(mounts, m => m.Type == "bind" && m.Source == "./config/kibana");

        // The script it runs must be inside a bind mount and exist on the host side.
        var run = string.Join(' ', StringList(Child(setup, "entrypoint")).Concat(StringList(Child(setup, "command"))));
        var script = Regex.Match(run, @"(/\S+\.sh)\b");
        Assert.True(script.Success, $"setup runs no script: '{run}'");
        var scriptPath = script.Groups[1].Value;
        var mount = mounts.SingleOrDefault(m => m.Type == "bind" && scriptPath.StartsWith(m.Target.TrimEnd('/') + "/", StringComparison.Ordinal));
        Assert.True(mount is not null, $"setup: {scriptPath} is not inside a bind mount");
        var hostScript = Path.Combine(_repoRoot, mount!.Source, scriptPath[(mount.Target.TrimEnd('/').Length + 1)..]);
        Assert.True(File.Exists(hostScript), $"setup script {hostScript} does not exist");
    }

    [Fact]
    public void Gateway_environment_points_at_the_compose_services()
    {
        var env = Env(Service("gateway"));

        Assert.Equal("/app/config", env.GetValueOrDefault("GATEWAY_CONFIG_DIR"));
        Assert.Equal("false", env.GetValueOrDefault("Gateway__Demo__HostSampleApps"));

        var redis = env.GetValueOrDefault("Redis__Configuration");
        Assert.NotNull(redis);
        Assert.StartsWith("redis:6379", redis, StringComparison.Ordinal);
        Assert.NotNull(Child(_services, "redis"));

        var es = env.GetValueOrDefault("Audit__Elasticsearch__Url");
        Assert.NotNull(es);
        var esUri = new Uri(es);
        Assert.Equal("elasticsearch", esUri.Host);
        Assert.Equal(9200, esUri.Port);

        // The config dir the image is told about must be where the Dockerfile puts config.
        var dockerfile = File.ReadAllText(Path.Combine(_repoRoot, "src/Gateway/Dockerfile"));
        Assert.Contains("GATEWAY_CONFIG_DIR=/app/config", dockerfile, StringComparison.Ordinal);
        Assert.Matches(@"dotnet publish\s+\S+\s.*-o\s+/app\b", dockerfile);
    }

    [Fact]
    public void Gateway_cluster_overrides_name_clusters_and_destinations_that_exist_in_config()
    {
        var env = Env(Service("gateway"));
        var overrides = env
            .Select(kv => (Match: ClusterDestinationAddress().Match(kv.Key), kv.Value))
            .Where(x => x.Match.Success)
            .Select(x => (Cluster: x.Match.Groups[1].Value, Destination: x.Match.Groups[2].Value, Address: x.Value))
            .ToList();

        Assert.Equal(
            new[] { ("acme", "primary"), ("globex", "primary") },
            overrides.Select(o => (o.Cluster, o.Destination)).Order().ToArray());

        foreach (var (cluster, destination, address) in overrides)
        {
            // Each address must be a sample app container that listens on 8080.
            var uri = new Uri(address);
            Assert.True(Child(_services, uri.Host) is YamlMappingNode,
                $"{cluster}/{destination}: address host '{uri.Host}' is not a compose service");
            Assert.Equal(8080, uri.Port);
            Assert.Equal($"sample-{cluster}", uri.Host);
            Assert.Equal(cluster, Env(Service(uri.Host)).GetValueOrDefault("SAMPLE_APP_NAME"));
        }

        // A misspelt cluster or destination id would silently add a second, unused destination
        // instead of repointing the configured one: hold the names to config/routes.json.
        var routesPath = Path.Combine(_repoRoot, "config", "routes.json");
        Assert.True(File.Exists(routesPath), $"{routesPath} does not exist");
        using var routes = JsonDocument.Parse(File.ReadAllText(routesPath), new JsonDocumentOptions
        {
            CommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
        });

        var clusters = JsonChild(JsonChild(routes.RootElement, "ReverseProxy"), "Clusters");
        Assert.True(clusters is not null, "config/routes.json has no ReverseProxy:Clusters");
        foreach (var (cluster, destination, _) in overrides)
        {
            var clusterNode = JsonChild(clusters, cluster);
            Assert.True(clusterNode is not null, $"config/routes.json has no cluster '{cluster}'");
            Assert.True(JsonChild(JsonChild(clusterNode, "Destinations"), destination) is not null,
                $"config/routes.json cluster '{cluster}' has no destination '{destination}'");
        }
    }

    [Fact]
    public void Elasticsearch_runs_single_node_and_documents_that_security_is_off_only_locally()
    {
        var env = Env(Service("elasticsearch"));
        Assert.Equal("single-node", env.GetValueOrDefault("discovery.type"));
        Assert.Matches(@"-Xms1g\b.*-Xmx1g\b", env.GetValueOrDefault("ES_JAVA_OPTS") ?? "");
        Assert.Contains(Sequence(Service("elasticsearch"), "ports"), p => PortMapping(p).Container == "9200");
        Assert.Contains(Sequence(Service("kibana"), "ports"), p => PortMapping(p).Container == "5601");
        Assert.Equal("http://elasticsearch:9200", Env(Service("kibana")).GetValueOrDefault("ELASTICSEARCH_HOSTS"));

        if (env.GetValueOrDefault("xpack.security.enabled") == "false")
        {
            var comments = _composeText.Split('\n').Where(l => l.TrimStart().StartsWith('#')).ToList();
            Assert.Contains(comments, c =>
                c.Contains("production", StringComparison.OrdinalIgnoreCase)
                && c.Contains("security", StringComparison.OrdinalIgnoreCase));
            Assert.Contains(comments, c => c.Contains("TLS", StringComparison.Ordinal));
            Assert.Contains(comments, c => c.Contains("credentials", StringComparison.OrdinalIgnoreCase));
        }
    }

    // ---- compose model helpers ---------------------------------------------------------

    private sealed record Mount(string Type, string Source, string Target, bool ReadOnly);

    private IEnumerable<(string Name, YamlMappingNode Node)> Services() =>
        _services.Children.Select(kv => (Scalar(kv.Key), Assert.IsType<YamlMappingNode>(kv.Value)));

    private YamlMappingNode Service(string name) =>
        Assert.IsType<YamlMappingNode>(Child(_services, name));

    private static YamlNode? Child(YamlNode? node, string key) =>
        node is YamlMappingNode mapping && mapping.Children.TryGetValue(new YamlScalarNode(key), out var child)
            ? child
            : null;

    private static string Scalar(YamlNode node) =>
        Assert.IsType<YamlScalarNode>(node).Value ?? "";

    private static string? OptionalScalar(YamlNode node, string key) =>
        Child(node, key) is YamlScalarNode scalar ? scalar.Value : null;

    private static string RequiredScalar(YamlNode node, string key)
    {
        var value = OptionalScalar(node, key);
        Assert.False(string.IsNullOrEmpty(value), $"missing scalar '{key}'");
        return value!;
    }

    private static IReadOnlyList<YamlNode> Sequence(YamlNode node, string key) =>
        Child(node, key) is YamlSequenceNode sequence ? sequence.Children.ToList() : [];

    private static IEnumerable<string> StringList(YamlNode? node) => node switch
    {
        YamlScalarNode scalar => [scalar.Value ?? ""],
        YamlSequenceNode sequence => sequence.Children.Select(Scalar),
        _ => [],
    };

    private static bool HasExplicitTag(string image)
    {
        var lastSegment = image[(image.LastIndexOf('/') + 1)..];
        var colon = lastSegment.IndexOf(':', StringComparison.Ordinal);
        return image.Contains('@', StringComparison.Ordinal)
            || (colon > 0 && lastSegment[(colon + 1)..] is { Length: > 0 } tag && tag != "latest");
    }

    /// <summary>Compose allows both the list (<c>- K=V</c>) and the mapping form.</summary>
    private static Dictionary<string, string> Env(YamlMappingNode service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (Child(service, "environment"))
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    result.Add(Scalar(key), value is YamlScalarNode s ? s.Value ?? "" : "");
                }

                break;
            case YamlSequenceNode sequence:
                foreach (var item in sequence.Children.Select(Scalar))
                {
                    var eq = item.IndexOf('=', StringComparison.Ordinal);
                    result.Add(eq < 0 ? item : item[..eq], eq < 0 ? "" : item[(eq + 1)..]);
                }

                break;
        }

        return result;
    }

    /// <summary>List form means <c>service_started</c>; mapping form carries a condition.</summary>
    private static Dictionary<string, string> DependsOn(YamlMappingNode service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (Child(service, "depends_on"))
        {
            case YamlSequenceNode sequence:
                foreach (var item in sequence.Children)
                {
                    result.Add(Scalar(item), "service_started");
                }

                break;
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    result.Add(Scalar(key), OptionalScalar(value, "condition") ?? "service_started");
                }

                break;
        }

        return result;
    }

    private static List<string> HealthcheckTest(YamlMappingNode healthcheck) =>
        Child(healthcheck, "test") switch
        {
            YamlScalarNode shell => ["CMD-SHELL", shell.Value ?? ""],
            YamlSequenceNode sequence => sequence.Children.Select(Scalar).ToList(),
            _ => [],
        };

    /// <summary>Short syntax <c>[host:]source:target[:mode]</c> or the long mapping syntax.</summary>
    private static IEnumerable<Mount> Mounts(YamlMappingNode service)
    {
        foreach (var item in Sequence(service, "volumes"))
        {
            if (item is YamlMappingNode longSyntax)
            {
                yield return new Mount(
                    RequiredScalar(longSyntax, "type"),
                    OptionalScalar(longSyntax, "source") ?? "",
                    RequiredScalar(longSyntax, "target"),
                    OptionalScalar(longSyntax, "read_only") == "true");
                continue;
            }

            var parts = Scalar(item).Split(':');
            Assert.True(parts.Length is 2 or 3, $"unsupported volume syntax '{Scalar(item)}'");
            var source = parts[0];
            var isBind = source.StartsWith('.') || source.StartsWith('/') || source.StartsWith('~');
            var readOnly = parts.Length == 3 && parts[2].Split(',').Contains("ro");
            yield return new Mount(isBind ? "bind" : "volume", source, parts[1], readOnly);
        }
    }

    /// <summary>Returns (published, container) for short "h:c", "ip:h:c", "c" or long syntax.</summary>
    private static (string? Published, string Container) PortMapping(YamlNode port)
    {
        if (port is YamlMappingNode longSyntax)
        {
            return (OptionalScalar(longSyntax, "published"), RequiredScalar(longSyntax, "target"));
        }

        var parts = Scalar(port).Split('/')[0].Split(':');
        return parts.Length switch
        {
            1 => (null, parts[0]),
            _ => (parts[^2], parts[^1]),
        };
    }

    private static JsonElement? JsonChild(JsonElement? element, string name)
    {
        if (element is not { ValueKind: JsonValueKind.Object } obj)
        {
            return null;
        }

        // .NET configuration keys are case-insensitive.
        foreach (var property in obj.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return property.Value;
            }
        }

        return null;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Gateway.sln not found above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"^ReverseProxy__Clusters__([^_]+(?:_[^_]+)*)__Destinations__([^_]+(?:_[^_]+)*)__Address$")]
    private static partial Regex ClusterDestinationAddress();
}
