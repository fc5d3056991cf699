using Gateway.Policy;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Model;

namespace Gateway.Routing;

/// <summary>What the gateway's routing selects for one request, without serving it.</summary>
internal sealed record ResolvedRoute(string? RouteId, SupportRoutePolicy? Policy, bool IsGatewayEndpoint);

/// <summary>
/// Answers "which endpoint would the gateway select for this host, method, path, query and
/// headers?" with the gateway's own routing: the same endpoint data sources (YARP's routes of
/// the configuration in force and the gateway's endpoints), the same matcher policies (host,
/// HTTP method, YARP's header and query conditions), the same ordering and precedence. Explain
/// and replay use it, so they cannot disagree with what live traffic gets.
/// </summary>
internal sealed class GatewayRouteResolver(IServiceProvider services)
{
    private RequestDelegate? _routing;

    /// <summary>Builds the routing step over the application's endpoints; called once the endpoints are mapped.</summary>
    public void Attach(IEndpointRouteBuilder application)
    {
        var builder = new ApplicationBuilder(services);
        // UseRouting takes the endpoint route builder published under this key (as WebApplication
        // does for itself), so the matcher is built over exactly the application's data sources.
        builder.Properties["__GlobalEndpointRouteBuilder"] = new SharedEndpoints(application);
        builder.UseRouting();
        builder.Run(static _ => Task.CompletedTask);
        _routing = builder.Build();
    }

    /// <param name="path">The path as the server decodes it for routing (see <see cref="RequestAmbiguity.DecodedPath"/>).</param>
    public async Task<ResolvedRoute?> ResolveAsync(string host, string method, string path, QueryString query, IHeaderDictionary? headers, CancellationToken cancellationToken)
    {
        var routing = _routing ?? throw new InvalidOperationException("The route resolver is not attached to the application's endpoints.");
        var context = new DefaultHttpContext { RequestServices = services };
        context.Features.Set<IHttpRequestLifetimeFeature>(new Lifetime(cancellationToken));
        var request = context.Request;
        request.Scheme = "http";
        request.Host = new HostString(host);
        request.Method = method;
        request.Path = new PathString(path);
        request.QueryString = query;
        if (headers is not null)
        {
            foreach (var (name, value) in headers)
            {
                request.Headers[name] = value;
            }
        }

        await routing(context);
        var endpoint = context.GetEndpoint();
        if (endpoint is null)
        {
            return null;
        }

        var route = endpoint.Metadata.GetMetadata<RouteModel>();
        return new ResolvedRoute(route?.Config.RouteId, endpoint.Metadata.GetMetadata<SupportRoutePolicy>(), route is null);
    }

    private sealed class SharedEndpoints(IEndpointRouteBuilder application) : IEndpointRouteBuilder
    {
        public IServiceProvider ServiceProvider => application.ServiceProvider;

        public ICollection<EndpointDataSource> DataSources => application.DataSources;

        public IApplicationBuilder CreateApplicationBuilder() => application.CreateApplicationBuilder();
    }

    private sealed class Lifetime(CancellationToken aborted) : IHttpRequestLifetimeFeature
    {
        public CancellationToken RequestAborted { get; set; } = aborted;

        public void Abort()
        {
        }
    }
}
