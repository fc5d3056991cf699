using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Gateway.Tests.Cli;
using Gateway.Tests.Infrastructure;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Hosting;

/// <summary>
/// The README's Production steps, as far as this machine can follow them: <c>init</c> writes a
/// deployment directory; the gateway binary runs on it as compose runs it (its config directory,
/// its secrets directory, <c>Gateway:Production</c>), with only what compose's network supplies
/// replaced by loopback servers (Redis, Elasticsearch, the tenant app) and the operator's own
/// identity provider key filled in. Nothing committed to the repository is trusted: the demo
/// issuer's key, the demo support passwords and a session token signed by another process's
/// generated key are all refused, while the deployment's own credentials work.
/// </summary>
public sealed class ProductionShapeTests : IAsyncLifetime
{
    private const string Issuer = "https://idp.example.test/realms/ops";
    private const string Audience = "support-gateway";

    private readonly string _deployment = Path.Combine(Directory.CreateTempSubdirectory("gateway-deploy-").FullName, "deploy");
    private readonly ECDsa _idpKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private RedisServer _redis = null!;
    private ElasticsearchDouble _elasticsearch = null!;
    private SampleBackend _app = null!;
    private GatewayProcess _gateway = null!;
    private string _adminPassword = null!;
    private OtpNet.Totp _adminTotp = null!;
    private Uri _address = null!;

    public async Task InitializeAsync()
    {
        var init = await CliRunner.RunAsync("init", "--out", _deployment, "--tenant", "acme", "--host", "acme.localhost");
        Assert.True(init.Exit == 0, init.Error);
        _adminPassword = init.Output.Split('\n').Single(l => l.StartsWith("Password of support admin 'admin': ", StringComparison.Ordinal))
            .Split(": ", 2)[1].Trim();

        // Production requires a second factor of every support user: enrol the admin as an operator would.
        var secretsEnvironment = new Dictionary<string, string> { ["GATEWAY_SECRETS_DIR"] = Path.Combine(_deployment, "secrets") };
        await using (var enroll = GatewayProcess.Start(["mfa", "enroll", "admin", "--config-dir", Path.Combine(_deployment, "config")], secretsEnvironment))
        {
            Assert.True(await enroll.WaitForExitAsync() == 0, enroll.StandardError);
            var uri = new Uri(enroll.StandardOutput.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("otpauth://", StringComparison.Ordinal)));
            var secret = System.Web.HttpUtility.ParseQueryString(uri.Query)["secret"]!;
            _adminTotp = new OtpNet.Totp(OtpNet.Base32Encoding.ToBytes(secret));
        }

        _redis = await RedisServer.StartAsync();
        _elasticsearch = await ElasticsearchDouble.StartAsync();
        _app = await SampleBackend.StartAsync("acme");
        _gateway = GatewayProcess.Start(
            ["--config-dir", Path.Combine(_deployment, "config"), "--urls", "http://127.0.0.1:0"],
            new Dictionary<string, string>
            {
                // As compose hands them to the container: the secrets directory, key per file.
                ["GATEWAY_SECRETS_DIR"] = Path.Combine(_deployment, "secrets"),
                // What the operator fills in (README step 3): their identity provider.
                ["Management__Issuers__main__Issuer"] = Issuer,
                ["Management__Issuers__main__Audience"] = Audience,
                ["Management__Issuers__main__PublicKeyPem"] = _idpKey.ExportSubjectPublicKeyInfoPem(),
                // What compose's network supplies, on loopback here.
                ["Redis__Configuration"] = _redis.ConnectionString,
                ["Audit__Elasticsearch__Url"] = _elasticsearch.Url.ToString(),
                ["ReverseProxy__Clusters__acme__Destinations__primary__Address"] = _app.Address.ToString(),
            });
        _address = await _gateway.ListeningAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _app.DisposeAsync();
        await _elasticsearch.DisposeAsync();
        await _redis.DisposeAsync();
        _idpKey.Dispose();
        Directory.Delete(Path.GetDirectoryName(_deployment)!, recursive: true);
    }

    [Fact]
    public async Task NothingCommittedIsTrusted_TheDeploymentsOwnCredentialsAre()
    {
        using var api = LoopbackHttp.Client(_address.Port, "acme.localhost");

        // The demo issuer's key (committed in config/gateway.json) mints nothing this gateway accepts.
        var demoToken = await ManagementClient.MintTokenAsync(RepoPaths.ConfigDir, "john", "tenant-user", "acme");
        Assert.Equal("management.unauthenticated", await ProblemAsync(api, HttpMethod.Post, "/_gateway/tenants/acme/support/grants", demoToken, 401));

        // The operator's identity provider does.
        var john = IdpToken("john", "tenant-user", "acme");
        using (var grant = await SendAsync(api, HttpMethod.Post, "/_gateway/tenants/acme/support/grants", john, "{\"denyData\":false}"))
        {
            Assert.Equal(HttpStatusCode.Created, grant.StatusCode);
        }

        // The demo support users and their passwords (committed) are unknown here.
        foreach (var (name, password) in new[] { ("jill$john", JillPassword), ("sam$john", SamPassword) })
        {
            using var demo = await SupportClient.GetAsync(api, "/api/orders", Basic(name, password));
            Assert.Equal("support.login.invalid", await ManagementClient.ProblemCodeAsync(demo, 401));
        }

        // A session token signed by another process's generated key (a demo gateway's) is refused.
        await using (var demoGateway = await new TestEnvironment { Backends = TestBackends.Shared, MintTokens = true }.StartAsync())
        {
            await demoGateway.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", demoGateway.John, new { denyData = false }, 201);
            using var demoClient = demoGateway.Gateway.Client("acme.localhost");
            var (foreignToken, _, _) = await LoginAsync(demoClient, "jill$john", JillPassword);
            using var foreign = await SupportClient.GetAsync(api, "/api/orders", new AuthenticationHeaderValue("Bearer", foreignToken));
            Assert.Equal("support.session.invalid", await ManagementClient.ProblemCodeAsync(foreign, 401));
        }

        // The deployment's own first support admin (its password printed once by init, its code from
        // the authenticator enrolled above) works.
        using var login = await api.PostAsync("/_gateway/support/login", new StringContent(
            System.Text.Json.JsonSerializer.Serialize(new { username = "admin$john", password = _adminPassword, otp = _adminTotp.ComputeTotp() }),
            System.Text.Encoding.UTF8, "application/json"));
        Assert.True(login.IsSuccessStatusCode, await login.Content.ReadAsStringAsync());
        var token = JsonNode.Parse(await login.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
        using var own = await SupportClient.GetAsync(api, "/api/orders", new AuthenticationHeaderValue("Bearer", token));
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);

        // And anonymous health says only the status.
        using var health = await api.GetAsync("/_gateway/health/ready");
        var body = JsonNode.Parse(await health.Content.ReadAsStringAsync())!.AsObject();
        Assert.Equal(["status"], body.Select(p => p.Key));
    }

    private string IdpToken(string user, string role, string tenant)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddMinutes(10),
            Claims = new Dictionary<string, object> { ["sub"] = user, ["tenant"] = tenant, ["roles"] = new[] { role } },
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(_idpKey), SecurityAlgorithms.EcdsaSha256),
        });
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string token, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (json is not null)
        {
            request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        }

        return await client.SendAsync(request);
    }

    private static async Task<string> ProblemAsync(HttpClient client, HttpMethod method, string path, string token, int status)
    {
        using var response = await SendAsync(client, method, path, token, "{}");
        return await ManagementClient.ProblemCodeAsync(response, status);
    }
}
