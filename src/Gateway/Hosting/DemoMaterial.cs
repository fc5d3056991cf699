using System.Net;
using Gateway.Authentication;
using Gateway.Management;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// Secrets that ship with the repository for the demo and must never protect a real deployment:
/// the demo management issuer key, the demo support users' password hashes, a session signing
/// key generated at start, the in-process sample apps. With <c>Gateway:Production</c> each is an
/// error at start-up (most through their own options validators); without it they are accepted
/// only while the gateway listens on loopback addresses alone.
/// </summary>
internal static class DemoMaterial
{
    /// <summary>The password hashes of <c>config/support-users.json</c> (a test keeps this list equal to the file).</summary>
    public static readonly IReadOnlyList<string> PasswordHashes =
    [
        "pbkdf2-sha256$600000$383JXN8h6yuYpe0zKHsJsA==$6RfL/OjOJYJxIB4S6duj0iehcfDMm5yNEWPO31qbcOU=",
        "pbkdf2-sha256$600000$Y4jnE/rzpoR9Q6+pRE0uNQ==$Rs+l7cK7vZamJi/MHPbTL2L47UnLL94bjCtxPN7uuQs=",
    ];

    public static bool IsDemoPasswordHash(string hash) => PasswordHashes.Contains(hash, StringComparer.Ordinal);

    /// <summary>What of the demo material this configuration trusts, each named by its key.</summary>
    public static List<string> InUse(IServiceProvider services, IConfiguration configuration)
    {
        var found = new List<string>();
        foreach (var (name, issuer) in services.GetRequiredService<IOptions<ManagementOptions>>().Value.Issuers)
        {
            if (!string.IsNullOrWhiteSpace(issuer.SigningKey) && ManagementDemoKeys.IsDemoSigningKey(issuer.SigningKey))
            {
                found.Add($"Management:Issuers:{name}:SigningKey (the demo issuer key shipped with the gateway)");
            }
        }

        if (string.IsNullOrWhiteSpace(services.GetRequiredService<IOptions<SupportOptions>>().Value.SigningKeyPem))
        {
            found.Add("Support:SigningKeyPem (empty: a key generated at start)");
        }

        if (string.IsNullOrWhiteSpace(services.GetRequiredService<IOptions<SecretsOptions>>().Value.EncryptionKey))
        {
            found.Add("Secrets:EncryptionKey (empty: the demo key encrypts TOTP secrets)");
        }

        if (string.IsNullOrWhiteSpace(services.GetRequiredService<IOptions<Auditing.AuditOptions>>().Value.Integrity.SigningKeyPem))
        {
            found.Add("Audit:Integrity:SigningKeyPem (empty: a key generated at start)");
        }

        var directory = services.GetRequiredService<SupportUserDirectory>();
        foreach (var user in directory.Users.Where(u => IsDemoPasswordHash(u.PasswordHash)).OrderBy(u => u.Name, StringComparer.Ordinal))
        {
            found.Add($"{Path.GetFileName(directory.FilePath)}: SupportUsers:Users:{user.Name}:PasswordHash (a demo password)");
        }

        if (configuration.GetValue<bool>("Gateway:Demo:HostSampleApps"))
        {
            found.Add("Gateway:Demo:HostSampleApps (in-process sample apps)");
        }

        return found;
    }

    /// <summary>
    /// The addresses the configuration asks to listen on (<c>Urls</c>, <c>--urls</c>,
    /// <c>ASPNETCORE_URLS</c>, <c>ASPNETCORE_HTTP(S)_PORTS</c>) that are not loopback.
    /// </summary>
    public static List<string> NonLoopbackListenAddresses(IConfiguration configuration)
    {
        var result = new List<string>();
        var urls = configuration["urls"];
        if (string.IsNullOrWhiteSpace(urls))
        {
            // Port-only settings bind every interface.
            foreach (var key in new[] { "http_ports", "https_ports" })
            {
                if (!string.IsNullOrWhiteSpace(configuration[key]))
                {
                    result.Add($"port(s) {configuration[key]} on every interface ({key.ToUpperInvariant()})");
                }
            }

            return result;
        }

        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IsLoopback(url))
            {
                result.Add(url);
            }
        }

        return result;
    }

    private static bool IsLoopback(string url)
    {
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        var rest = schemeEnd < 0 ? url : url[(schemeEnd + 3)..];
        var hostEnd = rest.StartsWith('[') ? rest.IndexOf(']', StringComparison.Ordinal) + 1 : rest.IndexOfAny([':', '/']);
        var host = hostEnd <= 0 ? rest : rest[..hostEnd];
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
    }
}
