using static Gateway.Tests.Deployment.ComposeModel;

namespace Gateway.Tests.Deployment;

/// <summary>
/// docker-compose.demo.yml is the one-command local demo (docs/demo-compose.md): the shipped
/// demo configuration with its committed keys, Redis without a password, Elasticsearch and
/// Kibana with security off. It must say so loudly, publish nothing beyond 127.0.0.1, and
/// never share volumes with the production stack. The shared rules are in
/// <see cref="ComposeFileContract"/>.
/// </summary>
public sealed class DemoComposeFileTests : ComposeFileContract
{
    public DemoComposeFileTests()
        : base("docker-compose.demo.yml")
    {
    }

    [Fact]
    public void Says_in_its_banner_that_it_trusts_committed_demo_keys_and_must_never_be_exposed()
    {
        // The banner is the first thing in the file.
        var banner = string.Join('\n', Compose.Text.Split('\n').TakeWhile(l => l.StartsWith('#')));
        Assert.Contains("DEMO ONLY", banner, StringComparison.Ordinal);
        Assert.Contains("NEVER EXPOSE", banner, StringComparison.Ordinal);
        Assert.Contains("COMMITTED demo keys", banner, StringComparison.Ordinal);
        Assert.Contains("security OFF", banner, StringComparison.Ordinal);
        Assert.Contains("docker-compose.yml", banner, StringComparison.Ordinal);
    }

    [Fact]
    public void Runs_under_its_own_project_name_so_its_volumes_never_meet_production()
    {
        var name = OptionalScalar(Compose.Root, "name");
        Assert.NotNull(name);
        Assert.Contains("demo", name, StringComparison.Ordinal);
        Assert.NotEqual(OptionalScalar(ComposeModel.Load("docker-compose.yml").Root, "name"), name);
    }

    [Fact]
    public void Publishes_every_port_on_127_0_0_1_only()
    {
        var published = Compose.Services()
            .SelectMany(s => Sequence(s.Node, "ports").Select(p => (s.Name, Port: PortMapping(p))))
            .ToList();
        Assert.NotEmpty(published);
        Assert.All(published, p => Assert.True(p.Port.HostIp == "127.0.0.1", $"{p.Name}: {p.Port.Container} is published on {p.Port.HostIp ?? "every interface"}"));
        Assert.All(Compose.Services(), s => Assert.Null(Child(s.Node, "network_mode")));
    }

    [Fact]
    public void Runs_the_shipped_demo_configuration_with_security_off_and_needs_no_init()
    {
        var gateway = Env(Compose.Service("gateway"));
        Assert.Equal("/app/config", gateway.GetValueOrDefault("GATEWAY_CONFIG_DIR"));
        Assert.NotEqual("true", gateway.GetValueOrDefault("Gateway__Production"));
        Assert.Equal("false", gateway.GetValueOrDefault("Gateway__Demo__HostSampleApps"));
        // Demo material beyond the container's loopback: allowed explicitly, published on 127.0.0.1 only.
        Assert.Equal("true", gateway.GetValueOrDefault("Gateway__Demo__AllowNonLoopback"));
        Assert.StartsWith("redis:6379", gateway.GetValueOrDefault("Redis__Configuration"), StringComparison.Ordinal);
        Assert.Equal("http://elasticsearch:9200", gateway.GetValueOrDefault("Audit__Elasticsearch__Url"));
        // The image's own copy of config/: nothing is mounted over it.
        Assert.DoesNotContain(Mounts(Compose.Service("gateway")), m => m.Target.StartsWith("/app/config", StringComparison.Ordinal));

        // Nothing from a deployment directory, no env file variables.
        Assert.Empty(Compose.Interpolations());
        Assert.Null(Child(Compose.Root, "secrets"));

        Assert.Equal("false", Env(Compose.Service("elasticsearch")).GetValueOrDefault("xpack.security.enabled"));
        Assert.Equal("http://elasticsearch:9200", Env(Compose.Service("kibana")).GetValueOrDefault("ELASTICSEARCH_HOSTS"));
        Assert.Equal("service_completed_successfully", DependsOn(Compose.Service("gateway"))["setup"]);
    }
}
