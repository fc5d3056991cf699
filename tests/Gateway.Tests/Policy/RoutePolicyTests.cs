using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Policy;

/// <summary>The gateway and the acme sample app (serving both tenants), shared by the route-policy table.</summary>
public sealed class RoutePolicyEnvironment : TestEnvironment
{
    public RoutePolicyEnvironment()
    {
        Backends = TestBackends.Shared;
        MintTokens = true;
    }
}

/// <summary>
/// The route policy through the real gateway and sample app: route classes × isolation modes ×
/// methods × encodings. Each row asserts the status, the problem code and how often the
/// backend was reached, and that the explain endpoint says the same.
/// </summary>
public sealed class RoutePolicyTests(RoutePolicyEnvironment env) : IClassFixture<RoutePolicyEnvironment>
{
    private const string Allow = "allow";

    // Modes: DD = denyData + denyConfig, D = denyData only, C = denyConfig only, N = neither.
    public static TheoryData<string, string, string, string> Rows() => new()
    {
        // data routes: every method blocked under denyData, allowed otherwise
        { "DD", "GET", "/api/orders", "support.isolation.data" },
        { "DD", "HEAD", "/api/orders", "support.isolation.data" },
        { "DD", "OPTIONS", "/api/orders", "support.isolation.data" },
        { "DD", "POST", "/api/orders", "support.isolation.data" },
        { "D", "GET", "/api/orders/1", "support.isolation.data" },
        { "D", "DELETE", "/api/orders/1", "support.isolation.data" },
        { "D", "GET", "/download?bytes=10", "support.isolation.data" },
        { "D", "POST", "/upload", "support.isolation.data" },
        { "D", "GET", "/events?interval=10", "support.isolation.data" },
        { "D", "GET", "/unclassified/path", "support.isolation.data" },  // no class: the default, data
        { "C", "GET", "/api/orders", Allow },
        { "C", "POST", "/api/orders", Allow },
        { "C", "PUT", "/api/orders/1", Allow },
        { "C", "DELETE", "/api/orders/2", Allow },
        { "C", "GET", "/download?bytes=10", Allow },
        { "C", "POST", "/upload", Allow },
        { "C", "GET", "/unclassified/path", Allow },
        { "N", "GET", "/api/orders", Allow },
        { "N", "PATCH", "/api/orders/1", Allow },
        { "N", "PROPFIND", "/api/orders", Allow },
        { "N", "HEAD", "/download?bytes=10", Allow },

        // config routes: reads always; writes blocked under denyConfig (unknown methods are writes)
        { "DD", "GET", "/api/settings", Allow },
        { "DD", "HEAD", "/api/settings", Allow },
        { "DD", "OPTIONS", "/api/settings/theme", Allow },
        { "DD", "GET", "/api/settings/theme", Allow },
        { "DD", "PUT", "/api/settings/theme", "support.isolation.config" },
        { "DD", "POST", "/api/settings", "support.isolation.config" },
        { "DD", "DELETE", "/api/settings/theme", "support.isolation.config" },
        { "DD", "PATCH", "/api/settings/theme", "support.isolation.config" },
        { "C", "PROPFIND", "/api/settings", "support.isolation.config" },
        { "C", "MKCOL", "/api/settings/x", "support.isolation.config" },
        { "C", "PUT", "/api/settings/theme", "support.isolation.config" },
        { "C", "GET", "/api/settings/theme", Allow },
        { "D", "PUT", "/api/settings/theme", Allow },
        { "D", "GET", "/api/settings", Allow },
        { "D", "DELETE", "/api/settings/theme", Allow },
        { "N", "PUT", "/api/settings/theme", Allow },
        { "N", "PROPFIND", "/api/settings", Allow },

        // open routes: always allowed
        { "DD", "GET", "/", Allow },
        { "DD", "GET", "/api/echo/anything", Allow },
        { "DD", "POST", "/api/echo/anything", Allow },
        { "DD", "DELETE", "/api/echo/x", Allow },
        { "DD", "PROPFIND", "/api/echo/x", Allow },
        { "DD", "GET", "/api/echo/x?q=%2F%2E%2E", Allow },   // encodings in the query are not ambiguous
        { "N", "PUT", "/api/echo/x", Allow },

        // forbidden routes: never, whatever the mode
        { "DD", "GET", "/api/credentials/password", "support.forbidden_route" },
        { "N", "GET", "/api/credentials/password", "support.forbidden_route" },
        { "N", "POST", "/api/credentials/password", "support.forbidden_route" },
        { "C", "HEAD", "/api/credentials", "support.forbidden_route" },
        { "D", "OPTIONS", "/api/credentials/x", "support.forbidden_route" },

        // ambiguous forms: refused before any class is considered, in every mode
        { "N", "GET", "/api/orders/..%2fcredentials", "support.request.ambiguous" },
        { "N", "GET", "/api/echo/%2e%2e/credentials/password", "support.request.ambiguous" },
        { "N", "GET", "/api/echo/../credentials/password", "support.request.ambiguous" },
        { "N", "GET", "/api/echo/./x", "support.request.ambiguous" },
        { "N", "GET", "/api/echo%5c..%5ccredentials", "support.request.ambiguous" },
        { "N", "GET", "/api/echo/%252e%252e/x", "support.request.ambiguous" },
        { "N", "GET", "/api/echo/%C0%AF", "support.request.ambiguous" },
        { "N", "GET", "/api/echo/x%01", "support.request.ambiguous" },
        { "N", "GET", "/api/echo//x", "support.request.ambiguous" },
        { "N", "GET", "/api/echo/x;y=1", "support.request.ambiguous" },
        { "N", "POST", "/api/echo/x?_method=DELETE", "support.request.ambiguous" },
        { "DD", "GET", "/api/settings?_method=PUT", "support.request.ambiguous" },
        { "DD", "GET", "/api/settings/%2e%2e/credentials", "support.request.ambiguous" },
        { "N", "GET", "/api/echo/caf%C3%A9", Allow },          // well-formed UTF-8 is fine
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public async Task SupportRequest_IsDecidedByClassModeAndMethod(string mode, string method, string target, string expected)
    {
        await GrantAsync(mode);
        var hits = env.Acme.Hits.Total;

        using var response = await SendAsync(method, target, Basic("jill$john", JillPassword));

        if (expected == Allow)
        {
            Assert.False(IsSupportProblem(response), $"{method} {target} under {mode} was refused: {await response.Content.ReadAsStringAsync()}");
            Assert.Equal(hits + 1, env.Acme.Hits.Total);
        }
        else
        {
            var status = expected == "support.request.ambiguous" ? 400 : 403;
            if (method == "HEAD")
            {
                // A HEAD answer has no body to carry the problem: its status and type say it.
                Assert.Equal(status, (int)response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }
            else
            {
                Assert.Equal(expected, await ManagementClient.ProblemCodeAsync(response, status));
            }

            Assert.Equal(hits, env.Acme.Hits.Total);
        }

        // The ops tools say the same as the live decision.
        var (denyData, denyConfig) = Modes(mode);
        var explanation = await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/policy/explain", env.Olivia,
            new { tenant = "acme", method, path = target, denyData, denyConfig });
        Assert.Equal(expected == Allow, explanation.GetProperty("allowed").GetBoolean());
        Assert.Equal(expected == Allow ? null : expected, explanation.GetProperty("code").GetString());
    }

    /// <summary>
    /// Explain and the live gateway agree on every path, method and header of the route-policy
    /// table and of the ambiguity sample, in every isolation mode: the live request goes byte for
    /// byte over a socket, explain is asked the same, and "reached the app" must equal "allowed"
    /// (with the same problem code whenever the gateway answered with one).
    /// </summary>
    [Theory]
    [InlineData("DD")]
    [InlineData("D")]
    [InlineData("C")]
    [InlineData("N")]
    public async Task Explain_AgreesWithTheLiveGateway_OnEverySample(string mode)
    {
        await GrantAsync(mode);
        var (denyData, denyConfig) = Modes(mode);
        var samples = Rows().Select(r => ((string)r[1], (string)r[2], (string?)null))
            .Concat(RequestAmbiguityTests.Samples.Select(r => ((string)r[1], (string?)r[0], (string?)r[2]))
                // CONNECT opens a tunnel at the server, before any routing: not a request the gateway decides.
                .Where(r => !string.IsNullOrEmpty(r.Item2) && r.Item1.Length > 0 && r.Item1 != "CONNECT")
                .Select(r => (r.Item1, r.Item2!, r.Item3)))
            .Distinct()
            .ToList();
        var authorization = Basic("jill$john", JillPassword).ToString();
        var disagreements = new List<string>();
        foreach (var (method, target, header) in samples)
        {
            var headers = new List<KeyValuePair<string, string>> { new("Authorization", authorization) };
            if (header is not null)
            {
                headers.Add(new(header, "DELETE"));
            }

            var hits = env.Acme.Hits.Total;
            RawHttp.Answer live;
            try
            {
                live = await RawHttp.SendAsync(env.Gateway.Port, "acme.localhost", method, target, headers);
            }
            catch (OperationCanceledException)
            {
                disagreements.Add($"{method} {target} {header}: no answer from the live gateway");
                continue;
            }

            var reached = env.Acme.Hits.Total > hits;
            var liveCode = live.ContentType?.StartsWith("application/problem+json", StringComparison.Ordinal) == true && live.Body.Length > 0
                ? JsonDocument.Parse(live.Body).RootElement.GetProperty("code").GetString()
                : null;

            var explanation = await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/policy/explain", env.Olivia, new
            {
                tenant = "acme",
                method,
                path = target,
                denyData,
                denyConfig,
                headers = header is null ? null : new Dictionary<string, string> { [header] = "DELETE" },
            });
            var allowed = explanation.GetProperty("allowed").GetBoolean();
            var code = explanation.GetProperty("code").GetString();
            if (allowed != reached || (!allowed && liveCode is not null && liveCode != code))
            {
                disagreements.Add($"{method} {target} {header}: live {live.Status} {liveCode} reached={reached}; explain allowed={allowed} {code}");
            }
        }

        Assert.True(samples.Count > 100, $"only {samples.Count} samples");
        Assert.True(disagreements.Count == 0, string.Join(Environment.NewLine, disagreements));
    }

