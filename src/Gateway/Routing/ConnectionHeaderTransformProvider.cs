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
    /// <summary>
    /// Headers a request may not name as hop-by-hop: its framing (length, encoding, expectation),
    /// its host and its credentials. Removing them would change what the request is or who sends
    /// it, so such a request is refused (400) before anything is forwarded.
    /// </summary>
    public static readonly HashSet<string> Unremovable = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Transfer-Encoding", "TE", "Expect", "Content-Type", "Authorization", "Cookie",
    };

    private static readonly HashSet<string> ContentHeaderNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "Allow", "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Location",
        "Content-MD5", "Content-Range", "Content-Type", "Expires", "Last-Modified",
    };

    /// <summary>The first name in <c>Connection</c> that may not be removed, if any.</summary>
    public static string? FirstUnremovable(StringValues connection)
    {
        foreach (var name in Tokens(connection))
        {
            if (Unremovable.Contains(name))
            {
                return name;
            }
        }

        return null;
    }

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

            // Content headers live on the content, the others on the request; asking either
            // collection for the other's names throws, so each name goes to its own.
            if (ContentHeaderNames.Contains(name))
            {
                context.ProxyRequest.Content?.Headers.Remove(name);
            }
            else if (HeaderDescriptorIsValid(name))
            {
                context.ProxyRequest.Headers.Remove(name);
            }
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

    /// <summary>A token a header collection accepts as a name (anything else could never have been sent as one).</summary>
    private static bool HeaderDescriptorIsValid(string name) =>
        name.Length > 0 && !name.AsSpan().ContainsAnyExcept(TokenChars);

    private static readonly System.Buffers.SearchValues<char> TokenChars =
        System.Buffers.SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

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
