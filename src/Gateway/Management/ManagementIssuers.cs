using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Management;

/// <summary>One trusted issuer: its options, and where its signing keys come from.</summary>
internal sealed class ManagementIssuer
{
    private readonly SecurityKey? _staticKey;

    public ManagementIssuer(string name, ManagementIssuerOptions options, SecurityKey? staticKey, DiscoveryKeySource? discovery)
    {
        Name = name;
        Options = options;
        _staticKey = staticKey;
        Discovery = discovery;
        // One algorithm per static key; asymmetric ones only for keys from a JWKS.
        Algorithms = staticKey is not null
            ? [ManagementKeys.AlgorithmFor(staticKey)]
            : [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256];
    }

    public string Name { get; }

    public ManagementIssuerOptions Options { get; }

    public DiscoveryKeySource? Discovery { get; }

    public IReadOnlyList<string> Algorithms { get; }

    public async Task<IReadOnlyCollection<SecurityKey>> GetSigningKeysAsync(string? keyId, CancellationToken cancellationToken) =>
        Discovery is not null ? await Discovery.GetSigningKeysAsync(keyId, cancellationToken) : [_staticKey!];
}

/// <summary>
/// The configured issuers by their exact <c>iss</c>, built once from validated options. Each
/// discovery issuer has its own key source, so keys of one issuer never vouch for another.
/// </summary>
internal sealed class ManagementIssuers : IDisposable
{
    private readonly Dictionary<string, ManagementIssuer> _byIssuer;
    private readonly HttpClient _metadata;

    public ManagementIssuers(IOptions<ManagementOptions> options, TimeProvider time, ILoggerFactory loggers)
    {
        var management = options.Value;
        var logger = loggers.CreateLogger<ManagementIssuers>();
        _metadata = new HttpClient { Timeout = management.MetadataTimeout };
        _byIssuer = new Dictionary<string, ManagementIssuer>(StringComparer.Ordinal);
        foreach (var (name, issuer) in management.Issuers)
        {
            _byIssuer[issuer.Issuer] = issuer.DiscoveryDocumentAddress() is not null
                ? new ManagementIssuer(name, issuer, null, new DiscoveryKeySource(name, issuer, _metadata, time, logger))
                : new ManagementIssuer(name, issuer, StaticKey(issuer), null);
        }
    }

    public bool TryGet(string? issuer, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ManagementIssuer? found)
    {
        found = null;
        return issuer is not null && _byIssuer.TryGetValue(issuer, out found);
    }

    public void Dispose()
    {
        foreach (var issuer in _byIssuer.Values)
        {
            issuer.Discovery?.Dispose();
        }

        _metadata.Dispose();
    }

    private static SecurityKey StaticKey(ManagementIssuerOptions issuer) =>
        !string.IsNullOrWhiteSpace(issuer.SigningKey)
            ? ManagementKeys.SymmetricKey(issuer)
            : ManagementKeys.TryImportPublicKey(issuer.PublicKeyPem!, issuer.KeyId)!;
}
