using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Hosting;

public sealed class LoggingTests(TestEnvironment env) : IClassFixture<TestEnvironment>
{
    [Fact]
    public async Task ProxiedRequests_LogNothingAtInformationOrAbove()
    {
        using var client = env.Gateway.Client();
        using (var warmUp = await client.GetAsync("/api/orders"))
        {
            warmUp.EnsureSuccessStatusCode();
        }

        env.Gateway.Logs.Clear();
        foreach (var path in new[] { "/api/orders", "/api/settings", "/api/echo/x", "/", "/status/404", "/status/500", "/download?bytes=10" })
        {
            for (var i = 0; i < 5; i++)
            {
                using var response = await client.GetAsync(path);
                await response.Content.ReadAsByteArrayAsync();
            }
        }

        Assert.DoesNotContain(env.Gateway.Logs.Entries, e => e.Level >= LogLevel.Information);
    }

    [Fact]
    public void RollingFile_ReceivesTheStartupLog()
    {
        var file = Assert.Single(Directory.GetFiles(env.Gateway.Config.LogDirectory, "gateway-*.log"));
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var text = new StreamReader(stream).ReadToEnd();

        Assert.Contains("Route configuration revision 1 in force", text, StringComparison.Ordinal);
    }
}
