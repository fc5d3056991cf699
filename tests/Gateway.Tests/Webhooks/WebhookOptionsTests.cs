using Gateway.Hosting;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Webhooks;

/// <summary>The Webhooks section is bound strictly: a typo or a value out of range stops start-up, naming the key.</summary>
public sealed class WebhookOptionsTests : IDisposable
{
    private readonly TempConfigDirectory _config = new();

    [Theory]
    [InlineData("--Webhooks:AllowPrivateTarget=true", "AllowPrivateTarget")]
    [InlineData("--Webhooks:AttemptTimeout=00:10:00", "Webhooks:AttemptTimeout:")]
    [InlineData("--Webhooks:AllowedPrivateNetworks:0=10.0.0.0/33", "Webhooks:AllowedPrivateNetworks:0:")]
    [InlineData("--Webhooks:LeaseDuration=00:00:15", "Webhooks:LeaseDuration:")]
    [InlineData("--Webhooks:MaxPerTenant=0", "Webhooks:MaxPerTenant:")]
    [InlineData("--Webhooks:MaxRetryDelay=00:00:01", "Webhooks:MaxRetryDelay:")]
    public async Task BadSetting_StopsStartup_NamingTheKey(string setting, string named)
    {
        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(() => GatewayHost.StartAsync(_config, new Dictionary<string, Uri>(), [setting]));

        Assert.Contains(error.Errors, e => e.Contains(named, StringComparison.Ordinal));
    }

    public void Dispose() => _config.Dispose();
}
