using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Gateway.Tests.Infrastructure;

/// <summary>Requests as a support engineer would make them: Basic with a support login, or a session token.</summary>
internal static class SupportClient
{
    public const string JillPassword = "jill-demo-password";
    public const string SamPassword = "sam-demo-password";

    public static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    public static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path, AuthenticationHeaderValue? authorization, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = authorization;
        configure?.Invoke(request);
        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    public static async Task<JsonElement> EchoAsync(HttpClient client, AuthenticationHeaderValue? authorization, Action<HttpRequestMessage>? configure = null)
    {
        using var response = await GetAsync(client, "/api/echo/whoami", authorization, configure);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"echo failed: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>The values of a header as the backend received it, or null when it did not arrive.</summary>
    public static string? Header(JsonElement echo, string name)
    {
        foreach (var property in echo.GetProperty("headers").EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return string.Join(",", property.Value.EnumerateArray().Select(v => v.GetString()));
            }
        }

        return null;
    }

    /// <summary>True when the stream ends (or is aborted) within the deadline; false when it keeps flowing.</summary>
    public static async Task<bool> StreamEndsWithinAsync(Stream stream, TimeSpan deadline)
    {
        using var cts = new CancellationTokenSource(deadline);
        var buffer = new byte[65536];
        try
        {
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return true; // aborted mid-stream
        }
    }

    public static async Task<(string Token, long ExpiresIn, string? Cookie)> LoginAsync(HttpClient client, string username, string password)
    {
        using var response = await client.PostAsync("/_gateway/support/login", new StringContent(
            JsonSerializer.Serialize(new { username, password }), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"login failed: {(int)response.StatusCode} {text}");
        using var json = JsonDocument.Parse(text);
        Assert.Equal("Bearer", json.RootElement.GetProperty("token_type").GetString());
        var cookie = response.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies.FirstOrDefault() : null;
        return (json.RootElement.GetProperty("access_token").GetString()!, json.RootElement.GetProperty("expires_in").GetInt64(), cookie);
    }
}
