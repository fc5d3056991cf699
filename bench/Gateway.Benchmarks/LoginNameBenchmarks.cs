using BenchmarkDotNet.Attributes;
using Gateway.Authentication;

namespace Gateway.Benchmarks;

/// <summary>
/// <see cref="SupportLoginNames.Parse"/>: runs on every request carrying HTTP Basic credentials
/// (support or not), before anything else is decided.
/// </summary>
[Config(typeof(GatewayBenchmarkConfig))]
public class LoginNameBenchmarks
{
    [Benchmark(Baseline = true, Description = "Parse jill$john")]
    public bool SupportLogin() => SupportLoginNames.Parse("jill$john", "acme").Status == SupportLoginParseStatus.Valid;

    [Benchmark(Description = "Parse acme/jill$john")]
    public bool PrefixedSupportLogin() => SupportLoginNames.Parse("acme/jill$john", "acme").Status == SupportLoginParseStatus.Valid;

    [Benchmark(Description = "Parse john (ordinary login)")]
    public bool OrdinaryLogin() => SupportLoginNames.Parse("john", "acme").Status == SupportLoginParseStatus.NotSupportLogin;

    [Benchmark(Description = "Parse ｊｉｌｌ＄ｊｏｈｎ (NFKC folds)")]
    public bool FullWidthSupportLogin() => SupportLoginNames.Parse("ｊｉｌｌ＄ｊｏｈｎ", "acme").Status == SupportLoginParseStatus.Valid;
}
