using System.Buffers;
using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace SampleTenantApp;

/// <summary>Long-lived connections: WebSocket echo on <c>/ws</c>, server-sent events on <c>/events</c>.</summary>
internal static class Realtime
{
    private const int WebSocketBufferSize = 16 * 1024;
    private const int DefaultIntervalMs = 1000;
    private const int MinIntervalMs = 10;
    private const int MaxIntervalMs = 10_000;

    public static IEndpointRouteBuilder MapRealtime(this IEndpointRouteBuilder routes)
    {
        // Map, not MapGet: WebSockets over HTTP/2 arrive as extended CONNECT.
        routes.Map("/ws", WebSocketEchoAsync);
        routes.MapGet("/events", EventsAsync);
        return routes;
    }

    private static async Task WebSocketEchoAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await Problems.BadRequest("websocket_required", "This endpoint only accepts WebSocket requests.").ExecuteAsync(context);
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = ArrayPool<byte>.Shared.Rent(WebSocketBufferSize);
        try
        {
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    // Echo the client's close status back to complete the handshake.
                    var status = socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure;
                    var description = status == WebSocketCloseStatus.Empty ? null : socket.CloseStatusDescription;
                    await socket.CloseAsync(status, description, cancellationToken);
                    return;
                }

                // Frame by frame, so fragmented messages come back fragmented the same way.
                await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, cancellationToken);
            }
        }
        catch (WebSocketException) when (socket.State is WebSocketState.Aborted or WebSocketState.Closed || cancellationToken.IsCancellationRequested)
        {
            // The client went away without a close handshake.
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task EventsAsync(HttpContext context, SampleAppOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var intervalMs = DefaultIntervalMs;
        var intervalText = context.Request.Query["interval"];
        if (intervalText.Count > 0)
        {
            if (intervalText.Count > 1 || !int.TryParse(intervalText[0], NumberStyles.None, CultureInfo.InvariantCulture, out intervalMs))
            {
                await Problems.BadRequest("invalid_interval", "interval must be a whole number of milliseconds.").ExecuteAsync(context);
                return;
            }

            intervalMs = Math.Clamp(intervalMs, MinIntervalMs, MaxIntervalMs);
        }

        // A reconnecting EventSource resumes after the last id it saw.
        var n = long.TryParse(context.Request.Headers["Last-Event-ID"], NumberStyles.None, CultureInfo.InvariantCulture, out var lastId)
            && lastId < long.MaxValue ? lastId + 1 : 1;

        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var app = JsonEncodedText.Encode(options.Name).ToString();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(intervalMs), time);
        try
        {
            // First event immediately, then one per tick until the client leaves.
            do
            {
                await response.WriteAsync(
                    string.Create(CultureInfo.InvariantCulture, $"id: {n}\ndata: {{\"n\":{n},\"app\":\"{app}\"}}\n\n"),
                    cancellationToken);
                await response.Body.FlushAsync(cancellationToken);
                n++;
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
