using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Gateway.Pages.Ui;
using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.Pages;

/// <summary>
/// The gateway's pages for support engineers (Razor Pages under <c>Pages/</c>, served on every
/// tenant host under <c>/_gateway/support/</c>) and their stylesheets under <c>/_gateway/assets/</c>.
/// </summary>
internal static class SupportPagesExtensions
{
    public static IServiceCollection AddSupportPages(this IServiceCollection services)
    {
        // The pages live in the gateway's assembly, whichever process hosts it (tests, the CLI).
        services.AddRazorPages(options => options.RootDirectory = "/Pages")
            .ConfigureApplicationPartManager(parts =>
            {
                var assembly = typeof(SupportPagesExtensions).Assembly;
                if (!parts.ApplicationParts.OfType<Microsoft.AspNetCore.Mvc.ApplicationParts.AssemblyPart>().Any(p => p.Assembly == assembly))
                {
                    // The assembly part and the compiled Razor part (the pages themselves).
                    var factory = Microsoft.AspNetCore.Mvc.ApplicationParts.ApplicationPartFactory.GetApplicationPartFactory(assembly);
                    foreach (var part in factory.GetApplicationParts(assembly))
                    {
                        parts.ApplicationParts.Add(part);
                    }
                }
            });
        services.AddAntiforgery(options =>
        {
            // The gateway's own cookie, sent only to its pages: it must not reach (or clash with) a
            // tenant app's antiforgery cookie on the same host.
            options.Cookie.Name = "sgw_antiforgery";
            // The support pages and the self-service pages (/_gateway/ui) share it.
            options.Cookie.Path = "/_gateway";
            options.Cookie.SameSite = SameSiteMode.Strict;
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.FormFieldName = "__sgw_af";
            options.HeaderName = null;
        });
        // What the gateway hands browsers (page cookies, OIDC state and correlation, antiforgery
        // tokens) is protected under Secrets:EncryptionKey: every instance with the key reads it, a
        // restart signs nobody out, and no key ring is stored. Without a configured key (the demo,
        // whose key is public) the keys live in memory (docs/pages.md).
        services.AddDataProtection();
        // ASP.NET Core's own key ring still starts (antiforgery and authentication register it) and
        // makes a key nothing uses: it stays in memory, never in a directory such as ~/.aspnet.
        services.Configure<KeyManagementOptions>(options => options.XmlRepository = new UnusedKeyRing());
        services.Replace(ServiceDescriptor.Singleton<IDataProtectionProvider>(sp =>
        {
            var configured = sp.GetRequiredService<IOptions<Gateway.Authentication.SecretsOptions>>().Value.EncryptionKey;
            return !string.IsNullOrWhiteSpace(configured)
                && Gateway.Authentication.SecretProtector.TryDecodeKey(configured, out var key)
                && !CryptographicOperations.FixedTimeEquals(key, Gateway.Authentication.SecretProtector.DemoKey)
                ? new SecretDataProtectionProvider(key)
                : new EphemeralDataProtectionProvider(sp.GetRequiredService<ILoggerFactory>());
        }));
        services.AddSingleton<MatcherPolicy, SupportPageMatcherPolicy>();
        services.AddPageSignIn();
        return services;
    }

    /// <summary>Maps the pages ahead of every proxy route, and the stylesheets on the reserved prefix.</summary>
    public static void MapSupportPages(this WebApplication app, RouteGroupBuilder gateway)
    {
        gateway.MapGet("/assets/{name}", GatewayAssets.Serve);
        // The <support-access> web component for tenant apps' own pages (same origin through the gateway).
        gateway.MapGet("/ui/embed/support-access.js", (HttpContext http) => GatewayAssets.Serve("support-access.js", http));
        app.MapRazorPages().Add(endpoint =>
        {
            if (endpoint is RouteEndpointBuilder route)
            {
                route.Order = int.MinValue;
            }

            endpoint.Metadata.Add(SupportPageEndpoint.Instance);
        });
    }
}

/// <summary>Marks the endpoints of the support pages (see <see cref="SupportPageMatcherPolicy"/>).</summary>
internal sealed class SupportPageEndpoint
{
    public static readonly SupportPageEndpoint Instance = new();
}

/// <summary>
/// <c>POST /_gateway/support/login</c> (and <c>/logout</c>) are both an API endpoint (JSON, bearer)
/// and a page's form post. The body's media type decides: a form post goes to the page, anything
/// else to the API endpoint, which answers problem+json as before (415 for a wrong media type).
/// </summary>
internal sealed class SupportPageMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    public override int Order => 0;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) =>
        endpoints.Any(e => e.Metadata.GetMetadata<SupportPageEndpoint>() is not null);

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        var request = httpContext.Request;
        var toPage = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || request.HasFormContentType;
        var pageCandidate = false;
        for (var i = 0; i < candidates.Count; i++)
        {
            pageCandidate |= candidates.IsValidCandidate(i) && candidates[i].Endpoint.Metadata.GetMetadata<SupportPageEndpoint>() is not null;
        }

        if (!pageCandidate)
        {
            return Task.CompletedTask;
        }

        for (var i = 0; i < candidates.Count; i++)
        {
            if (!candidates.IsValidCandidate(i))
            {
                continue;
            }

            var isPage = candidates[i].Endpoint.Metadata.GetMetadata<SupportPageEndpoint>() is not null;
            // A form post or a GET: the page (and not the reserved prefix's 404 fallback); otherwise
            // every other candidate (the API endpoint, or the fallback's 404 problem).
            candidates.SetValidity(i, isPage == toPage);
        }

        return Task.CompletedTask;
    }
}

/// <summary>The stylesheets of the pages and the support banner, and the pages' script files, embedded in the binary.</summary>
internal static class GatewayAssets
{
    private static readonly FrozenDictionary<string, (byte[] Bytes, string ETag)> Files = Load();

    public static IResult Serve(string name, HttpContext http)
    {
        if (!Files.TryGetValue(name, out var file))
        {
            return Problems.GatewayProblem.Create(Problems.ProblemCode.NotFound);
        }

        http.Response.Headers.CacheControl = "public, max-age=3600";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        http.Response.Headers.ETag = file.ETag;
        if (http.Request.Headers.IfNoneMatch == file.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(file.Bytes, name.EndsWith(".js", StringComparison.Ordinal) ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8");
    }

    private static FrozenDictionary<string, (byte[] Bytes, string ETag)> Load()
    {
        const string prefix = "Gateway.Assets.";
        var assembly = typeof(GatewayAssets).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            files[resource[prefix.Length..]] = (bytes, "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..16] + "\"");
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}

/// <summary>
/// Where ASP.NET Core's key ring keeps the keys it makes at start: in memory. The gateway protects
/// with <see cref="SecretDataProtectionProvider"/> (or ephemeral keys in the demo), never with them.
/// </summary>
internal sealed class UnusedKeyRing : IXmlRepository
{
    private readonly List<System.Xml.Linq.XElement> _elements = [];
    private readonly Lock _lock = new();

    public IReadOnlyCollection<System.Xml.Linq.XElement> GetAllElements()
    {
        lock (_lock)
        {
            return [.. _elements.Select(e => new System.Xml.Linq.XElement(e))];
        }
    }

    public void StoreElement(System.Xml.Linq.XElement element, string friendlyName)
    {
        lock (_lock)
        {
            _elements.Add(new System.Xml.Linq.XElement(element));
        }
    }
}
