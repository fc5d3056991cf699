using BenchmarkDotNet.Attributes;
using Gateway.Grants;
using Gateway.Policy;
using Gateway.Routing;
using Microsoft.AspNetCore.Http;

namespace Gateway.Benchmarks;

/// <summary>
/// <see cref="SupportPolicy.Decide(RouteClass, string, SupportAccess)"/>: the isolation decision
/// every support request gets, here under the benchmark's deny-config grant.
/// </summary>
[Config(typeof(GatewayBenchmarkConfig))]
public class PolicyDecisionBenchmarks
{
    private SupportAccess _access = null!;

    [GlobalSetup]
    public void Setup()
    {
        var until = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
        _access = new SupportAccess(
            "acme",
            [new SupportAccessEntry(SupportAccessSource.Grant, GrantId.New(), DenyData: false, DenyConfig: true, until, Grantor: null)],
            DeniedBy: null);
    }

    [Benchmark(Baseline = true, Description = "Decide: data route, GET (allowed)")]
    public bool DataRead() => SupportPolicy.Decide(RouteClass.Data, HttpMethods.Get, _access).Allowed;

    [Benchmark(Description = "Decide: config route, PUT (denied by denyConfig)")]
    public bool ConfigWrite() => SupportPolicy.Decide(RouteClass.Config, HttpMethods.Put, _access).Allowed;

    [Benchmark(Description = "Decide: forbidden route (denied)")]
    public bool Forbidden() => SupportPolicy.Decide(RouteClass.Forbidden, HttpMethods.Get, _access).Allowed;
}
