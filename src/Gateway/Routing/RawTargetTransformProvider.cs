using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Gateway.Routing;

/// <summary>
/// Forwards the request target exactly as the client sent it (path and query, percent-encoding
/// untouched) on routes that do not rewrite the path or query. YARP's default rebuilds the
/// target from the decoded <see cref="HttpRequest.Path"/>, which turns <c>%2541</c> into
/// <c>%41</c>: the backend would then see a different path than the client sent, and than the
/// gateway's policy looked at.
/// </summary>
internal sealed class RawTargetTransformProvider : ITransformProvider
{
    private static readonly UriCreationOptions Verbatim = new() { DangerousDisablePathAndQueryCanonicalization = true };

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        if (!RouteConfigLoader.RewritesPathOrQuery(context.Route))
        {
            context.AddRequestTransform(ForwardRawTarget);
        }
    }

    private static ValueTask ForwardRawTarget(RequestTransformContext context)
    {
        var rawTarget = context.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;

        // Only origin-form targets ("/path?query"); absolute-form and asterisk-form keep YARP's handling.
        if (string.IsNullOrEmpty(rawTarget) || rawTarget[0] != '/' || context.HttpContext.Request.PathBase.HasValue)
        {
            return ValueTask.CompletedTask;
        }

        var prefix = context.DestinationPrefix.EndsWith('/') ? context.DestinationPrefix[..^1] : context.DestinationPrefix;
        if (Uri.TryCreate(prefix + rawTarget, Verbatim, out var uri))
        {
            context.ProxyRequest.RequestUri = uri;
        }

        return ValueTask.CompletedTask;
    }
}
