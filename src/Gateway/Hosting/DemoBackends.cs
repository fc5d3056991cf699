using Microsoft.Extensions.Options;
using SampleTenantApp;

namespace Gateway.Hosting;

/// <summary>Sample tenant apps the demo hosts in-process (section <c>Gateway:Demo</c>).</summary>
internal sealed class DemoOptions
{
    public const string SectionName = "Gateway:Demo";

    /// <summary>Start the sample apps with the gateway. Off in production (refused there).</summary>
    public bool HostSampleApps { get; init; }

    /// <summary>Sample app name → URL it listens on; the routes' clusters point at these.</summary>
    public Dictionary<string, string> SampleApps { get; init; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Lets a configuration that trusts demo material listen beyond loopback: only for a demo
    /// container whose port the host publishes on 127.0.0.1. Never in production.
    /// </summary>
    public bool AllowNonLoopback { get; init; }

    /// <summary>
    /// Sample app name → a management token (from the <c>token</c> verb) its home page gives the
    /// <c>&lt;support-access&gt;</c> web component in its header. Absent: the component links to the pages.
    /// </summary>
    public Dictionary<string, string> SupportAccessTokens { get; init; } = new(StringComparer.Ordinal);
}

internal sealed class DemoOptionsValidator(IConfiguration configuration) : IValidateOptions<DemoOptions>
{
    public ValidateOptionsResult Validate(string? name, DemoOptions options)
    {
        var failures = new List<string>();
        if (options.AllowNonLoopback && configuration.GetValue<bool>("Gateway:Production"))
        {
            failures.Add("Gateway:Demo:AllowNonLoopback: a demo switch; refused in a configuration marked Gateway:Production.");
        }

        if (!options.HostSampleApps)
        {
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }

        if (configuration.GetValue<bool>("Gateway:Production"))
        {
            failures.Add("Gateway:Demo:HostSampleApps: the demo sample apps cannot run in a configuration marked Gateway:Production.");
        }

        foreach (var (app, url) in options.SampleApps)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
            {
                failures.Add($"Gateway:Demo:SampleApps:{app}: '{url}' is not an http:// URL.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Starts the demo's sample tenant apps before the gateway takes traffic, and stops them with it.</summary>
internal sealed partial class DemoBackendsService(IOptions<DemoOptions> options, ILogger<DemoBackendsService> logger) : IHostedService
{
    private readonly List<WebApplication> _apps = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.HostSampleApps)
        {
            return;
        }

        foreach (var (name, url) in options.Value.SampleApps)
        {
            var app = SampleApp.Create(new SampleAppOptions { Name = name, Urls = [url], SupportAccessToken = options.Value.SupportAccessTokens.GetValueOrDefault(name) });
            await app.StartAsync(cancellationToken);
            _apps.Add(app);
            LogStarted(logger, name, url);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var app in _apps)
        {
            await app.StopAsync(cancellationToken);
            await app.DisposeAsync();
        }

        _apps.Clear();
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Demo sample app '{Name}' listening on {Url}")]
    private static partial void LogStarted(ILogger logger, string name, string url);
}
