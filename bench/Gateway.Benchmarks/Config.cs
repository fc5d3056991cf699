using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;

namespace Gateway.Benchmarks;

/// <summary>Every benchmark here reports allocations: bytes per request are one of issue 7's targets.</summary>
internal sealed class GatewayBenchmarkConfig : ManualConfig
{
    public GatewayBenchmarkConfig()
    {
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}

/// <summary>A clock that stands still, so a cached grant never ages out in the middle of a run.</summary>
internal sealed class FrozenTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
