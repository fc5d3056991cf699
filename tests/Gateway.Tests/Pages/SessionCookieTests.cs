using Gateway.Authentication;
using Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Pages;

/// <summary><c>Support:CookieSecure</c>: Secure as the request outside production (the http demo), always Secure in production.</summary>
public sealed class SessionCookieTests
{
    [Theory]
    [InlineData(true, CookieSecurePolicy.SameAsRequest, "must be Always in a configuration marked Gateway:Production")]
    [InlineData(false, CookieSecurePolicy.None, "Always or SameAsRequest")]
    [InlineData(true, CookieSecurePolicy.Always, null)]
    [InlineData(false, CookieSecurePolicy.SameAsRequest, null)]
    public void Validator_AllowsPlainHttpCookiesOnlyOutsideProduction(bool production, CookieSecurePolicy policy, string? error)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:Production"] = production.ToString(),
            ["Support:SigningKeyPem"] = "",
        }).Build();

        var result = new SupportOptionsValidator(configuration).Validate(null, new SupportOptions { CookieSecure = policy, SigningKeyPem = production ? TestKeyPem : null });

        if (error is null)
        {
            Assert.True(result.Succeeded, result.FailureMessage);
        }
        else
        {
            Assert.Contains(error, result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task CookieSecureAlways_MarksTheCookieSecure_EvenOnPlainHttp()
    {
        await using var env = await new TestEnvironment { MintTokens = true, ExtraArgs = ["--Support:CookieSecure=Always"] }.StartAsync();
        await env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", env.John, new { }, 201);
        using var acme = env.Gateway.Client("acme.localhost");

        using var response = await SignInForm.PostAsync(acme, "jill$john", JillPassword);

        Assert.Contains("; secure", SignInForm.SessionCookie(response), StringComparison.OrdinalIgnoreCase);
    }

    private static readonly string TestKeyPem = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256).ExportPkcs8PrivateKeyPem();
}