    [Theory]
    [InlineData("GET", "/api/orders")]
    [InlineData("DELETE", "/api/orders/1")]
    [InlineData("PUT", "/api/settings/theme")]
    [InlineData("PROPFIND", "/api/settings")]
    [InlineData("POST", "/api/credentials/password")]
    [InlineData("GET", "/api/echo/..%2fx")]
    public async Task OrdinaryTraffic_ToTheSameRoutes_IsUnaffected(string method, string target)
    {
        await GrantAsync("DD");
        var hits = env.Acme.Hits.Total;

        using var response = await SendAsync(method, target, authorization: null);

        Assert.False(IsSupportProblem(response));
        Assert.Equal(hits + 1, env.Acme.Hits.Total);
    }

    [Fact]
    public async Task EncodedNul_IsRefusedBeforeAnyBackend()
    {
        await GrantAsync("N");
        var hits = env.Acme.Hits.Total;

        // Kestrel itself refuses a NUL in the path (400) for every request, support or not.
        using var support = await SendAsync("GET", "/api/echo/x%00", Basic("jill$john", JillPassword));
        using var ordinary = await SendAsync("GET", "/api/echo/x%00", authorization: null);

        Assert.Equal(HttpStatusCode.BadRequest, support.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, ordinary.StatusCode);
        Assert.Equal(hits, env.Acme.Hits.Total);
    }

