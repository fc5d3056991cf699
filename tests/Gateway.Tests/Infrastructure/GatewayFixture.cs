namespace Gateway.Tests.Infrastructure;

/// <summary>One gateway in front of two real sample tenant apps, shared by a test class.</summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    internal SampleBackend Acme { get; private set; } = null!;

    internal SampleBackend Globex { get; private set; } = null!;

    internal GatewayHost Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Acme = await SampleBackend.StartAsync("acme");
        Globex = await SampleBackend.StartAsync("globex");
        Gateway = await GatewayHost.StartAsync(new Dictionary<string, Uri>
        {
            ["acme"] = Acme.Address,
            ["globex"] = Globex.Address,
        });
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Acme.DisposeAsync();
        await Globex.DisposeAsync();
    }
}
