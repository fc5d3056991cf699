namespace Gateway.Hosting;

/// <summary>
/// An optional second listener for operators (<c>Gateway:ManagementUrls</c>, e.g.
/// <c>http://127.0.0.1:9091</c>): the metrics scrape endpoint and readiness with every
/// dependency's details, without a token, for a port that is not exposed to tenants. It serves
/// nothing else (no proxying). On the tenant-facing listener the same details need a
/// platform-admin token.
/// </summary>
internal sealed class ManagementListener
{
    public const string SettingKey = "Gateway:ManagementUrls";

    private readonly HashSet<int> _ports;

    public ManagementListener(IConfiguration configuration)
    {
        Urls = Parse(configuration[SettingKey], out var errors);
        Errors = errors;
        _ports = [.. Urls.Select(u => u.Port)];
    }

    public IReadOnlyList<Uri> Urls { get; }

    public IReadOnlyList<string> Errors { get; }

    public bool Enabled => Urls.Count > 0;

    /// <summary>True when the request came in on the management listener.</summary>
    public bool IsManagementRequest(HttpContext context) => _ports.Count > 0 && _ports.Contains(context.Connection.LocalPort);

    private static List<Uri> Parse(string? value, out List<string> errors)
    {
        errors = [];
        var urls = new List<Uri>();
        foreach (var text in (value ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // Kestrel's wildcard hosts ('+', '*') are not URI hosts: read them as any address.
            var parsable = text.Replace("://+:", "://0.0.0.0:", StringComparison.Ordinal).Replace("://*:", "://0.0.0.0:", StringComparison.Ordinal);
            if (!Uri.TryCreate(parsable, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.IsDefaultPort || uri.Port == 0
                || uri.AbsolutePath != "/")
            {
                errors.Add($"{SettingKey}: '{text}' is not an http(s) address with an explicit, non-zero port and no path.");
                continue;
            }

            urls.Add(uri);
        }

        return urls;
    }
}

/// <summary>Keeps the management listener to its own endpoints: anything else there is 404, never proxied.</summary>
internal sealed class ManagementListenerMiddleware(RequestDelegate next, ManagementListener listener)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (listener.IsManagementRequest(context)
            && !context.Request.Path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase)
            && !context.Request.Path.StartsWithSegments("/_gateway/health", StringComparison.OrdinalIgnoreCase))
        {
            return Problems.GatewayProblem.Create(Problems.ProblemCode.NotFound).WriteAsync(context);
        }

        return next(context);
    }
}