    [Theory]
    [InlineData("X-HTTP-Method-Override")]
    [InlineData("X-HTTP-Method")]
    [InlineData("X-Method-Override")]
    public async Task MethodOverrideHeaders_AreRefusedInSupportSessions(string header)
    {
        await GrantAsync("N");
        var hits = env.Acme.Hits.Total;

        using var response = await SendAsync("POST", "/api/echo/x", Basic("jill$john", JillPassword), r => r.Headers.TryAddWithoutValidation(header, "DELETE"));

        Assert.Equal("support.request.ambiguous", await ManagementClient.ProblemCodeAsync(response, 400));
        Assert.Equal(hits, env.Acme.Hits.Total);
    }

    [Fact]
    public async Task WebSocketUpgrade_OnADataRoute_IsBlockedUnderDenyData()
    {
        await GrantAsync("D");
        var hits = env.Acme.Hits.Total;

        using var response = await SendAsync("GET", "/ws", Basic("jill$john", JillPassword), r =>
        {
            r.Headers.TryAddWithoutValidation("Connection", "Upgrade");
            r.Headers.TryAddWithoutValidation("Upgrade", "websocket");
            r.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", "13");
            r.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        });

        Assert.Equal("support.isolation.data", await ManagementClient.ProblemCodeAsync(response, 403));
        Assert.Equal(hits, env.Acme.Hits.Total);
    }

    [Theory]
    [InlineData("C", "support.isolation.config")]
    [InlineData("DD", "support.isolation.config")]
    [InlineData("D", null)]
    public async Task UpgradeOnAConfigRoute_IsAWrite(string mode, string? expected)
    {
        await GrantAsync(mode);
        var hits = env.Acme.Hits.Total;

        // A GET that asks to become a two-way channel: under denyConfig it would carry writes.
        using var response = await SendAsync("GET", "/api/settings/live", Basic("jill$john", JillPassword), r =>
        {
            r.Headers.TryAddWithoutValidation("Connection", "Upgrade");
            r.Headers.TryAddWithoutValidation("Upgrade", "websocket");
            r.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", "13");
            r.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        });

        if (expected is null)
        {
            Assert.Equal(hits + 1, env.Acme.Hits.Total);
        }
        else
        {
            Assert.Equal(expected, await ManagementClient.ProblemCodeAsync(response, 403));
            Assert.Equal(hits, env.Acme.Hits.Total);
        }
    }

