using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Authentication;

/// <summary>One gateway on a real Redis in front of the two sample tenant apps.</summary>
public sealed class SupportSessionEnvironment : TestEnvironment
{
    public SupportSessionEnvironment()
    {
        WithRedis = true;
        MintTokens = true;
        ExtraArgs =
        [
            "--Support:FailedLoginsPerClient=1000",
            // A 2-core machine running PBKDF2 for concurrent tests can stall a 200 ms budget; fail-closed timing is tested elsewhere.
            "--Grants:StoreTimeout=00:00:02",
        ];
    }
}

/// <summary>
/// Support logins through the real gateway, the sample apps and a real Redis: who gets in, as whom, what the backend sees, and that revocation ends it.
/// </summary>
public sealed class SupportSessionTests(SupportSessionEnvironment env) : IClassFixture<SupportSessionEnvironment>, IAsyncLifetime
{
    private readonly HttpClient _acme = env.Gateway.Client("acme.localhost");
    private readonly HttpClient _globex = env.Gateway.Client("globex.localhost");
    private readonly string _john = env.John;
    private readonly string _ann = env.Ann;
    private readonly string _gina = env.Gina;

    public async Task InitializeAsync()
    {
        // Each test starts with no grants.
        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", _ann);
        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/globex/support/grants", _gina);
    }

