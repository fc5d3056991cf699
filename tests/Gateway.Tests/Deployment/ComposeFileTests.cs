using System.Text.RegularExpressions;
using Gateway.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;
using static Gateway.Tests.Deployment.ComposeModel;

namespace Gateway.Tests.Deployment;

/// <summary>
/// docker-compose.yml is the production shape (docs/production.md): it trusts no committed
/// secret. Everything secret comes from the deployment directory `init` writes
/// (GATEWAY_DEPLOY_DIR, its .env and its secrets/), compose refuses to start without it, the
/// gateway runs with Gateway:Production, Redis needs a password, Elasticsearch and Kibana run
/// with security and TLS, only the gateway is published beyond loopback, and Prometheus and
/// Grafana watch the gateway. The shared rules are in <see cref="ComposeFileContract"/>.
/// </summary>
public sealed partial class ComposeFileTests : ComposeFileContract
{
    /// <summary>The variables of the .env file init writes (used as `--env-file DIR/.env`).</summary>
    private static readonly string[] EnvFileVariables =
        ["REDIS_PASSWORD", "ELASTIC_PASSWORD", "KIBANA_PASSWORD", "GATEWAY_ES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "GATEWAY_DEPLOY_DIR"];

    /// <summary>The files init writes into DIR/secrets, named in key-per-file form.</summary>
    private static readonly string[] SecretFiles =
        ["Support__SigningKeyPem", "Audit__Integrity__SigningKeyPem", "Secrets__EncryptionKey", "Redis__Configuration", "Audit__Elasticsearch__Password"];

    private static readonly string[] ExpectedServices =
    [
        "gateway", "redis", "certs", "elasticsearch", "setup", "kibana", "kibana-setup",
        "prometheus", "grafana", "sample-acme", "sample-globex",
    ];

    /// <summary>Services that may publish a port only on the host's loopback interface.</summary>
    private static readonly string[] LoopbackOnly = ["redis", "elasticsearch", "kibana", "prometheus", "grafana"];

    public ComposeFileTests()
        : base("docker-compose.yml")
    {
    }

    [Fact]
    public void Declares_exactly_the_production_services_under_its_own_project_name()
    {
        var actual = Compose.Services().Select(s => s.Name).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(ExpectedServices.Order(StringComparer.Ordinal), actual);
        Assert.Equal("support-gateway", OptionalScalar(Compose.Root, "name"));
    }

    [Fact]
    public void No_service_carries_a_literal_secret()
    {
        var problems = new List<string>();
        foreach (var (name, service) in Compose.Services())
        {
            foreach (var (key, value) in Env(service))
            {
                problems.AddRange(LiteralSecrets.InEnvironment(key, value).Select(p => $"{name}: environment {p}"));
            }

            foreach (var part in new[] { "command", "entrypoint", "healthcheck", "labels", "secrets", "volumes" })
            {
                if (Child(service, part) is { } node)
                {
                    problems.AddRange(Scalars(node).SelectMany(s => LiteralSecrets.InText(s.Value ?? "")).Select(p => $"{name}: {part} {p}"));
                }
            }
        }

        if (Child(Compose.Root, "secrets") is { } secrets)
        {
            problems.AddRange(Scalars(secrets).SelectMany(s => LiteralSecrets.InText(s.Value ?? "")).Select(p => $"secrets: {p}"));
        }

        Assert.Empty(problems);

        // Nor anything that only the demo should know, or a secret compose would read inline.
        Assert.DoesNotContain("d9pAQ+FVCxw0l7LdHJw9yKsyBtvOc2FaQJoBgH+WNHY=", Compose.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(Compose.Services(), s => Child(s.Node, "env_file") is not null);
        Assert.All(Scalars(Child(Compose.Root, "secrets")!).Where(s => s.Value is not null),
            s => Assert.Matches(@"^\$\{GATEWAY_DEPLOY_DIR:\?[^}]+\}/secrets/\w+$", s.Value!));
    }

    [Fact]
    public void Compose_takes_only_the_env_file_variables_and_refuses_to_start_without_them()
    {
        var interpolated = Compose.Interpolations();
        Assert.NotEmpty(interpolated);

        // `${VAR:?message}`: compose stops with the message instead of starting with an empty
        // password or mounting an empty directory over the gateway's configuration.
        Assert.Empty(interpolated.Where(i => !EnvFileVariables.Contains(i.Name)).Select(i => $"${{{i.Name}}} is not written by init"));
        Assert.Empty(interpolated.Where(i => i.Modifier != ":?").Select(i => $"${{{i.Name}{i.Modifier}…}} must be ${{{i.Name}:?…}}"));
        Assert.Equal(EnvFileVariables.Order(StringComparer.Ordinal), interpolated.Select(i => i.Name).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Gateway_runs_in_production_on_the_configuration_of_the_deployment_directory()
    {
        var gateway = Compose.Service("gateway");
        var env = Env(gateway);

        Assert.Equal("true", env.GetValueOrDefault("Gateway__Production"));
        Assert.Equal("false", env.GetValueOrDefault("Gateway__Demo__HostSampleApps"));

        // The config directory is the deployment's, read-only, laid over the demo copy in the
        // image; without GATEWAY_DEPLOY_DIR compose refuses to start, and a missing directory
        // is an error rather than an empty directory made on the fly.
        var configDir = env.GetValueOrDefault("GATEWAY_CONFIG_DIR");
        Assert.Equal("/app/config", configDir);
        var config = Assert.Single(Mounts(gateway), m => m.Target == configDir);
        Assert.Equal("bind", config.Type);
        Assert.Matches(@"^\$\{GATEWAY_DEPLOY_DIR:\?[^}]+\}/config$", config.Source);
        Assert.True(config.ReadOnly, "the gateway's configuration must be mounted read-only");
        Assert.Equal("false", config.CreateHostPath);

        // The deployment directory serves the gateway alone.
        Assert.All(Compose.Services().Where(s => s.Name != "gateway"),
            s => Assert.DoesNotContain(Mounts(s.Node), m => IsDeploymentPath(m.Source)));

        // No demo switch that would let demo material through.
        Assert.DoesNotContain(env.Keys, k => k.StartsWith("Gateway__Demo__", StringComparison.Ordinal) && k != "Gateway__Demo__HostSampleApps");

        // Nothing that belongs in the deployment's files is set here instead.
        Assert.DoesNotContain(env.Keys, k => k.StartsWith("Management__", StringComparison.Ordinal) || k.StartsWith("Support__", StringComparison.Ordinal));

        // The image's default config dir is the one mounted over.
        var dockerfile = File.ReadAllText(Path.Combine(RepoRoot, "src/Gateway/Dockerfile"));
        Assert.Contains("GATEWAY_CONFIG_DIR=/app/config", dockerfile, StringComparison.Ordinal);
        Assert.Matches(@"dotnet publish\s+\S+\s.*-o\s+/app\b", dockerfile);
    }

    [Fact]
    public void Gateway_reads_each_secret_file_of_the_deployment_directory_and_no_other_service_does()
    {
        var gateway = Compose.Service("gateway");
        Assert.Equal("/run/secrets", Env(gateway).GetValueOrDefault("GATEWAY_SECRETS_DIR"));

        var refs = SecretRefs(gateway).ToList();
        Assert.Equal(SecretFiles.Order(StringComparer.Ordinal), refs.Select(r => r.Target).Order(StringComparer.Ordinal));

        var declared = Assert.IsType<YamlMappingNode>(Child(Compose.Root, "secrets"));
        foreach (var (source, target) in refs)
        {
            var file = OptionalScalar(Assert.IsType<YamlMappingNode>(Child(declared, source)), "file");
            Assert.NotNull(file);
            Assert.Matches(@"^\$\{GATEWAY_DEPLOY_DIR:\?[^}]+\}/secrets/" + Regex.Escape(target) + "$", file);
        }

        Assert.Equal(refs.Select(r => r.Source).Order(StringComparer.Ordinal), declared.Children.Keys.Select(Scalar).Order(StringComparer.Ordinal));
        Assert.All(Compose.Services().Where(s => s.Name != "gateway"), s => Assert.Empty(SecretRefs(s.Node)));

        // The connection string with Redis' password comes from its secret file only.
        Assert.DoesNotContain("Redis__Configuration", Env(gateway).Keys);
        Assert.DoesNotContain("Audit__Elasticsearch__Password", Env(gateway).Keys);
    }

    [Fact]
    public void Gateway_ships_audit_over_https_as_gateway_audit_trusting_the_generated_ca()
    {
        var gateway = Compose.Service("gateway");
        var env = Env(gateway);

        var url = new Uri(env.GetValueOrDefault("Audit__Elasticsearch__Url") ?? "");
        Assert.Equal("https", url.Scheme);
        Assert.Equal("elasticsearch", url.Host);
        Assert.Equal(9200, url.Port);
        Assert.True(Compose.HasService(url.Host));

        // The user the setup job creates, with the password of the secret file (not in env).
        Assert.Equal("gateway_audit", env.GetValueOrDefault("Audit__Elasticsearch__Username"));
        Assert.Equal("gateway_audit", Env(Compose.Service("setup")).GetValueOrDefault("GATEWAY_ES_USERNAME"));
        Assert.Contains(SecretRefs(gateway), r => r.Target == "Audit__Elasticsearch__Password");

        // The node certificate names the host the gateway connects to.
        Assert.Equal(url.Host, Env(Compose.Service("certs")).GetValueOrDefault("ES_NODE_NAME"));

        // Trust: SSL_CERT_DIR lists the system store and the directory the elastic-ca volume is
        // mounted on, read-only; the certs job writes the CA certificate into that volume.
        var certDirs = (env.GetValueOrDefault("SSL_CERT_DIR") ?? "").Split(':');
        Assert.Contains("/etc/ssl/certs", certDirs);
        var caMount = Assert.Single(Mounts(gateway), m => m.Type == "volume" && m.Source == "elastic-ca");
        Assert.True(caMount.ReadOnly);
        Assert.Contains(caMount.Target, certDirs);
        var certs = Compose.Service("certs");
        var exported = Assert.Single(Mounts(certs), m => m.Source == "elastic-ca");
        Assert.Equal(exported.Target, Env(certs).GetValueOrDefault("CA_EXPORT_DIR"));

        // The spool is on the volume, whatever the deployment's gateway.json says.
        var spool = Assert.Single(Mounts(gateway), m => m.Source == "gateway-spool");
        Assert.StartsWith(spool.Target + "/", env.GetValueOrDefault("Audit__SpoolDirectory"), StringComparison.Ordinal);
    }

    [Fact]
    public void Gateway_waits_for_its_dependencies_and_for_the_index_template()
    {
        var expected = new Dictionary<string, string>
        {
            ["redis"] = "service_healthy",
            ["elasticsearch"] = "service_healthy",
            ["setup"] = "service_completed_successfully",
            ["sample-acme"] = "service_started",
            ["sample-globex"] = "service_started",
        };
        Assert.Equal(expected.OrderBy(kv => kv.Key, StringComparer.Ordinal),
            DependsOn(Compose.Service("gateway")).OrderBy(kv => kv.Key, StringComparer.Ordinal));

        // certs → elasticsearch → setup (passwords, role, user, template) → kibana → kibana-setup.
        Assert.Equal("service_completed_successfully", DependsOn(Compose.Service("elasticsearch"))["certs"]);
        Assert.Equal("service_healthy", DependsOn(Compose.Service("setup"))["elasticsearch"]);
        Assert.Equal("service_completed_successfully", DependsOn(Compose.Service("kibana"))["setup"]);
        Assert.Equal("service_healthy", DependsOn(Compose.Service("kibana-setup"))["kibana"]);
    }

    [Fact]
    public void Only_the_gateway_is_published_beyond_the_loopback_interface()
    {
        var problems = new List<string>();
        foreach (var (name, service) in Compose.Services())
        {
            foreach (var port in Sequence(service, "ports").Select(PortMapping))
            {
                if (name == "gateway")
                {
                    if (port.Container != "8080")
                    {
                        problems.Add($"gateway: publishes {port.Container}; only 8080 is for clients (9091 stays on the compose network)");
                    }
                }
                else if (port.HostIp != "127.0.0.1")
                {
                    problems.Add($"{name}: publishes {port.Container} on {port.HostIp ?? "every interface"}");
                }
            }

            if (name != "gateway" && Child(service, "network_mode") is YamlScalarNode { Value: "host" })
            {
                problems.Add($"{name}: network_mode host bypasses every binding");
            }
        }

        Assert.Empty(problems);
        Assert.All(LoopbackOnly, name => Assert.True(Compose.HasService(name), $"no service '{name}'"));
        // The data stores are not published at all.
        Assert.Empty(Sequence(Compose.Service("redis"), "ports"));
        Assert.Empty(Sequence(Compose.Service("elasticsearch"), "ports"));

        var management = new Uri(Env(Compose.Service("gateway")).GetValueOrDefault("Gateway__ManagementUrls")!.Replace("+", "0.0.0.0", StringComparison.Ordinal));
        Assert.Equal(9091, management.Port);
    }

    [Fact]
    public void Redis_requires_a_password_from_the_env_file_without_showing_it_in_ps()
    {
        var redis = Compose.Service("redis");
        Assert.Matches(@"^\$\{REDIS_PASSWORD:\?[^}]+\}$", Env(redis).GetValueOrDefault("REDIS_PASSWORD"));

        var command = string.Join('\n', StringList(Child(redis, "command")));
        Assert.Matches(@"printf 'requirepass %s\\n' ""\$\$REDIS_PASSWORD"" > (?<file>\S+)", command);
        var file = Regex.Match(command, @"> (?<file>\S+)").Groups["file"].Value;
        // The file is the server's configuration, written where only its user can read it.
        Assert.Matches(@"\bumask 077\b", command);
        Assert.Matches(@"exec redis-server " + Regex.Escape(file) + @"\b", command);
        Assert.DoesNotContain("--requirepass", command, StringComparison.Ordinal);
        Assert.Equal("redis", OptionalScalar(redis, "user"));

        // The health probe authenticates (REDISCLI_AUTH, not -a on the command line).
        Assert.Contains("REDISCLI_AUTH=\"$$REDIS_PASSWORD\"", HealthcheckText(redis), StringComparison.Ordinal);
    }

    [Fact]
    public void Elasticsearch_and_Kibana_run_with_security_and_tls_on_certificates_the_certs_job_makes()
    {
        var es = Compose.Service("elasticsearch");
        var env = Env(es);
        Assert.Equal("single-node", env.GetValueOrDefault("discovery.type"));
        Assert.Matches(@"-Xms1g\b.*-Xmx1g\b", env.GetValueOrDefault("ES_JAVA_OPTS") ?? "");
        Assert.Equal("true", env.GetValueOrDefault("xpack.security.enabled"));
        Assert.Equal("true", env.GetValueOrDefault("xpack.security.http.ssl.enabled"));
        Assert.Equal("true", env.GetValueOrDefault("xpack.security.transport.ssl.enabled"));
        Assert.Equal("certificate", env.GetValueOrDefault("xpack.security.transport.ssl.verification_mode"));
        Assert.Matches(@"^\$\{ELASTIC_PASSWORD:\?[^}]+\}$", env.GetValueOrDefault("ELASTIC_PASSWORD"));

        // Every TLS file Elasticsearch is told about is one the certs job writes (certs.sh
        // layout: CERTS_DIR/ca.crt, CERTS_DIR/NODE/NODE.crt and .key) on the shared volume.
        var certs = Compose.Service("certs");
        Assert.Matches(EsImage(), RequiredScalar(certs, "image"));
        Assert.Equal(RequiredScalar(es, "image"), RequiredScalar(certs, "image"));
        var certsEnv = Env(certs);
        var node = certsEnv["ES_NODE_NAME"];
        var certsDir = certsEnv["CERTS_DIR"];
        var certsVolume = Assert.Single(Mounts(certs), m => m.Target == certsDir);
        var esCerts = Assert.Single(Mounts(es), m => m.Source == certsVolume.Source);
        Assert.Equal("volume", esCerts.Type);
        Assert.True(esCerts.ReadOnly);
        Assert.Equal(certsDir, esCerts.Target);
        var written = new[] { "ca.crt", $"{node}/{node}.crt", $"{node}/{node}.key" }.Select(f => $"{certsDir}/{f}").ToHashSet();
        var tlsFiles = env.Where(kv => TlsFileSetting().IsMatch(kv.Key)).ToList();
        Assert.Equal(6, tlsFiles.Count);
        foreach (var (key, value) in tlsFiles)
        {
            // Relative paths are resolved against Elasticsearch's config directory.
            Assert.Contains($"/usr/share/elasticsearch/config/{value}", written);
        }

        var certsScript = File.ReadAllText(Path.Combine(RepoPaths.ConfigDir, "compose", "certs.sh"));
        Assert.Contains("\"$certs/ca.crt\"", certsScript, StringComparison.Ordinal);
        Assert.Contains("\"$certs/$node/$node.key\"", certsScript, StringComparison.Ordinal);
        Assert.Contains("\"$certs/$node/$node.crt\"", certsScript, StringComparison.Ordinal);
        Assert.Contains("elasticsearch-certutil", certsScript, StringComparison.Ordinal);

        // Healthy means TLS with the generated CA and a working login.
        var probe = HealthcheckText(es);
        Assert.Contains("https://localhost:9200/_cluster/health", probe, StringComparison.Ordinal);
        Assert.Contains("--cacert config/certs/ca.crt", probe, StringComparison.Ordinal);
        Assert.Contains("-K -", probe, StringComparison.Ordinal);

        // Kibana logs in as kibana_system over https, with the password the setup job sets.
        var kibana = Env(Compose.Service("kibana"));
        Assert.Equal("https://elasticsearch:9200", kibana.GetValueOrDefault("ELASTICSEARCH_HOSTS"));
        Assert.Equal("kibana_system", kibana.GetValueOrDefault("ELASTICSEARCH_USERNAME"));
        Assert.Matches(@"^\$\{KIBANA_PASSWORD:\?[^}]+\}$", kibana.GetValueOrDefault("ELASTICSEARCH_PASSWORD"));
        Assert.Equal(kibana["ELASTICSEARCH_PASSWORD"], Env(Compose.Service("setup")).GetValueOrDefault("KIBANA_SYSTEM_PASSWORD"));
        var kibanaCa = kibana.GetValueOrDefault("ELASTICSEARCH_SSL_CERTIFICATEAUTHORITIES") ?? "";
        Assert.Contains(Mounts(Compose.Service("kibana")), m => m.Source == "elastic-ca" && m.ReadOnly && kibanaCa == m.Target + "/ca.crt");

        // The setup jobs speak https to Elasticsearch and verify it with the CA.
        var setup = Env(Compose.Service("setup"));
        Assert.StartsWith("https://", setup.GetValueOrDefault("ELASTICSEARCH_URL"), StringComparison.Ordinal);
        Assert.Equal("elastic", setup.GetValueOrDefault("ELASTICSEARCH_USERNAME"));
        Assert.Matches(@"^\$\{ELASTIC_PASSWORD:\?[^}]+\}$", setup.GetValueOrDefault("ELASTICSEARCH_PASSWORD"));
        Assert.Contains(Mounts(Compose.Service("setup")), m => m.Source == "elastic-ca" && m.ReadOnly && setup.GetValueOrDefault("ELASTICSEARCH_CA_CERT") == m.Target + "/ca.crt");
        Assert.DoesNotContain("--insecure", Compose.Text, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\bcurl\b[^\n]*\s-k\b", Compose.Text);
    }

    [Fact]
    public void Grafana_takes_its_admin_password_from_the_env_file_and_allows_no_anonymous_access()
    {
        var grafana = Compose.Service("grafana");
        var env = Env(grafana);
        Assert.Matches(@"^\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}$", env.GetValueOrDefault("GF_SECURITY_ADMIN_PASSWORD"));
        Assert.Equal("false", env.GetValueOrDefault("GF_AUTH_ANONYMOUS_ENABLED"));
        Assert.Equal("false", env.GetValueOrDefault("GF_USERS_ALLOW_SIGN_UP"));

        var mounts = Mounts(grafana).ToList();
        Assert.Contains(mounts, m => m.Source == "./config/grafana/provisioning/datasources" && m.Target == "/etc/grafana/provisioning/datasources");
        Assert.Contains(mounts, m => m.Source == "./config/grafana/provisioning/dashboards" && m.Target == "/etc/grafana/provisioning/dashboards");
        Assert.Contains(mounts, m => m.Source == "./config/grafana/dashboards" && m.Target == "/etc/grafana/dashboards");
        Assert.Contains(mounts, m => m.Type == "volume" && m.Target == "/var/lib/grafana");
        Assert.Contains(Mounts(Compose.Service("prometheus")), m => m.Type == "volume" && m.Target == "/prometheus");
    }

    [Fact]
    public void The_gateway_role_may_only_create_documents_in_the_audit_data_stream()
    {
        using var role = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.ConfigDir, "compose", "gateway-audit-role.json")));
        Assert.Empty(role.RootElement.GetProperty("cluster").EnumerateArray());
        var indices = Assert.Single(role.RootElement.GetProperty("indices").EnumerateArray());
        Assert.Equal(["gateway-audit*"], indices.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(["auto_configure", "create_doc"], indices.GetProperty("privileges").EnumerateArray().Select(p => p.GetString()).Order(StringComparer.Ordinal));

        // The data stream the gateway writes to (Audit:Elasticsearch:Index) is one it covers.
        using var gateway = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.ConfigDir, "gateway.json")));
        var index = JsonChild(JsonChild(JsonChild(gateway.RootElement, "Audit"), "Elasticsearch"), "Index")?.GetString();
        Assert.Equal("gateway-audit", index);
    }

    [GeneratedRegex(@"^xpack\.security\.(http|transport)\.ssl\.(key|certificate|certificate_authorities)$")]
    private static partial Regex TlsFileSetting();
}
