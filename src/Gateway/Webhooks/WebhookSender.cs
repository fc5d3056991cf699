using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

/// <summary>The outcome of one attempt: delivered (a 2xx), or why not.</summary>
internal sealed record AttemptResult(bool Delivered, int? StatusCode, string? Error)
{
    public static AttemptResult Success(int status) => new(true, status, null);

    public static AttemptResult Failure(int? status, string error) => new(false, status, error);
}

/// <summary>
/// Makes one attempt of a delivery: POSTs its body, signed (Standard Webhooks headers), to the
/// endpoint. One <see cref="SocketsHttpHandler"/> for every endpoint: redirects are not followed
/// (a 3xx is a failure: following one would let a target send the gateway anywhere), no proxy,
/// no cookies, every connect goes through <see cref="WebhookTargets.ConnectAsync"/>, each attempt
/// is bounded by <see cref="WebhooksOptions.AttemptTimeout"/>, and at most
/// <see cref="MaxExcerptBytes"/> of a failure's answer is read (for the error shown in the API).
/// </summary>
internal sealed class WebhookSender : IDisposable
{
    public const int MaxExcerptBytes = 256;
    public const string UserAgent = "support-gateway-webhooks/1";

    private readonly HttpClient _client;
    private readonly WebhookSecrets _secrets;
    private readonly WebhooksOptions _options;
    private readonly TimeProvider _time;

    public WebhookSender(WebhookTargets targets, WebhookSecrets secrets, IOptions<WebhooksOptions> options, TimeProvider time)
    {
        _secrets = secrets;
        _options = options.Value;
        _time = time;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectCallback = targets.ConnectAsync,
            // Pooled connections are re-made now and then, so a target's new DNS answer (checked at connect) is used.
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            MaxResponseHeadersLength = 16,
            MaxConnectionsPerServer = 4,
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>One attempt. Throws only <see cref="OperationCanceledException"/> for <paramref name="cancellationToken"/> (the gateway stopping).</summary>
    public async Task<AttemptResult> SendAsync(ClaimedDelivery claim, CancellationToken cancellationToken)
    {
        if (_secrets.Unprotect(claim.Registration.Secret, claim.Registration.Id) is not { } key)
        {
            return AttemptResult.Failure(null, "the endpoint's secret does not decrypt with Secrets:EncryptionKey (was the key changed?); register the endpoint again");
        }

        var body = Encoding.UTF8.GetBytes(claim.Body);
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, claim.Registration.Url)
        {
            Content = new ByteArrayContent(body),
            Version = HttpVersion.Version11,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("webhook-id", claim.Delivery.Id);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("webhook-signature", WebhookSignature.Sign(key, claim.Delivery.Id, timestamp, body));
        request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);

        using var timeout = new CancellationTokenSource(_options.AttemptTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                return AttemptResult.Success(status);
            }

            if (status is >= 300 and < 400)
            {
                return AttemptResult.Failure(status, $"HTTP {status}: a redirect{(response.Headers.Location is { } to ? $" to {Clip(to.ToString())}" : "")}, not followed");
            }

            var excerpt = await ExcerptAsync(response, linked.Token);
            return AttemptResult.Failure(status, excerpt.Length == 0 ? $"HTTP {status}" : $"HTTP {status}: {excerpt}");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            return AttemptResult.Failure(null, $"no answer within {_options.AttemptTimeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException ex) when (ex.InnerException is WebhookTargetRefusedException refused)
        {
            return AttemptResult.Failure(null, "target refused: " + refused.Message);
        }
        catch (HttpRequestException ex)
        {
            return AttemptResult.Failure(null, Clip($"{ex.HttpRequestError}: {ex.Message}"));
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ArgumentException)
        {
            // Anything else the request could not survive is this attempt's failure, shown in the API, not a crash.
            return AttemptResult.Failure(null, Clip($"{ex.GetType().Name}: {ex.Message}"));
        }
    }

    public void Dispose() => _client.Dispose();

    /// <summary>The start of a failure's answer, as text without control characters; never more than <see cref="MaxExcerptBytes"/> read.</summary>
    private static async Task<string> ExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[MaxExcerptBytes];
            var read = 0;
            int n;
            while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken)) > 0)
            {
                read += n;
            }

            return Clip(Encoding.UTF8.GetString(buffer, 0, read));
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return "";
        }
    }

    private static string Clip(string text)
    {
        var clean = new string([.. text.Select(c => char.IsControl(c) ? ' ' : c)]).Trim();
        return clean.Length <= MaxExcerptBytes ? clean : clean[..MaxExcerptBytes] + "…";
    }
}
