using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Gateway.Cli;

namespace Gateway.Tests.Infrastructure;

/// <summary>Calls the management API of a gateway with tokens minted by the real <c>token</c> CLI verb.</summary>
internal sealed class ManagementClient(GatewayHost gateway)
{
    public static async Task<string> MintTokenAsync(string configDir, string user, string role, string? tenant)
    {
        var args = new List<string> { "token", "--config-dir", configDir, "--user", user, "--role", role };
        if (tenant is not null)
        {
            args.AddRange(["--tenant", tenant]);
        }

        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await CliVerbs.RunAsync([.. args], TextReader.Null, output, error);
        Assert.True(exit == 0, $"token verb failed ({exit}): {error}");
        return output.ToString().Trim();
    }

    public Task<string> TokenAsync(string user, string role, string? tenant = null) => MintTokenAsync(gateway.Config.Path, user, role, tenant);

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null, string? rawBody = null, string contentType = "application/json")
    {
        using var client = gateway.Client("localhost");
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        else if (rawBody is not null)
        {
            request.Content = new StringContent(rawBody, Encoding.UTF8, contentType);
        }

        return await client.SendAsync(request);
    }

    public async Task<JsonElement> JsonAsync(HttpMethod method, string path, string? token, object? body = null, int expectedStatus = 200)
    {
        using var response = await SendAsync(method, path, token, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == expectedStatus, $"{method} {path}: expected {expectedStatus}, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task<string> ProblemCodeAsync(HttpMethod method, string path, string? token, object? body = null, int? expectedStatus = null)
    {
        using var response = await SendAsync(method, path, token, body);
        return await ProblemCodeAsync(response, expectedStatus);
    }

    public static async Task<string> ProblemCodeAsync(HttpResponseMessage response, int? expectedStatus = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        if (expectedStatus is not null)
        {
            Assert.True((int)response.StatusCode == expectedStatus, $"expected {expectedStatus}, got {(int)response.StatusCode}: {text}");
        }

        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("code").GetString()!;
    }
}
