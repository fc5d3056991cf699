using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A gateway (in-memory grants) on a <see cref="ManualTimeProvider"/> in front of one sample
/// app serving both tenants: for tests where the gateway's time moves only when they say so.
/// </summary>
internal sealed class ManualClockGateway : IAsyncDisposable
{
    private ManualClockGateway(ManualTimeProvider clock, SampleBackend backend, GatewayHost gateway)
    {
        Clock = clock;
        Backend = backend;
        Gateway = gateway;
        Api = new ManagementClient(gateway);
    }

    public ManualTimeProvider Clock { get; }

    public SampleBackend Backend { get; }

    public GatewayHost Gateway { get; }

    public ManagementClient Api { get; }

    public static async Task<ManualClockGateway> StartAsync()
    {
        var clock = new ManualTimeProvider();
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
