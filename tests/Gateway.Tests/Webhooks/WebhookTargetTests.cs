using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Gateway.Authentication;
using Gateway.Tests.Infrastructure;
using Gateway.Webhooks;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Tests.Webhooks;

/// <summary>
/// Where webhooks may go. A gateway marked production refuses targets inside anyone's network at
/// registration (literal addresses, and names resolving there), and the sender refuses them again
/// at connect time, on the address it is about to connect to, so a name that resolves elsewhere
/// later gains nothing. Outside production (the demo, the tests) loopback is fine. Each attempt is
/// bounded in time.
/// </summary>
public sealed class WebhookTargetTests : IAsyncLifetime
{
    private const string Issuer = "https://login.example.com/realms/ops";
    private const string Audience = "support-gateway-management";
    private readonly TempConfigDirectory _config = new();
    private readonly OidcSigningKey _key = OidcSigningKey.Create(SecurityAlgorithms.EcdsaSha256);
    private GatewayHost _gateway = null!;
    private ManagementClient _api = null!;

    public async Task InitializeAsync()
    {
        _config.WriteSupportUsers(("ops-admin", "a-fresh-password-for-this-test"));
        using var support = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var audit = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _gateway = await GatewayHost.StartAsync(_config, new Dictionary<string, Uri>(),
        [
            "--Gateway:Production=true",
            "--Grants:SingleInstanceInMemoryStore=true",
            $"--Support:SigningKeyPem={support.ExportPkcs8PrivateKeyPem()}",
            $"--Audit:Integrity:SigningKeyPem={audit.ExportPkcs8PrivateKeyPem()}",
            $"--Secrets:EncryptionKey={Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}",
            "--Management:Issuers:demo:SigningKey=",
            "--Management:Issuers:demo:KeyId=" + _key.KeyId,
            $"--Management:Issuers:demo:Issuer={Issuer}",
            $"--Management:Issuers:demo:Audience={Audience}",
            $"--Management:Issuers:demo:PublicKeyPem={_key.PublicKeyPem()}",
            "--Webhooks:AllowedPrivateNetworks:0=10.20.0.0/16",
        ]);
        _api = new ManagementClient(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _key.Dispose();
        _config.Dispose();
    }

    [Theory]
    [InlineData("https://127.0.0.1/hook")]
    [InlineData("https://127.3.4.5:8443/hook")]
    [InlineData("https://10.1.2.3/hook")]
    [InlineData("https://172.16.0.9/hook")]
    [InlineData("https://192.168.1.1/hook")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://100.64.0.1/hook")]
    [InlineData("https://0.0.0.0/hook")]
    [InlineData("https://[::1]/hook")]
    [InlineData("https://[::]/hook")]
    [InlineData("https://[fe80::1]/hook")]
    [InlineData("https://[fd00::1]/hook")]
    [InlineData("https://[::ffff:127.0.0.1]/hook")]
    [InlineData("https://[::ffff:10.0.0.1]/hook")]
    [InlineData("https://localhost/hook")]
    [InlineData("https://10.21.0.1/hook")]
    public async Task Production_RefusesInternalTargets_AtRegistration(string url)
    {
        var code = await _api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/webhooks", Token(), new { url, events = new[] { "session.started" } }, expectedStatus: 400);

        Assert.Equal("webhook.target_forbidden", code);
    }

    [Fact]
    public async Task Production_RequiresHttps()
    {
        var code = await _api.ProblemCodeAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/webhooks", Token(), new { url = "http://hooks.example.com/", events = new[] { "session.started" } }, expectedStatus: 400);

        Assert.Equal("webhook.https_required", code);
    }

    [Theory]
    [InlineData("https://203.0.113.10/hook")]
    [InlineData("https://10.20.7.7/hook")] // Webhooks:AllowedPrivateNetworks
    public async Task Production_AcceptsPublicAndExplicitlyAllowedTargets(string url)
    {
        await _api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/webhooks", Token(), new { url, events = new[] { "session.started" } }, 201);
    }

    [Fact]
    public async Task Sender_InProduction_RefusesAtConnectTime_ANameThatResolvesToLoopback()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var url = $"http://localhost:{receiver.Port}/hooks";

        var refused = await SendAsync(url, new WebhooksOptions(), production: true);

        Assert.False(refused.Delivered);
        Assert.StartsWith("target refused: localhost resolved to", refused.Error, StringComparison.Ordinal);
        Assert.Contains("loopback", refused.Error, StringComparison.Ordinal);
        Assert.Empty(receiver.Received);

        // The same send where loopback is allowed arrives: the refusal above was the rule, not a broken URL.
        Assert.True((await SendAsync(url, new WebhooksOptions { AllowPrivateTargets = true }, production: true)).Delivered);
        Assert.True((await SendAsync(url, new WebhooksOptions { AllowedPrivateNetworks = ["127.0.0.0/8", "::1/128"] }, production: true)).Delivered);
        Assert.True((await SendAsync(url, new WebhooksOptions(), production: false)).Delivered);
        Assert.Equal(3, receiver.Received.Count);
    }

    [Fact]
    public async Task Sender_GivesUpAfterTheAttemptTimeout_AndReadsLittleOfAFailure()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Hold = true;

        var slow = await SendAsync(receiver.Url, new WebhooksOptions { AttemptTimeout = TimeSpan.FromSeconds(1) }, production: false);

        Assert.False(slow.Delivered);
        Assert.Equal("no answer within 1 s", slow.Error);
        Assert.Single(receiver.Received);

        receiver.ReleaseHeld();
        receiver.Status = _ => 500;
        var failed = await SendAsync(receiver.Url, new WebhooksOptions(), production: false);
        Assert.Equal((false, 500, "HTTP 500: answer 500"), (failed.Delivered, failed.StatusCode, failed.Error));
    }

    private static async Task<AttemptResult> SendAsync(string url, WebhooksOptions options, bool production)
    {
        var protector = new SecretProtector((string?)null);
        var secrets = new WebhookSecrets(protector);
        using var sender = new WebhookSender(new WebhookTargets(options, production), secrets, Options.Create(options), TimeProvider.System);
        var (_, key) = WebhookSignature.NewSecret();
        var registration = new WebhookRegistration
        {
            Id = WebhookIds.NewWebhookId(),
            Tenant = "acme",
            Url = url,
            Events = ["session.started"],
            CreatedBy = "ann",
            CreatedAt = DateTimeOffset.UtcNow,
            Secret = "",
        };
        registration = registration with { Secret = secrets.Protect(key, registration.Id) };
        var delivery = new WebhookDelivery
        {
            Id = "msg_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)),
            WebhookId = registration.Id,
            EventId = WebhookIds.NewEventId(),
            EventType = "session.started",
            EventTenant = "acme",
            CreatedAt = DateTimeOffset.UtcNow,
            RetryingSince = DateTimeOffset.UtcNow,
        };
        return await sender.SendAsync(new ClaimedDelivery(delivery, """{"type":"session.started"}""", registration, "lease"), CancellationToken.None);
    }

    private string Token()
    {
        var now = DateTimeOffset.UtcNow;
        var payload = new JsonObject
        {
            ["iss"] = Issuer, ["aud"] = Audience, ["sub"] = "ann", ["tenant"] = "acme", ["roles"] = new JsonArray("tenant-admin"),
            ["iat"] = now.ToUnixTimeSeconds(), ["exp"] = now.AddMinutes(5).ToUnixTimeSeconds(),
        };
        return new JsonWebTokenHandler().CreateToken(payload.ToJsonString(), _key.Credentials);
    }
}