    public Task DisposeAsync()
    {
        _acme.Dispose();
        _globex.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task JillAsJohn_WithAGrant_ReachesTheAppAsJohnActedByJill()
    {
        var grant = await GrantAsync(_john, new { durationHours = 2, denyData = false });

        var echo = await EchoAsync(_acme, Basic("jill$john", JillPassword));

        Assert.Equal("acme", echo.GetProperty("app").GetString());
        Assert.Equal("john", Header(echo, "X-Gateway-User"));
        Assert.Equal("jill", Header(echo, "X-Gateway-Support-User"));
        Assert.Equal("acme", Header(echo, "X-Gateway-Tenant"));
        Assert.Equal("denyConfig", Header(echo, "X-Gateway-Isolation"));
        Assert.Equal(grant, Header(echo, "X-Gateway-Grants"));
        Assert.Null(Header(echo, "Authorization"));

        // The identity token verifies against the gateway's published keys.
        var jwt = await ValidateIdentityTokenAsync(Header(echo, "X-Gateway-Identity")!);
        Assert.Equal("john", jwt.Subject);
        Assert.Equal("jill", JsonDocument.Parse(jwt.GetClaim("act").Value).RootElement.GetProperty("sub").GetString());
        Assert.Equal("acme", jwt.GetClaim("tenant").Value);
        Assert.True(jwt.ValidTo <= DateTime.UtcNow.AddSeconds(61));
    }

    [Fact]
    public async Task WithoutAGrant_Refused403_AndTheBackendIsNeverReached()
    {
        var hits = env.Acme.Hits.Total;

        using var response = await GetAsync(_acme, "/api/echo/x", Basic("jill$john", JillPassword));

        Assert.Equal("support.no_grant", await ManagementClient.ProblemCodeAsync(response, 403));
        Assert.Equal(hits, env.Acme.Hits.Total);
    }

    [Theory]
    [InlineData("jill$john", "wrong-password")]
    [InlineData("nobody$john", JillPassword)]
    [InlineData("JILL$john", "jill-demo-passworD")]
    public async Task WrongCredentials_Get401WithAChallenge_AndReachNothing(string user, string password)
    {
        await GrantAsync(_john, new { });
        var hits = env.Acme.Hits.Total;

        using var response = await GetAsync(_acme, "/api/echo/x", Basic(user, password));

        Assert.Equal("support.login.invalid", await ManagementClient.ProblemCodeAsync(response, 401));
        Assert.Equal("Basic", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(hits, env.Acme.Hits.Total);
    }

    [Fact]
    public async Task SupportUserNames_AreCaseInsensitive()
    {
        await GrantAsync(_john, new { });

        var echo = await EchoAsync(_acme, Basic("JILL$john", JillPassword));

        Assert.Equal("jill", Header(echo, "X-Gateway-Support-User"));
    }

    [Fact]
    public async Task Sam_OnlyHelpsGlobex_EvenWhenAcmeHasAGrant()
    {
        await GrantAsync(_john, new { });
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/globex/support/grants", _gina, new { }, 201);
        var hits = env.Acme.Hits.Total;

        using var acme = await GetAsync(_acme, "/api/echo/x", Basic("sam$john", SamPassword));
        Assert.Equal("support.not_permitted", await ManagementClient.ProblemCodeAsync(acme, 403));
        Assert.Equal(hits, env.Acme.Hits.Total);

        var globex = await EchoAsync(_globex, Basic("sam$gina", SamPassword));
        Assert.Equal("globex", globex.GetProperty("app").GetString());
        Assert.Equal("gina", Header(globex, "X-Gateway-User"));
    }

    [Fact]
    public async Task JillDollar_ActsAsTheDesignatedAdmin_OrTheGrantsGrantor()
    {
        await GrantAsync(_john, new { });
        Assert.Equal("ann", Header(await EchoAsync(_acme, Basic("jill$", JillPassword)), "X-Gateway-User"));
        Assert.Equal("ann", Header(await EchoAsync(_acme, Basic("acme/jill$", JillPassword)), "X-Gateway-User"));

        await GrantAsync(_ann, new { durationHours = 48, grantor = "petra" });
        Assert.Equal("petra", Header(await EchoAsync(_acme, Basic("jill$", JillPassword)), "X-Gateway-User"));
    }

    [Theory]
    [InlineData("jill$$john", "support.login.malformed")]
    [InlineData("jill$john$", "support.login.malformed")]
    [InlineData("$john", "support.login.malformed")]
    [InlineData("jill$jo hn", "support.login.malformed")]
    [InlineData("globex/jill$john", "support.login.tenant_mismatch")]
    [InlineData("jill＄john", null)] // fullwidth dollar: NFKC makes it a support login, forwarded only as one
    public async Task MalformedSupportLogins_AreRefused_NeverForwardedAsOrdinary(string user, string? code)
    {
        var hits = env.Acme.Hits.Total;

        using var response = await GetAsync(_acme, "/api/echo/x", Basic(user, JillPassword));

        if (code is null)
        {
            // No grant yet: recognised as jill$john and refused as such.
            Assert.Equal("support.no_grant", await ManagementClient.ProblemCodeAsync(response, 403));
        }
        else
        {
            Assert.Equal(code, await ManagementClient.ProblemCodeAsync(response, 400));
        }

        Assert.Equal(hits, env.Acme.Hits.Total);
    }

    [Theory]
    [InlineData("sgw_session")]
    [InlineData("SGW_SESSION")]
    [InlineData("Sgw_Session")]
    public async Task SessionCookie_NeverReachesTheApp_EvenBesideAnOrdinaryLogin(string cookieName)
    {
        var echo = await EchoAsync(_acme, Basic("john", "johns-own-password"), r => r.Headers.Add("Cookie", $"theme=dark; {cookieName}=anything"));

        Assert.Equal("theme=dark", Header(echo, "Cookie"));
    }

    public static TheoryData<string[]> UnreadableAuthorizations() => new()
    {
        { [Basic("jill$john", JillPassword).ToString(), Basic("jill$john", JillPassword).ToString()] },  // two headers
        { ["Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("jill$john:" + JillPassword)).TrimEnd('=')] },  // unpadded Base64
        { ["Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("jill$john"))] },  // no colon
        { ["Basic !!not-base64!!"] },
        { ["Basic"] },
    };

    [Theory]
    [MemberData(nameof(UnreadableAuthorizations))]
    public async Task UnreadableCredentials_AreRefused_NeverPassedToTheApp(string[] authorization)
    {
        await GrantAsync(_john, new { });
        var hits = env.Acme.Hits.Total;

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/echo/x");
        foreach (var value in authorization)
        {
            request.Headers.TryAddWithoutValidation("Authorization", value);
        }

        using var response = await _acme.SendAsync(request);

        Assert.Equal("request.credentials_unreadable", await ManagementClient.ProblemCodeAsync(response, 400));
        Assert.Equal(hits, env.Acme.Hits.Total);
    }

    /// <summary>Odd forms that carry a token issued by this gateway: never forwarded as if they were the app's own credentials.</summary>
    public static TheoryData<string, string> GatewayTokenInOddForms() => new()
    {
        { "Authorization", "Bearer {t} {t}" },
        { "Authorization", "Bearer \"{t}\"" },
        { "Authorization", "Bearer {t}," },
        { "Authorization", "Token {t}" },
        { "Authorization", "MAC id=\"{t}\"" },
        { "Cookie", "x=1; other={t}" },
    };

    [Theory]
    [MemberData(nameof(GatewayTokenInOddForms))]
    public async Task GatewayTokenInAnOddForm_IsRefused_NeverForwarded(string header, string template)
    {
        await GrantAsync(_john, new { });
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        var hits = env.Acme.Hits.Total;

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/echo/x");
        request.Headers.TryAddWithoutValidation(header, template.Replace("{t}", token, StringComparison.Ordinal));
        using var response = await _acme.SendAsync(request);

        Assert.Equal("request.credentials_unreadable", await ManagementClient.ProblemCodeAsync(response, 400));
        Assert.Equal(hits, env.Acme.Hits.Total);
    }

    [Fact]
    public async Task SessionCookieInACommaJoinedCookieHeader_NeverReachesTheApp()
    {
        await GrantAsync(_john, new { });
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);

        using var response = await GetAsync(_acme, "/api/echo/x", null, r => r.Headers.TryAddWithoutValidation("Cookie", $"x=1, sgw_session={token}"));
        var text = await response.Content.ReadAsStringAsync();

        // Read as the session (and decided as one), or refused; never passed on in the Cookie header.
        Assert.DoesNotContain(token, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LeftoverSessionCookie_BesideTheAppsOwnBearerToken_IsIgnored_AndStripped()
    {
        await GrantAsync(_john, new { });
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        var appToken = new AuthenticationHeaderValue("Bearer", "app-opaque-token-123");

        var echo = await EchoAsync(_acme, appToken, r => r.Headers.TryAddWithoutValidation("Cookie", $"sgw_session={token}; theme=dark"));

        // The header wins (as in JwtBearer): ordinary traffic with the app's token, the gateway's cookie removed.
        Assert.Equal(appToken.ToString(), Header(echo, "Authorization"));
        Assert.Null(Header(echo, "X-Gateway-User"));
        Assert.Equal("theme=dark", Header(echo, "Cookie"));
    }

    [Fact]
    public async Task SessionTokenSignature_IsVerifiedOncePerToken()
    {
        await GrantAsync(_john, new { });
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        var cache = env.Gateway.Services.GetRequiredService<Gateway.SupportSessions.SessionTokenCache>();
        var before = cache.Verifications;

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("john", Header(await EchoAsync(_acme, bearer), "X-Gateway-User"));
        }

        Assert.Equal(before + 1, cache.Verifications);

        // A cached signature check never skips the per-request grant check.
        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", _ann);
        using var revoked = await GetAsync(_acme, "/api/echo/x", bearer);
        Assert.Equal("support.no_grant", await ManagementClient.ProblemCodeAsync(revoked, 403));
    }

    [Fact]
    public async Task OrdinaryBasicLogins_PassThroughUntouched()
    {
        var echo = await EchoAsync(_acme, Basic("john", "johns-own-password"));

        Assert.Equal(Basic("john", "johns-own-password").ToString(), Header(echo, "Authorization"));
        Assert.Null(Header(echo, "X-Gateway-User"));
    }

    [Fact]
    public async Task SpoofedIdentityHeaders_NeverReachTheApp()
    {
        await GrantAsync(_john, new { });
        void Spoof(HttpRequestMessage request)
        {
            request.Headers.TryAddWithoutValidation("X-Gateway-User", "root");
            request.Headers.TryAddWithoutValidation("x-gateway-support-user", "mallory");
            request.Headers.TryAddWithoutValidation("X-Gateway-Identity", "forged");
            request.Headers.TryAddWithoutValidation("X-Gateway-Anything", "forged");
            request.Headers.TryAddWithoutValidation("Connection", "X-Gateway-Tenant");
            request.Headers.TryAddWithoutValidation("X-Gateway-Tenant", "globex");
        }

        var ordinary = await EchoAsync(_acme, null, Spoof);
        Assert.DoesNotContain(ordinary.GetProperty("headers").EnumerateObject(), h => h.Name.StartsWith("X-Gateway-", StringComparison.OrdinalIgnoreCase));

        var support = await EchoAsync(_acme, Basic("jill$john", JillPassword), Spoof);
        Assert.Equal("john", Header(support, "X-Gateway-User"));
        Assert.Equal("jill", Header(support, "X-Gateway-Support-User"));
        Assert.Equal("acme", Header(support, "X-Gateway-Tenant"));
        Assert.Null(Header(support, "X-Gateway-Anything"));
        Assert.NotEqual("forged", Header(support, "X-Gateway-Identity"));
    }

    [Theory]
    [InlineData("X_Gateway_User")]
    [InlineData("x_gateway_identity")]
    [InlineData("X-Gateway_Tenant")]
    [InlineData("X-Remote-User")]
    [InlineData("remote_user")]
    [InlineData("X_Forwarded_User")]
    [InlineData("True-Client-IP")]
    [InlineData("X_Real_IP")]
    [InlineData("X-Original-Url-Whatever")]
    [InlineData("X_Original_Host")]
    [InlineData("X_Forwarded_For")]
    [InlineData("Forwarded")]
    [InlineData("X-Forwarded-Server")]
    public async Task IdentityAndClientAddressHeaders_InAnySpelling_NeverReachTheApp(string name)
    {
        await GrantAsync(_john, new { });
        void Spoof(HttpRequestMessage request) => request.Headers.TryAddWithoutValidation(name, "ann");

        // CGI-style apps read '_' and '-' alike (HTTP_X_GATEWAY_USER): no spelling may pass.
        static bool Arrived(JsonElement echo, string sent) =>
            echo.GetProperty("headers").EnumerateObject().Any(h =>
                string.Equals(h.Name.Replace('_', '-'), sent.Replace('_', '-'), StringComparison.OrdinalIgnoreCase)
                && h.Value.EnumerateArray().Any(v => v.GetString() == "ann"));

        Assert.False(Arrived(await EchoAsync(_acme, null, Spoof), name), $"{name} reached the app on ordinary traffic");
        Assert.False(Arrived(await EchoAsync(_acme, Basic("jill$john", JillPassword), Spoof), name), $"{name} reached the app on a support request");
    }

    [Fact]
    public async Task PasswordHash_IsNotRecomputedForEveryRequestOfASession()
    {
        await GrantAsync(_john, new { });
        var verifier = env.Gateway.Services.GetRequiredService<Gateway.Authentication.SupportCredentialVerifier>();
        await EchoAsync(_acme, Basic("jill$john", JillPassword));
        var computations = verifier.HashComputations;

        for (var i = 0; i < 5; i++)
        {
            await EchoAsync(_acme, Basic("jill$john", JillPassword));
        }

        Assert.Equal(computations, verifier.HashComputations);
    }

    [Fact]
    public async Task LoginEndpoint_IssuesATokenNoLongerThanTheGrant_WithAnHttpOnlyStrictCookie()
    {
        await GrantAsync(_john, new { durationHours = 1 });
        var before = DateTimeOffset.UtcNow;

        var (token, expiresIn, cookie) = await LoginAsync(_acme, "jill$john", JillPassword);

        var jwt = new JsonWebToken(token);
        Assert.Equal("john", jwt.Subject);
        Assert.Equal("jill", JsonDocument.Parse(jwt.GetClaim("act").Value).RootElement.GetProperty("sub").GetString());
        Assert.Equal("acme", jwt.GetClaim("tenant").Value);
        Assert.False(string.IsNullOrEmpty(jwt.GetClaim("sid").Value));
        Assert.Equal("ES256", jwt.Alg);
        Assert.False(string.IsNullOrEmpty(jwt.Kid));
        Assert.True(expiresIn is > 0 and <= 3600);
        Assert.True(jwt.ValidTo <= before.AddHours(1).UtcDateTime.AddSeconds(1));

        Assert.NotNull(cookie);
        Assert.StartsWith("sgw_session=", cookie, StringComparison.Ordinal);
        // Plain http outside production: not Secure (Support:CookieSecure SameAsRequest; Always in production).
        Assert.DoesNotContain("secure", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);

        // Bearer and cookie both work, and neither reaches the backend.
        var viaBearer = await EchoAsync(_acme, new AuthenticationHeaderValue("Bearer", token));
        Assert.Equal("john", Header(viaBearer, "X-Gateway-User"));
        var viaCookie = await EchoAsync(_acme, null, r => r.Headers.Add("Cookie", $"theme=dark; sgw_session={token}"));
        Assert.Equal("john", Header(viaCookie, "X-Gateway-User"));
        Assert.Equal("theme=dark", Header(viaCookie, "Cookie"));
        Assert.Null(Header(viaBearer, "Authorization"));
    }

    [Fact]
    public async Task Token_IsRefusedAfterRevocation_AndAfterLogout()
    {
        var grant = await GrantAsync(_john, new { });
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        await EchoAsync(_acme, bearer);

        await env.Api.JsonAsync(HttpMethod.Delete, $"/_gateway/tenants/acme/support/grants/{grant}", _john);
        using (var revoked = await GetAsync(_acme, "/api/echo/x", bearer))
        {
            Assert.Equal("support.no_grant", await ManagementClient.ProblemCodeAsync(revoked, 403));
        }

        await GrantAsync(_john, new { });
        var (second, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        var secondBearer = new AuthenticationHeaderValue("Bearer", second);
        await EchoAsync(_acme, secondBearer);
        using (var logout = new HttpRequestMessage(HttpMethod.Post, "/_gateway/support/logout"))
        {
            logout.Headers.Authorization = secondBearer;
            using var response = await _acme.SendAsync(logout);
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        // The grant is still active: the refusal says the session ended, not that support is off.
        using var afterLogout = await GetAsync(_acme, "/api/echo/x", secondBearer);
        Assert.Equal("support.session.ended", await ManagementClient.ProblemCodeAsync(afterLogout, 401));
    }

    [Fact]
    public async Task Token_OfOneTenant_IsRefusedOnAnother()
    {
        await GrantAsync(_john, new { });
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/globex/support/grants", _gina, new { }, 201);
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);

        using var response = await GetAsync(_globex, "/api/echo/x", new AuthenticationHeaderValue("Bearer", token));

        Assert.Equal("support.session.wrong_tenant", await ManagementClient.ProblemCodeAsync(response, 403));
    }

    [Fact]
    public async Task TamperedOrForeignTokens_Get401()
    {
        await GrantAsync(_john, new { });
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        var parts = token.Split('.');
        var payload = JsonDocument.Parse(Base64UrlEncoder.Decode(parts[1])).RootElement;
        var forged = payload.GetRawText().Replace("\"john\"", "\"ann\"", StringComparison.Ordinal);
        var tampered = $"{parts[0]}.{Base64UrlEncoder.Encode(forged)}.{parts[2]}";

        using var response = await GetAsync(_acme, "/api/echo/x", new AuthenticationHeaderValue("Bearer", tampered));

        Assert.Equal("support.session.invalid", await ManagementClient.ProblemCodeAsync(response, 401));
    }

    [Fact]
    public async Task SupportSessions_CannotCallGrantManagement()
    {
        await GrantAsync(_john, new { });
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);

        foreach (var authorization in new[] { new AuthenticationHeaderValue("Bearer", token), Basic("jill$john", JillPassword) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/_gateway/tenants/acme/support/grants")
            {
                Content = new StringContent("{}", Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = authorization;
            using var response = await _acme.SendAsync(request);
            Assert.Equal("management.unauthenticated", await ManagementClient.ProblemCodeAsync(response, 401));
        }

        Assert.Single((await env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants", _ann)).GetProperty("grants").EnumerateArray());
    }

    [Fact]
    public async Task Revocation_ClosesAnOpenWebSocket_AndTheNextRequestIsRefused()
    {
        await GrantAsync(_john, new { denyData = false });
        var (token, _, _) = await LoginAsync(_acme, "jill$john", JillPassword);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        await socket.ConnectAsync(new Uri($"ws://acme.localhost:{env.Gateway.Port}/ws"), new HttpMessageInvoker(LoopbackHttp.Handler(env.Gateway.Port)), cts.Token);
        await socket.SendAsync(Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text, true, cts.Token);
        var buffer = new byte[256];
        Assert.Equal("ping", Encoding.UTF8.GetString(buffer, 0, (await socket.ReceiveAsync(buffer, cts.Token)).Count));

        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", _ann);

        var closed = await ClosedWithinAsync(socket, TimeSpan.FromSeconds(5));
        Assert.True(closed, "the WebSocket stayed open after the revocation");
        using var next = await GetAsync(_acme, "/api/echo/x", new AuthenticationHeaderValue("Bearer", token));
        Assert.Equal(HttpStatusCode.Forbidden, next.StatusCode);
    }

    [Fact]
    public async Task Revocation_EndsAServerSentEventStream()
    {
        await GrantAsync(_john, new { denyData = false });
        using var response = await GetAsync(_acme, "/events?interval=50", Basic("jill$john", JillPassword));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.NotNull(await reader.ReadLineAsync());

        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", _ann);

        Assert.True(await StreamEndsWithinAsync(reader.BaseStream, TimeSpan.FromSeconds(5)), "the event stream kept flowing after the revocation");
    }

    [Fact]
    public async Task Revocation_AbortsALongDownload()
    {
        await GrantAsync(_john, new { denyData = false });
        using var response = await GetAsync(_acme, "/download?bytes=10000000000", Basic("jill$john", JillPassword));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[65536];
        Assert.True(await body.ReadAsync(buffer) > 0);

        await env.Api.JsonAsync(HttpMethod.Delete, "/_gateway/tenants/acme/support/grants", _ann);

        Assert.True(await StreamEndsWithinAsync(body, TimeSpan.FromSeconds(5)), "the download kept flowing after the revocation");
    }

    [Fact]
    public async Task Expiry_EndsALiveStream_WithoutAnyChangeMessage()
    {
        var ops = await env.Api.TokenAsync("olivia", "platform-admin");
        await env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/tenants/acme/support", ops, new { mode = "enabled", until = DateTimeOffset.UtcNow.AddSeconds(2) });
        await env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/support", ops, new { enabledForAllTenants = false, requestDurationHours = 24, defaultDenyData = false, defaultDenyConfig = true });
        try
        {
            using var response = await GetAsync(_acme, "/events?interval=50", Basic("jill$john", JillPassword));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.NotNull(await reader.ReadLineAsync());

            Assert.True(await StreamEndsWithinAsync(reader.BaseStream, TimeSpan.FromSeconds(6)), "the event stream outlived the access");
        }
        finally
        {
            await env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/tenants/acme/support", ops, new { mode = "inherit" });
            await env.Api.JsonAsync(HttpMethod.Put, "/_gateway/platform/support", ops, new { enabledForAllTenants = false, requestDurationHours = 24, defaultDenyData = true, defaultDenyConfig = true });
        }
    }

    [Fact]
    public async Task SupportRequestsAndLogins_AreAudited()
    {
        await GrantAsync(_john, new { });
        await EchoAsync(_acme, Basic("jill$john", JillPassword));
        using (await GetAsync(_acme, "/api/echo/x", Basic("jill$john", "wrong")))
        {
        }

        var trail = env.Gateway.Audit;
        var request = (await trail.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-request" && AuditTrail.Get(e, "url.path") == "/api/echo/whoami")).Last();
        Assert.Equal("jill$john", AuditTrail.Get(request, "user.name"));
        Assert.Equal("jill", AuditTrail.Get(request, "user.id"));
        Assert.Equal("john", AuditTrail.Get(request, "user.target.name"));
        Assert.Equal("acme", AuditTrail.Get(request, "organization.id"));
        Assert.StartsWith("g_", AuditTrail.Get(request, "gateway.support.grant_ids"), StringComparison.Ordinal);
        Assert.Equal("allowed", AuditTrail.Get(request, "gateway.support.decision"));
        Assert.Equal("200", AuditTrail.Get(request, "http.response.status_code"));
        var failure = (await trail.WaitForAsync(e => AuditTrail.Get(e, "event.action") == "support-login" && AuditTrail.Get(e, "event.reason") == "support.login.invalid")).Last();
        Assert.Equal("failure", AuditTrail.Get(failure, "event.outcome"));
        Assert.DoesNotContain(trail.Events(), e => e.GetRawText().Contains(JillPassword, StringComparison.Ordinal));
    }

    private async Task<string> GrantAsync(string token, object body)
    {
        var tenant = token == _gina ? "globex" : "acme";
        return (await env.Api.JsonAsync(HttpMethod.Post, $"/_gateway/tenants/{tenant}/support/grants", token, body, 201)).GetProperty("id").GetString()!;
    }

    private async Task<JsonWebToken> ValidateIdentityTokenAsync(string token)
    {
        using var client = env.Gateway.Client("localhost");
        var jwks = new JsonWebKeySet(await client.GetStringAsync("/_gateway/.well-known/jwks.json"));
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = "urn:support-gateway",
            ValidAudience = "urn:support-gateway:tenant-apps",
            IssuerSigningKeys = jwks.GetSigningKeys(),
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
        });
        Assert.True(result.IsValid, result.Exception?.Message);
        return (JsonWebToken)result.SecurityToken;
    }

    /// <summary>True when the server closes or aborts the socket within the deadline.</summary>
    private static async Task<bool> ClosedWithinAsync(ClientWebSocket socket, TimeSpan deadline)
    {
        using var cts = new CancellationTokenSource(deadline);
        var buffer = new byte[256];
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return false;
        }
        catch (WebSocketException)
        {
            return true;
        }
    }
}
