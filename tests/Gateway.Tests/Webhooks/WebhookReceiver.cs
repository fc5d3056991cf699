using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Webhooks;

/// <summary>
/// A webhook receiver as a tenant would run one: a real Kestrel server on loopback that takes
/// POSTs at <c>/hooks</c>, checks each signature with the secret it was given (the Standard Webhooks
/// verification written from the specification, not the gateway's code), and answers as the test
/// says: a status per request, or nothing until released (a slow receiver). Tests wait on its
/// signals: <see cref="WaitForAsync"/> completes when the requests so far satisfy a condition.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<ReceivedWebhook> _received = [];
    private readonly List<string> _otherPaths = [];
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WebhookReceiver(WebApplication app)
    {
        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        Port = new Uri(address).Port;
    }

    public int Port { get; }

    /// <summary>Where to register: <c>http://127.0.0.1:{port}/hooks</c>.</summary>
    public string Url => $"http://127.0.0.1:{Port}/hooks";

    /// <summary>The secret of the endpoint, as the registration answered it (<c>whsec_…</c>).</summary>
    public string? Secret { get; set; }

    /// <summary>The status to answer the request with (the nth request, 1-based); default 204.</summary>
    public Func<int, int> Status { get; set; } = _ => StatusCodes.Status204NoContent;

    /// <summary>While true, requests are held (no answer) until <see cref="ReleaseHeld"/> or the sender gives up.</summary>
    public bool Hold { get; set; }

    public IReadOnlyList<ReceivedWebhook> Received
    {
        get
        {
            lock (_lock)
            {
                return [.. _received];
            }
        }
    }

    /// <summary>Requests to any path but <c>/hooks</c> (a followed redirect would land there).</summary>
    public IReadOnlyList<string> OtherPaths
    {
        get
        {
            lock (_lock)
            {
                return [.. _otherPaths];
            }
        }
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        WebhookReceiver? receiver = null;
        app.MapPost("/hooks", (HttpContext http) => receiver!.HandleAsync(http));
        app.MapFallback((HttpContext http) =>
        {
            receiver!.Other(http.Request.Path.Value ?? "");
            return Results.Ok();
        });
        await app.StartAsync();
        receiver = new WebhookReceiver(app);
        return receiver;
    }

    /// <summary>Answers every held request (with <see cref="Status"/>) and stops holding new ones.</summary>
    public void ReleaseHeld()
    {
        Hold = false;
        _release.TrySetResult();
    }

    /// <summary>Completes once the requests received so far satisfy <paramref name="condition"/> (a deadline guards against a hang).</summary>
    public async Task<IReadOnlyList<ReceivedWebhook>> WaitForAsync(Func<IReadOnlyList<ReceivedWebhook>, bool> condition, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            Task changed;
            IReadOnlyList<ReceivedWebhook> now;
            lock (_lock)
            {
                changed = _changed.Task;
                now = [.. _received];
            }

            if (condition(now))
            {
                return now;
            }

            var left = until - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new Xunit.Sdk.XunitException($"the receiver did not see what was expected within the deadline; it received: {string.Join("; ", now.Select(r => $"{r.Type} {r.Id} -> {r.Answered}"))}");
            }

            try
            {
                await changed.WaitAsync(left);
            }
            catch (TimeoutException)
            {
                // Checked once more above, then reported.
            }
        }
    }

    /// <summary>The next request beyond the first <paramref name="count"/>.</summary>
    public async Task<ReceivedWebhook> NthAsync(int count) => (await WaitForAsync(r => r.Count >= count))[count - 1];

    /// <summary>Standard Webhooks verification: <c>v1,</c> signatures over <c>"{id}.{timestamp}.{body}"</c> with the base64-decoded secret.</summary>
    public static bool Verify(string secret, string? id, string? timestamp, string body, string? signatureHeader)
    {
        if (!secret.StartsWith("whsec_", StringComparison.Ordinal) || id is null || timestamp is null || signatureHeader is null)
        {
            return false;
        }

        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var expected = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}"));
        foreach (var signature in signatureHeader.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = signature.Split(',', 2);
            if (parts.Length == 2 && parts[0] == "v1")
            {
                var given = new byte[64];
                if (Convert.TryFromBase64String(parts[1], given, out var length) && CryptographicOperations.FixedTimeEquals(given.AsSpan(0, length), expected))
                {
                    return true;
                }
            }
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        _release.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext http)
    {
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(http.RequestAborted);
        var headers = http.Request.Headers;
        var id = headers["webhook-id"].ToString();
        var timestamp = headers["webhook-timestamp"].ToString();
        var signature = headers["webhook-signature"].ToString();
        var hold = Hold;
        int number;
        lock (_lock)
        {
            number = _received.Count + 1;
        }

        var status = Status(number);
        var received = new ReceivedWebhook(
            number,
            id,
            timestamp,
            signature,
            http.Request.ContentType,
            headers.UserAgent.ToString(),
            body,
            Secret is { } secret && Verify(secret, id, timestamp, body, signature),
            hold ? null : status);
        Add(received);

        if (hold)
        {
            try
            {
                await _release.Task.WaitAsync(http.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return; // the sender gave up (timeout, or the gateway stopped)
            }

            status = Status(number);
            Replace(received with { Answered = status });
        }

        http.Response.StatusCode = status;
        if (status is not (StatusCodes.Status204NoContent or StatusCodes.Status304NotModified))
        {
            await http.Response.WriteAsync($"answer {status}", http.RequestAborted);
        }
    }

    private void Other(string path)
    {
        lock (_lock)
        {
            _otherPaths.Add(path);
        }

        Pulse();
    }

    private void Add(ReceivedWebhook received)
    {
        lock (_lock)
        {
            _received.Add(received);
        }

        Pulse();
    }

    private void Replace(ReceivedWebhook received)
    {
        lock (_lock)
        {
            _received[received.Number - 1] = received;
        }

        Pulse();
    }

    private void Pulse()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }
}

/// <summary>One request the receiver got; <see cref="Answered"/> is the status it answered with (null: held, not answered).</summary>
internal sealed record ReceivedWebhook(int Number, string Id, string Timestamp, string Signature, string? ContentType, string UserAgent, string Body, bool Verified, int? Answered)
{
    private JsonElement? _json;

    public JsonElement Json => _json ??= JsonDocument.Parse(Body).RootElement.Clone();

    public string? Type => Body.Length == 0 ? null : Json.GetProperty("type").GetString();

    public bool Delivered => Answered is >= 200 and < 300;
}
