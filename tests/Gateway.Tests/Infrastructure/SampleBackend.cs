using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using SampleTenantApp;

namespace Gateway.Tests.Infrastructure;

/// <summary>A real sample tenant app on Kestrel, on a free loopback port.</summary>
internal sealed class SampleBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SampleBackend(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public SampleAppHits Hits => _app.Services.GetRequiredService<SampleAppHits>();

    public static async Task<SampleBackend> StartAsync(string name, string? supportAccessToken = null)
    {
        var app = SampleApp.Create(new SampleAppOptions { Name = name, Urls = ["http://127.0.0.1:0"], SupportAccessToken = supportAccessToken });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new SampleBackend(app, new Uri(address + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
