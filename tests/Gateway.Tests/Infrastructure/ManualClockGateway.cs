using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A gateway (in-memory grants) on a <see cref="TimerCountingTimeProvider"/> in front of one sample
/// app serving both tenants: for tests where the gateway's time moves only when they say so.
/// </summary>
internal sealed class ManualClockGateway : IAsyncDisposable
{
    private ManualClockGateway(TimerCountingTimeProvider clock, SampleBackend backend, GatewayHost gateway)
    {
        Clock = clock;
        Backend = backend;
        Gateway = gateway;
        Api = new ManagementClient(gateway);
    }

    public TimerCountingTimeProvider Clock { get; }

    public SampleBackend Backend { get; }

    public GatewayHost Gateway { get; }

    public ManagementClient Api { get; }

    public static async Task<ManualClockGateway> StartAsync()
    {
        var clock = new TimerCountingTimeProvider(TestClock.Start);
        var backend = await SampleBackend.StartAsync("acme");
        var gateway = await GatewayHost.StartAsync(
            null,
            new Dictionary<string, Uri> { ["acme"] = backend.Address, ["globex"] = backend.Address },
            configure: builder => builder.Services.AddSingleton<TimeProvider>(clock));
        return new ManualClockGateway(clock, backend, gateway);
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Backend.DisposeAsync();
    }
}
