using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Auditing;
using Gateway.Tests.Infrastructure;
using Microsoft.IdentityModel.JsonWebTokens;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Authentication;

/// <summary>The smaller findings of an abuse review: probes, non-ASCII names, numeric enums, ';' in queries, password changes.</summary>
public sealed class EdgeCaseTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        _env = await new TestEnvironment
        {
            Backends = TestBackends.Shared,
            MintTokens = true,
            ExtraArgs = ["--Support:FailedLoginsPerClient=3"],
        }.StartAsync();
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
    }

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task AmbiguousProbes_AreAuditedWithTheClaimedName_AndCountAgainstTheClient()
    {
        using var client = _env.Gateway.Client("acme.localhost");
        for (var i = 0; i < 3; i++)
        {
            using var probe = await GetAsync(client, $"/api/echo/..%2f{i}", Basic("jill$john", "any"));
            Assert.Equal("support.request.ambiguous", await ManagementClient.ProblemCodeAsync(probe, 400));
        }

        var audited = await _env.Gateway.Audit.WaitForAsync(e => AuditTrail.Get(e, "event.reason") == "support.request.ambiguous", count: 3);
        Assert.All(audited, e =>
        {
            Assert.Equal("jill$john", AuditTrail.Get(e, "user.name"));
            Assert.Equal("false", AuditTrail.Get(e, "gateway.details.userNameVerified"));
        });

        // The client's budget is spent by the probes: even the right password waits now.
        using var login = await GetAsync(client, "/api/echo/x", Basic("jill$john", JillPassword));
        Assert.Equal("support.login.rate_limited", await ManagementClient.ProblemCodeAsync(login, 429));
    }

    [Fact]
    public async Task NonAsciiTargetUser_IsForwardedEncoded_NeverA502()
    {
        using var client = _env.Gateway.Client("acme.localhost");

        var echo = await EchoAsync(client, Basic("jill$jörg", JillPassword));

        Assert.Equal("UTF-8''j%C3%B6rg", Header(echo, "X-Gateway-User"));
        var identity = new JsonWebToken(Header(echo, "X-Gateway-Identity"));
        Assert.Equal("jörg", identity.Subject);
    }

    [Theory]
    [InlineData("""{"mode":3}""")]
    [InlineData("""{"mode":1}""")]
    [InlineData("""{"mode":"2"}""")]
    public async Task NumericEnumValues_AreRefused(string body)
    {
        using var response = await _env.Api.SendAsync(HttpMethod.Put, "/_gateway/platform/tenants/acme/support", _env.Olivia, rawBody: body);

        Assert.Equal("request.invalid", await ManagementClient.ProblemCodeAsync(response, 400));
    }

    [Theory]
    [InlineData("a=1;token=secret", "a=1;token=REDACTED")]
    [InlineData("a=1&token=secret;b=2", "a=1&token=REDACTED;b=2")]
    [InlineData("x=1;;password=p&y", "x=1;;password=REDACTED&y")]
    public void QueryRedaction_SplitsOnSemicolonsToo(string query, string expected)
    {
        Assert.Equal(expected, ProxyAuditMiddleware.RedactQuery(query));
    }

    [Fact]
    public async Task PasswordChange_EndsTheUsersSessions()
    {
        using var client = _env.Gateway.Client("acme.localhost");
        var (token, _, _) = await LoginAsync(client, "jill$john", JillPassword);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        await EchoAsync(client, bearer);

        var directory = Path.Combine(_env.Gateway.Config.Path, "support-users.json");
        var users = JsonNode.Parse(File.ReadAllText(directory))!;
        users["SupportUsers"]!["Users"]!["jill"]!["PasswordHash"] = Gateway.Authentication.PasswordHasher.Hash("a-new-password", Gateway.Authentication.SupportUserDirectoryParser.MinIterations);
        var reloaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var store = _env.Gateway.Services.GetService(typeof(Gateway.Authentication.SupportUserDirectory)) as Gateway.Authentication.SupportUserDirectory;
        store!.Applied += _ => reloaded.TrySetResult();
        File.WriteAllText(directory + ".tmp", users.ToJsonString());
        File.Move(directory + ".tmp", directory, overwrite: true);
        await reloaded.Task.WaitAsync(TimeSpan.FromSeconds(30));

        using var old = await GetAsync(client, "/api/echo/x", bearer);
        Assert.Equal("support.session.ended", await ManagementClient.ProblemCodeAsync(old, 401));
        var echo = await EchoAsync(client, Basic("jill$john", "a-new-password"));
        Assert.Equal("jill", Header(echo, "X-Gateway-Support-User"));
    }
}
