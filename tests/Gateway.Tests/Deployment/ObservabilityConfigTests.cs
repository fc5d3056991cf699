using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;
using static Gateway.Tests.Deployment.ComposeModel;

namespace Gateway.Tests.Deployment;

/// <summary>
/// Prometheus and Grafana of docker-compose.yml: Prometheus scrapes the gateway's management
/// listener, Grafana's provisioned datasource is that Prometheus, and the provisioned
/// dashboard asks only for metrics the gateway exports (docs/production.md, "Metrics").
/// </summary>
public sealed partial class ObservabilityConfigTests
{
    /// <summary>The series the gateway exports (OpenTelemetry names as Prometheus writes them).</summary>
    private static readonly string[] GatewayMetrics =
    [
        "gateway_support_requests_total",
        "gateway_support_sessions_active",
        "gateway_support_logins_total",
        "gateway_grant_store_available",
        "gateway_grant_store_duration_seconds_bucket",
        "gateway_audit_queue_length",
        "gateway_audit_shipping_lag_seconds",
        "gateway_audit_events_total",
        "gateway_config_reloads_total",
    ];

    private static readonly HashSet<string> PromQlFunctions = new(StringComparer.Ordinal)
    {
        "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "clamp_min", "topk",
    };

    private static readonly string GrafanaDir = Path.Combine(RepoPaths.ConfigDir, "grafana");
    private readonly ComposeModel _compose = ComposeModel.Load("docker-compose.yml");

    [Fact]
    public void Prometheus_scrapes_the_gateway_management_listener()
    {
        var prometheus = _compose.Service("prometheus");
        var configFile = StringList(Child(prometheus, "command"))
            .Select(a => Regex.Match(a, @"^--config\.file=(.+)$")).Single(m => m.Success).Groups[1].Value;
        var mount = Assert.Single(Mounts(prometheus), m => m.Target == configFile);
        Assert.Equal("./config/prometheus/prometheus.yml", mount.Source);

        var config = LoadYaml(Path.Combine(RepoPaths.ConfigDir, "prometheus", "prometheus.yml"));
        var jobs = Sequence(config, "scrape_configs").Cast<YamlMappingNode>().ToList();
        var job = Assert.Single(jobs, j => OptionalScalar(j, "job_name") == "gateway");
        Assert.Equal("/metrics", OptionalScalar(job, "metrics_path") ?? "/metrics");
        Assert.Equal("http", OptionalScalar(job, "scheme") ?? "http");
        var targets = Sequence(job, "static_configs").SelectMany(c => StringList(Child(c, "targets"))).ToList();
        Assert.Equal(["gateway:9091"], targets);

        // gateway:9091 is the gateway service's management listener.
        var target = new Uri("http://" + targets[0]);
        Assert.True(_compose.HasService(target.Host));
        var management = Env(_compose.Service(target.Host)).GetValueOrDefault("Gateway__ManagementUrls") ?? "";
        Assert.Equal(target.Port, new Uri(management.Replace("+", "0.0.0.0", StringComparison.Ordinal)).Port);
    }

    [Fact]
    public void Grafana_provisions_the_prometheus_datasource_and_the_gateway_dashboard()
    {
        var datasources = LoadYaml(Path.Combine(GrafanaDir, "provisioning", "datasources", "prometheus.yml"));
        var datasource = Assert.IsType<YamlMappingNode>(Assert.Single(Sequence(datasources, "datasources")));
        Assert.Equal("prometheus", OptionalScalar(datasource, "type"));
        var url = new Uri(RequiredScalar(datasource, "url"));
        Assert.True(_compose.HasService(url.Host), $"datasource url names '{url.Host}', which is no compose service");
        Assert.Equal("prometheus", url.Host);
        Assert.Equal(9090, url.Port);

        var providers = LoadYaml(Path.Combine(GrafanaDir, "provisioning", "dashboards", "gateway.yml"));
        var provider = Assert.IsType<YamlMappingNode>(Assert.Single(Sequence(providers, "providers")));
        Assert.Equal("file", OptionalScalar(provider, "type"));
        var path = OptionalScalar(Child(provider, "options")!, "path");
        Assert.Contains(Mounts(_compose.Service("grafana")), m => m.Source == "./config/grafana/dashboards" && m.Target == path && m.ReadOnly);

        // Every panel and every query uses the provisioned datasource.
        using var dashboard = LoadDashboard();
        var uid = RequiredScalar(datasource, "uid");
        foreach (var (title, panel) in QueryPanels(dashboard))
        {
            Assert.True(uid == panel.GetProperty("datasource").GetProperty("uid").GetString(), $"{title}: another datasource");
            Assert.All(panel.GetProperty("targets").EnumerateArray(), t => Assert.Equal(uid, t.GetProperty("datasource").GetProperty("uid").GetString()));
        }
    }

