// Baseline "B" of bench/run.sh: a bare YARP host. It loads the ReverseProxy section of the
// gateway's routes file with YARP's own LoadFromConfig, so routes, clusters and forwarder
// settings are the gateway's, and adds nothing else: no tenant resolution, no support
// logins, no transforms of ours, no audit, no logging per request.
//
//   dotnet BareYarp.dll --routes config/routes.json --urls http://127.0.0.1:9001 \
//       --ReverseProxy:Clusters:acme:Destinations:primary:Address=http://127.0.0.1:9000/
//
// Later sources win, as in the gateway: the routes file, then environment variables, then
// the command line (so cluster addresses are overridden the same way for both).

var commandLine = new ConfigurationBuilder().AddCommandLine(args).Build();
var routesFile = commandLine["routes"] ?? throw new ArgumentException("--routes PATH (the gateway's routes.json) is required.");

// CreateBuilder, as the gateway, so the hosting defaults are the same on both sides.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args });
builder.Configuration.Sources.Clear();
builder.Configuration
    .AddJsonFile(Path.GetFullPath(routesFile), optional: false, reloadOnChange: false)
    .AddEnvironmentVariables()
    .AddCommandLine(args);

builder.Logging.ClearProviders().AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    // As the gateway's Kestrel: no Server header, no request body limit of the proxy's own.
    kestrel.AddServerHeader = false;
    kestrel.Limits.MaxRequestBodySize = null;
});

builder.Services.AddReverseProxy().LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"));

var app = builder.Build();
app.MapReverseProxy();
app.Run();
