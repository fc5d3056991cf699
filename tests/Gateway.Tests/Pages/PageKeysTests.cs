using System.Net;
using System.Security.Cryptography;
using System.Text;
using Gateway.Pages;
using Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Pages;

/// <summary>
/// What the gateway hands browsers (page cookie, antiforgery token) is protected under
/// <c>Secrets:EncryptionKey</c>: a second instance of the deployment (same key) reads it; an
/// instance with another key does not, and says "not signed in" / "the form expired", never 500.
/// </summary>
public sealed class PageKeysTests : IAsyncLifetime
{
    private static readonly string Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private readonly TestEnvironment _env = new()
    {
        WithRedis = true,
        TwoInstances = true,
        MintTokens = true,
        ExtraArgs = [$"--Secrets:EncryptionKey={Key}", "--Grants:StoreTimeout=00:00:02"],
    };

    public async Task InitializeAsync() => await _env.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task SignedInOnOneInstance_IsSignedInOnTheOther_AndItsFormsPostThere()
    {
        using var first = _env.Gateway.Client("acme.localhost");
        using var second = _env.SecondGateway.Client("acme.localhost");
        var onFirst = await new PageSession(first).SignInAsync("john");
        var onSecond = onFirst.On(second);

        using (var page = await onSecond.GetAsync("/_gateway/ui/"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("john", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A form rendered by the first instance, posted to the second (no affinity behind a balancer).
        var token = await onFirst.AntiforgeryTokenAsync("/_gateway/ui/");
        using var posted = await onSecond.PostAsync("/_gateway/ui?handler=Enable", new()
        {
            ["__sgw_af"] = token,
            ["Input.Reason"] = "posted to the other instance",
            ["Input.DurationHours"] = "1",
            ["Input.DenyData"] = "true",
            ["Input.DenyConfig"] = "true",
        });

        Assert.Equal(HttpStatusCode.SeeOther, posted.StatusCode);
        var grants = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/grants", _env.Ann);
        Assert.Equal("posted to the other instance", grants.GetProperty("grants").EnumerateArray().Single().GetProperty("reason").GetString());
    }

    [Fact]
    public async Task AnInstanceWithAnotherKey_ReadsNeitherCookieNorForm_AndSaysSoInWords()
    {
        await using var other = await GatewayHost.StartAsync(
            new Dictionary<string, Uri> { ["acme"] = new("http://127.0.0.1:9/"), ["globex"] = new("http://127.0.0.1:9/") },
            $"--Secrets:EncryptionKey={Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}");
        using var first = _env.Gateway.Client("acme.localhost");
        using var stranger = other.Client("acme.localhost");
        var onFirst = await new PageSession(first).SignInAsync("john");
        var token = await onFirst.AntiforgeryTokenAsync("/_gateway/ui/");
        var elsewhere = onFirst.On(stranger);

        using (var page = await elsewhere.GetAsync("/_gateway/ui/"))
        {
            Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
            Assert.StartsWith("/_gateway/ui/signin", page.Headers.Location?.OriginalString, StringComparison.Ordinal);
        }

        using var signIn = await elsewhere.PostAsync("/_gateway/ui/signin", new() { ["__sgw_af"] = token, ["user"] = "john" });
        Assert.Equal(HttpStatusCode.BadRequest, signIn.StatusCode);
        Assert.Contains("The form expired", await signIn.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public void AspNetCoresOwnKeyRing_StaysInMemory_AndTheProviderIsTheGateways()
    {
        var services = _env.Gateway.Services;
        Assert.IsType<SecretDataProtectionProvider>(services.GetRequiredService<IDataProtectionProvider>());
        // The key ring that antiforgery and authentication still start writes its unused key nowhere.
        var keyManagement = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.DataProtection.KeyManagement.KeyManagementOptions>>().Value;
        Assert.IsType<UnusedKeyRing>(keyManagement.XmlRepository);
        Assert.DoesNotContain(_env.Gateway.Logs.Entries, e => e.Category.StartsWith("Microsoft.AspNetCore.DataProtection", StringComparison.Ordinal) && e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public void Protector_RoundTrips_AndRefusesAnotherKeyPurposeOrAnyChange()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var payload = Encoding.UTF8.GetBytes("ticket of john");
        var protector = new SecretDataProtectionProvider(key).CreateProtector("cookies").CreateProtector("GatewayPages");
        var sealedValue = protector.Protect(payload);

        // Another instance with the same key reads it.
        Assert.Equal(payload, new SecretDataProtectionProvider(key).CreateProtector("cookies").CreateProtector("GatewayPages").Unprotect(sealedValue));
        Assert.NotEqual(sealedValue, protector.Protect(payload)); // a fresh nonce each time
        Assert.DoesNotContain("john", Encoding.UTF8.GetString(sealedValue), StringComparison.Ordinal);

        var refused = new (string Why, Func<byte[]> Attempt)[]
        {
            ("another key", () => new SecretDataProtectionProvider(RandomNumberGenerator.GetBytes(32)).CreateProtector("cookies").CreateProtector("GatewayPages").Unprotect(sealedValue)),
            ("another purpose", () => new SecretDataProtectionProvider(key).CreateProtector("antiforgery").Unprotect(sealedValue)),
            ("the purposes joined differently", () => new SecretDataProtectionProvider(key).CreateProtector("cookiesG").CreateProtector("atewayPages").Unprotect(sealedValue)),
            ("a parent purpose", () => new SecretDataProtectionProvider(key).CreateProtector("cookies").Unprotect(sealedValue)),
            ("a flipped bit", () => protector.Unprotect(Flip(sealedValue, sealedValue.Length / 2))),
            ("another version byte", () => protector.Unprotect(Flip(sealedValue, 0))),
            ("a cut value", () => protector.Unprotect(sealedValue[..20])),
        };
        foreach (var (why, attempt) in refused)
        {
            Assert.True(Record.Exception(attempt) is CryptographicException, why);
        }

        Assert.Throws<ArgumentException>(() => new SecretDataProtectionProvider(new byte[16]));
    }

    private static byte[] Flip(byte[] value, int index)
    {
        var copy = (byte[])value.Clone();
        copy[index] ^= 0x01;
        return copy;
    }
}