    [Fact]
    public void Dashboard_queries_only_the_gateway_metrics_and_shows_each_of_them()
    {
        using var dashboard = LoadDashboard();
        Assert.Equal("support-gateway", dashboard.RootElement.GetProperty("uid").GetString());
        var ids = dashboard.RootElement.GetProperty("panels").EnumerateArray().Select(p => p.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());

        var used = new HashSet<string>(StringComparer.Ordinal);
        var problems = new List<string>();
        var panels = QueryPanels(dashboard).ToList();
        Assert.NotEmpty(panels);
        foreach (var (title, panel) in panels)
        {
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            if (targets.Count == 0)
            {
                problems.Add($"{title}: no query");
            }

            foreach (var expr in targets.Select(t => t.GetProperty("expr").GetString() ?? ""))
            {
                foreach (var problem in MetricNames(expr, used))
                {
                    problems.Add($"{title}: {problem} in '{expr}'");
                }
            }
        }

        Assert.Empty(problems);
        Assert.Equal(GatewayMetrics.Order(StringComparer.Ordinal), used.Order(StringComparer.Ordinal));

        // The queries the dashboard promises, as written.
        var exprs = panels.SelectMany(p => p.Panel.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString())).ToList();
        Assert.Contains("sum by (gateway_support_decision, gateway_support_code) (rate(gateway_support_requests_total[5m]))", exprs);
        Assert.Contains("histogram_quantile(0.99, sum by (le) (rate(gateway_grant_store_duration_seconds_bucket[5m])))", exprs);
        Assert.Contains(exprs, e => e!.Contains("by (gateway_audit_state)", StringComparison.Ordinal) && e.Contains("rate(gateway_audit_events_total[5m])", StringComparison.Ordinal));
        Assert.Contains(exprs, e => e!.Contains("by (gateway_config_outcome)", StringComparison.Ordinal) && e.Contains("gateway_config_reloads_total", StringComparison.Ordinal));
    }

    [Fact]
    public void The_metric_name_check_catches_an_unknown_series()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        Assert.Empty(MetricNames("sum by (gateway_support_decision) (rate(gateway_support_requests_total{gateway_support_code=\"x\"}[5m]))", used));
        Assert.Equal(["gateway_support_requests_total"], used);

        Assert.NotEmpty(MetricNames("rate(gateway_support_request_total[5m])", used));
        Assert.NotEmpty(MetricNames("sum(http_server_request_duration_seconds_count)", used));
        Assert.NotEmpty(MetricNames("label_replace(gateway_audit_queue_length, \"a\", \"b\", \"c\", \"d\")", used));
    }

    /// <summary>
    /// Every series the provisioned dashboard queries, read from its expressions (what is not a
    /// function, a label or a range): a real gateway's scrape must contain each of them
    /// (Telemetry/MetricsScrapeTests).
    /// </summary>
    internal static IReadOnlySet<string> DashboardSeries()
    {
        using var dashboard = LoadDashboard();
        var series = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, panel) in QueryPanels(dashboard))
        {
            foreach (var expr in panel.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString() ?? ""))
            {
                var stripped = StringLiteral().Replace(Range().Replace(Selector().Replace(Grouping().Replace(expr, " "), " "), " "), " ");
                foreach (Match match in Identifier().Matches(stripped))
                {
                    if (!stripped[(match.Index + match.Length)..].TrimStart().StartsWith('('))
                    {
                        series.Add(match.Value);
                    }
                }
            }
        }

        return series;
    }

    /// <summary>The series an expression selects, added to <paramref name="used"/>; the problems found.</summary>
    private static IEnumerable<string> MetricNames(string expr, HashSet<string> used)
    {
        if (expr.Count(c => c == '(') != expr.Count(c => c == ')'))
        {
            yield return "unbalanced parentheses";
        }

        // Label names appear in grouping clauses and selectors, durations in ranges: drop those.
        var stripped = Grouping().Replace(expr, " ");
        stripped = Selector().Replace(stripped, " ");
        stripped = Range().Replace(stripped, " ");
        stripped = StringLiteral().Replace(stripped, " ");
        foreach (Match match in Identifier().Matches(stripped))
        {
            var name = match.Value;
            var isCall = stripped[(match.Index + match.Length)..].TrimStart().StartsWith('(');
            if (isCall)
            {
                if (!PromQlFunctions.Contains(name))
                {
                    yield return $"unexpected function '{name}'";
                }
            }
            else if (GatewayMetrics.Contains(name))
            {
                used.Add(name);
            }
            else
            {
                yield return $"'{name}' is not a gateway metric";
            }
        }
    }

    private static IEnumerable<(string Title, JsonElement Panel)> QueryPanels(JsonDocument dashboard) =>
        dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.GetProperty("type").GetString() != "row")
            .Select(p => (p.GetProperty("title").GetString() ?? "", p));

    private static JsonDocument LoadDashboard() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(GrafanaDir, "dashboards", "gateway.json")));

    private static YamlMappingNode LoadYaml(string path)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(path)));
        return Assert.IsType<YamlMappingNode>(Assert.Single(stream.Documents).RootNode);
    }

    [GeneratedRegex(@"\b(by|without)\s*\([^)]*\)")]
    private static partial Regex Grouping();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex Selector();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex Range();

    [GeneratedRegex(@"""[^""]*""")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*")]
    private static partial Regex Identifier();
}