    [Fact]
    public async Task SeveralGrants_RequestAllowedIfAnyGrantAllowsIt()
    {
        await GrantAsync("D");
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { denyData = false, denyConfig = true }, 201);

        using var data = await SendAsync("GET", "/api/orders", Basic("jill$john", JillPassword));
        using var configWrite = await SendAsync("PUT", "/api/settings/theme", Basic("jill$john", JillPassword), r => r.Content = new StringContent("""{"value":"dark"}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, data.StatusCode);
        Assert.Equal(HttpStatusCode.OK, configWrite.StatusCode);
    }

    [Fact]
    public async Task Denials_AreAuditedWithTheReason()
    {
        await GrantAsync("DD");
        using (await SendAsync("PUT", "/api/settings/theme", Basic("jill$john", JillPassword)))
        {
        }

        var denial = (await env.Gateway.Audit.WaitForAsync(e =>
            AuditTrail.Get(e, "event.action") == "support-request" && AuditTrail.Get(e, "event.reason") == "support.isolation.config"
            && AuditTrail.Get(e, "http.request.method") == "PUT" && AuditTrail.Get(e, "url.path") == "/api/settings/theme")).Last();
        Assert.Equal("denied", AuditTrail.Get(denial, "gateway.support.decision"));
        Assert.Equal("config", AuditTrail.Get(denial, "gateway.route.class"));
        Assert.Equal("jill$john", AuditTrail.Get(denial, "user.name"));
        Assert.Equal("PUT", AuditTrail.Get(denial, "http.request.method"));
        Assert.Equal("403", AuditTrail.Get(denial, "http.response.status_code"));
    }

    [Fact]
    public async Task Explain_IsForPlatformAdmins_AndValidatesItsInput()
    {
        Assert.Equal("management.forbidden", await env.Api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/policy/explain", env.Ann, new { tenant = "acme", method = "GET", path = "/" }, 403));
        Assert.Equal("management.unauthenticated", await env.Api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/policy/explain", null, new { tenant = "acme", method = "GET", path = "/" }, 401));
        Assert.Equal("request.invalid", await env.Api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/policy/explain", env.Olivia, new { tenant = "acme", method = "GET" }, 400));
        Assert.Equal("request.invalid", await env.Api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/policy/explain", env.Olivia, new { tenant = "acme", method = "G E T", path = "/" }, 400));

        var explanation = await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/policy/explain", env.Olivia, new { tenant = "acme", method = "PUT", path = "/api/settings/theme", denyData = true, denyConfig = true });
        Assert.Equal("acme-settings", explanation.GetProperty("route").GetString());
        Assert.Equal("config", explanation.GetProperty("class").GetString());
        Assert.False(explanation.GetProperty("allowed").GetBoolean());
        Assert.Contains("denyConfig", explanation.GetProperty("reason").GetString(), StringComparison.Ordinal);

        var unknown = await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/policy/explain", env.Olivia, new { tenant = "initech", method = "GET", path = "/" });
        Assert.Equal("tenant.not_found", unknown.GetProperty("code").GetString());
    }

    private async Task GrantAsync(string mode)
    {
        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", env.Ann);
        var (denyData, denyConfig) = Modes(mode);
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { denyData, denyConfig }, 201);
    }

    private static (bool DenyData, bool DenyConfig) Modes(string mode) => mode switch
    {
        "DD" => (true, true),
        "D" => (true, false),
        "C" => (false, true),
        "N" => (false, false),
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    private async Task<HttpResponseMessage> SendAsync(string method, string target, System.Net.Http.Headers.AuthenticationHeaderValue? authorization, Action<HttpRequestMessage>? configure = null)
    {
        using var client = env.Gateway.Client("acme.localhost");
        var uri = new Uri(client.BaseAddress + target.TrimStart('/'), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using var request = new HttpRequestMessage(new HttpMethod(method), uri);
        request.Headers.Authorization = authorization;
        configure?.Invoke(request);
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static bool IsSupportProblem(HttpResponseMessage response)
    {
        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            return false;
        }

        using var json = JsonDocument.Parse(response.Content.ReadAsStream());
        return json.RootElement.TryGetProperty("code", out var code) && code.GetString()!.StartsWith("support.", StringComparison.Ordinal);
    }
}
