using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Gateway.Routing;

/// <summary>
/// RFC 9110 §7.6.1: a proxy removes every header that the <c>Connection</c> header names, in
/// both directions. YARP drops the fixed hop-by-hop set but not the names a peer lists, so a
/// client could otherwise pass a header the gateway means to own ("Connection: X-Foo").
/// Runs first, so it only ever removes what the peer sent, never what the gateway adds later.
/// </summary>
internal sealed class ConnectionHeaderTransformProvider : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        context.RequestTransforms.Insert(0, new RequestFuncTransform(StripRequest));
        context.ResponseTransforms.Insert(0, new ResponseFuncTransform(StripResponse));
    }

    private static ValueTask StripRequest(RequestTransformContext context)
    {
        var connection = context.HttpContext.Request.Headers.Connection;
        if (connection.Count == 0)
        {
            return ValueTask.CompletedTask;
        }

        foreach (var name in Tokens(connection))
        {
            // The upgrade handshake (WebSocket) is YARP's to forward; keep-alive/close are connection options.
            if (name.Equals("upgrade", StringComparison.OrdinalIgnoreCase)
                || name.Equals("keep-alive", StringComparison.OrdinalIgnoreCase)
                || name.Equals("close", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            context.ProxyRequest.Headers.Remove(name);
            context.ProxyRequest.Content?.Headers.Remove(name);
        }

        return ValueTask.CompletedTask;
    }

    private static ValueTask StripResponse(ResponseTransformContext context)
    {
        var connection = context.ProxyResponse?.Headers.Connection;
        if (connection is null || connection.Count == 0)
        {
            return ValueTask.CompletedTask;
        }

        foreach (var name in connection)
        {
            if (!name.Equals("upgrade", StringComparison.OrdinalIgnoreCase))
            {
                context.HttpContext.Response.Headers.Remove(name);
            }
        }

        return ValueTask.CompletedTask;
    }

    private static IEnumerable<string> Tokens(StringValues values)
    {
        foreach (var value in values)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var token in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                yield return token;
            }
        }
    }
}
