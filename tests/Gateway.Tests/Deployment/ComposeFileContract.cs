using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Tests.Infrastructure;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using static Gateway.Tests.Deployment.ComposeModel;

namespace Gateway.Tests.Deployment;

/// <summary>
/// There is no Docker engine on the build machines, so `docker compose config` / `up` cannot
/// check the compose files. What both of them (production and demo) must hold, whatever
/// else they differ in: pinned images, builds from existing Dockerfiles, healthchecks and a
/// start-up order that can be satisfied, declared volumes, repository paths that exist,
/// setup jobs whose scripts and assets exist, cluster overrides that name real clusters.
/// Each derived class runs these against its file.
/// </summary>
public abstract partial class ComposeFileContract
{
    private protected ComposeFileContract(string repoRelativePath)
    {
        Compose = ComposeModel.Load(repoRelativePath);
    }

    private protected ComposeModel Compose { get; }

    private protected static string RepoRoot => RepoPaths.Root;

    [Fact]
    public void Every_service_has_a_pinned_image_or_a_build()
    {
        var problems = new List<string>();
        foreach (var (name, service) in Compose.Services())
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

        Assert.NotNull(Child(Compose.Service("gateway"), "build"));
        Assert.NotNull(Child(Compose.Service("sample-acme"), "build"));
        Assert.NotNull(Child(Compose.Service("sample-globex"), "build"));
        Assert.Matches(@"^redis:7(\.|$)", RequiredScalar(Compose.Service("redis"), "image"));
        Assert.Matches(@"^curlimages/curl:\d", RequiredScalar(Compose.Service("setup"), "image"));

        var es = RequiredScalar(Compose.Service("elasticsearch"), "image");
        var kibana = RequiredScalar(Compose.Service("kibana"), "image");
        var esMatch = EsImage().Match(es);
        var kibanaMatch = KibanaImage().Match(kibana);
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

        var built = Compose.Services().Where(s => Child(s.Node, "build") is not null).Select(s => s.Name).ToHashSet();
        Assert.Equal(expected.Keys.ToHashSet(), built);

        foreach (var (name, dockerfileRelative) in expected)
        {
            var build = Assert.IsType<YamlMappingNode>(Child(Compose.Service(name), "build"));
            var context = Path.GetFullPath(Path.Combine(RepoRoot, RequiredScalar(build, "context")));
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
    public void Port_mappings_are_quoted_and_the_gateway_serves_on_8080()
    {
        Assert.Contains(Sequence(Compose.Service("gateway"), "ports"), p => PortMapping(p) is { Published: "8080", Container: "8080" });

        // Short-syntax port mappings must be quoted: YAML 1.1 reads unquoted xx:yy as base 60.
        foreach (var (name, service) in Compose.Services())
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
        foreach (var (name, service) in Compose.Services().Where(s => !Compose.IsOneShot(s.Node)))
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
            if (test.Count < 2 || test[0] is not ("CMD" or "CMD-SHELL"))
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

        var gatewayProbe = HealthcheckText(Compose.Service("gateway"));
        Assert.Contains("/_gateway/health/ready", gatewayProbe, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1/8080", gatewayProbe, StringComparison.Ordinal);
        // redis-cli exits 0 on an error reply (NOAUTH …): only the PONG proves health.
        var redisProbe = HealthcheckText(Compose.Service("redis"));
        Assert.Contains("redis-cli ping", redisProbe, StringComparison.Ordinal);
        Assert.Contains("PONG", redisProbe, StringComparison.Ordinal);
        Assert.Contains("_cluster/health", HealthcheckText(Compose.Service("elasticsearch")), StringComparison.Ordinal);
        Assert.Contains("/api/status", HealthcheckText(Compose.Service("kibana")), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_depends_on_names_an_existing_service_that_can_satisfy_the_condition()
    {
        var problems = new List<string>();
        foreach (var (name, service) in Compose.Services())
        {
            foreach (var (target, condition) in DependsOn(service))
            {
                if (Child(Compose.ServicesNode, target) is not YamlMappingNode targetService)
                {
                    problems.Add($"{name}: depends_on unknown service '{target}'");
                }
                else if (condition == "service_healthy" && Child(targetService, "healthcheck") is null)
                {
                    problems.Add($"{name}: waits for '{target}' to be healthy, but it has no healthcheck");
                }
                else if (condition == "service_completed_successfully" && !Compose.IsOneShot(targetService))
                {
                    problems.Add($"{name}: waits for '{target}' to complete, but it is not a one-shot job");
                }
                else if (condition is not ("service_started" or "service_healthy" or "service_completed_successfully"))
                {
                    problems.Add($"{name}: unknown depends_on condition '{condition}' for '{target}'");
                }
            }
        }

        Assert.Empty(problems);
        Assert.Equal("service_healthy", DependsOn(Compose.Service("kibana"))["elasticsearch"]);
        Assert.False(HasCycle(), "depends_on has a cycle");
    }

    [Fact]
    public void Named_volumes_are_declared_at_top_level_and_all_declared_ones_are_used()
    {
        var declared = Child(Compose.Root, "volumes") is YamlMappingNode volumes
            ? volumes.Children.Keys.Select(Scalar).ToHashSet()
            : [];

        var used = Compose.Services()
            .SelectMany(s => Mounts(s.Node).Where(m => m.Type == "volume").Select(m => (s.Name, m.Source)))
            .ToList();

        Assert.Empty(used.Where(u => !declared.Contains(u.Source)).Select(u => $"{u.Name}: {u.Source}"));
        Assert.Empty(declared.Except(used.Select(u => u.Source)));

        // Data that must survive a container replacement lives on named volumes.
        Assert.Contains(Mounts(Compose.Service("gateway")), m => m.Type == "volume" && m.Target == "/app/spool");
        Assert.Contains(Mounts(Compose.Service("redis")), m => m.Type == "volume" && m.Target == "/data");
        Assert.Contains(Mounts(Compose.Service("elasticsearch")), m => m.Type == "volume" && m.Target == "/usr/share/elasticsearch/data");
    }

    [Fact]
    public void Repository_paths_mounted_into_services_exist_and_are_read_only()
    {
        var binds = Compose.Services()
            .SelectMany(s => Mounts(s.Node).Where(m => m.Type == "bind").Select(m => (s.Name, Mount: m)))
            .ToList();
        Assert.NotEmpty(binds); // the setup job mounts config/

        var problems = new List<string>();
        foreach (var (name, mount) in binds)
        {
            if (IsDeploymentPath(mount.Source))
            {
                continue; // held to its own rules by the production tests
            }

            if (!mount.Source.StartsWith("./", StringComparison.Ordinal))
            {
                problems.Add($"{name}: bind source '{mount.Source}' is neither relative to the repo root nor the deployment directory");
                continue;
            }

            var full = Path.GetFullPath(Path.Combine(RepoRoot, mount.Source));
            if (!Directory.Exists(full) && !File.Exists(full))
            {
                problems.Add($"{name}: bind source '{mount.Source}' does not exist in the repo");
            }

            if (!mount.ReadOnly)
            {
                problems.Add($"{name}: the repository is mounted writable at {mount.Target}");
            }
        }

        Assert.Empty(problems);
    }

    [Fact]
    public void Setup_jobs_run_once_with_a_script_and_assets_that_exist()
    {
        var jobs = Compose.Services().Where(s => Compose.IsOneShot(s.Node)).ToList();
        Assert.Contains(jobs, j => j.Name == "setup");

        var setupScriptText = File.ReadAllText(Path.Combine(RepoPaths.ConfigDir, "compose", "setup.sh"));
        var problems = new List<string>();
        foreach (var (name, job) in jobs)
        {
            var restart = Assert.IsType<YamlScalarNode>(Child(job, "restart"));
            // Unquoted, YAML 1.1 parsers read `no` as boolean false, which compose rejects.
            Assert.True(restart.Style != ScalarStyle.Plain, $"{name}: restart \"no\" must be quoted");
            Assert.Null(Child(job, "healthcheck"));

            // The script it runs must be inside a bind mount and exist on the host side.
            var run = StringList(Child(job, "entrypoint")).Concat(StringList(Child(job, "command"))).ToList();
            var script = run.Select(a => ScriptPath().Match(a)).FirstOrDefault(m => m.Success)?.Value;
            if (script is null)
            {
                problems.Add($"{name}: runs no script: '{string.Join(' ', run)}'");
                continue;
            }

            var hostScript = HostPathOf(job, script);
            if (hostScript is null || !File.Exists(hostScript))
            {
                problems.Add($"{name}: {script} is not a file of the repository mounted into the job");
                continue;
            }

            if (Path.GetFileName(script) != "setup.sh")
            {
                continue;
            }

            // Every file the script loads for the phases this job runs.
            var phases = run.SkipWhile(a => a != script).Skip(1).ToList();
            if (phases.Count == 0)
            {
                phases = ["elasticsearch", "kibana"];
            }

            var env = Env(job);
            var assets = env.GetValueOrDefault("ASSETS_DIR", "/assets");
            var setupDir = env.GetValueOrDefault("SETUP_DIR", Path.GetDirectoryName(script)!);
            foreach (var phase in phases)
            {
                var loads = phase switch
                {
                    "elasticsearch" => new List<string> { $"{assets}/elasticsearch/ilm-policy.json", $"{assets}/elasticsearch/index-template.json" },
                    "kibana" => [$"{assets}/kibana/saved-objects.ndjson"],
                    _ => null,
                };
                if (loads is null)
                {
                    problems.Add($"{name}: setup.sh has no phase '{phase}'");
                    continue;
                }

                if (phase == "elasticsearch" && env.ContainsKey("GATEWAY_ES_PASSWORD"))
                {
                    loads.Add($"{setupDir}/gateway-audit-role.json");
                }

                foreach (var file in loads)
                {
                    // The script must name the file, and the job must mount it from the repository.
                    if (!setupScriptText.Contains(Path.GetFileName(file), StringComparison.Ordinal))
                    {
                        problems.Add($"{name}: setup.sh does not load {Path.GetFileName(file)} any more");
                    }

                    var host = HostPathOf(job, file);
                    if (host is null || !File.Exists(host))
                    {
                        problems.Add($"{name}: phase {phase} loads {file}, which no repository mount provides");
                    }
                }
            }
        }

        Assert.Empty(problems);
    }

    [Fact]
    public void Gateway_cluster_overrides_name_clusters_and_destinations_that_exist_in_config()
    {
        var env = Env(Compose.Service("gateway"));
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
            Assert.True(Compose.HasService(uri.Host), $"{cluster}/{destination}: address host '{uri.Host}' is not a compose service");
            Assert.Equal(8080, uri.Port);
            Assert.Equal($"sample-{cluster}", uri.Host);
            Assert.Equal(cluster, Env(Compose.Service(uri.Host)).GetValueOrDefault("SAMPLE_APP_NAME"));
        }

        // A misspelt cluster or destination id would silently add a second, unused destination
        // instead of repointing the configured one: hold the names to config/routes.json.
        using var routes = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.ConfigDir, "routes.json")), new JsonDocumentOptions
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
    public void Sample_tenant_apps_are_labelled_as_stand_ins()
    {
        foreach (var name in new[] { "sample-acme", "sample-globex" })
        {
            var labels = Assert.IsType<YamlMappingNode>(Child(Compose.Service(name), "labels"));
            Assert.Equal("sample-tenant-app", OptionalScalar(labels, "com.support-gateway.role"));
        }
    }

    /// <summary>A bind source under the deployment directory made by init.</summary>
    private protected static bool IsDeploymentPath(string source) =>
        source.StartsWith("${GATEWAY_DEPLOY_DIR", StringComparison.Ordinal);

    /// <summary>The repository file a path inside <paramref name="service"/> comes from, through its bind mounts.</summary>
    private protected static string? HostPathOf(YamlMappingNode service, string containerPath)
    {
        foreach (var mount in Mounts(service).Where(m => m.Type == "bind" && m.Source.StartsWith("./", StringComparison.Ordinal)))
        {
            var target = mount.Target.TrimEnd('/');
            if (containerPath == target)
            {
                return Path.GetFullPath(Path.Combine(RepoRoot, mount.Source));
            }

            if (containerPath.StartsWith(target + "/", StringComparison.Ordinal))
            {
                return Path.GetFullPath(Path.Combine(RepoRoot, mount.Source, containerPath[(target.Length + 1)..]));
            }
        }

        return null;
    }

    private protected static JsonElement? JsonChild(JsonElement? element, string name)
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

    private bool HasCycle()
    {
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 visiting, 2 done
        bool Visit(string name)
        {
            if (state.TryGetValue(name, out var s))
            {
                return s == 1;
            }

            state[name] = 1;
            var cyclic = Compose.HasService(name) && DependsOn(Compose.Service(name)).Keys.Any(Visit);
            state[name] = 2;
            return cyclic;
        }

        return Compose.Services().Any(s => Visit(s.Name));
    }

    [GeneratedRegex(@"^docker\.elastic\.co/elasticsearch/elasticsearch:(8\.\d+\.\d+)$")]
    private protected static partial Regex EsImage();

    [GeneratedRegex(@"^docker\.elastic\.co/kibana/kibana:(8\.\d+\.\d+)$")]
    private static partial Regex KibanaImage();

    [GeneratedRegex(@"^/\S+\.sh$")]
    private static partial Regex ScriptPath();

    [GeneratedRegex(@"^ReverseProxy__Clusters__([^_]+(?:_[^_]+)*)__Destinations__([^_]+(?:_[^_]+)*)__Address$")]
    private static partial Regex ClusterDestinationAddress();
}
