namespace Gateway.Management;

/// <summary>Who may call the management API (section <c>Management</c>).</summary>
internal sealed class ManagementOptions
{
    public const string SectionName = "Management";

    /// <summary>Trusted token issuers by name. A token is checked against its own issuer's audience and keys only.</summary>
    public Dictionary<string, ManagementIssuerOptions> Issuers { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Lifetime of tokens printed by the <c>token</c> CLI verb.</summary>
    public TimeSpan DemoTokenLifetime { get; init; } = TimeSpan.FromHours(8);

    /// <summary>Largest management request body accepted.</summary>
    public int MaxRequestBodyBytes { get; init; } = 16 * 1024;

    /// <summary>
    /// Longest wait for an issuer's discovery document or JWKS. The fetch is shared by every
    /// request waiting for that issuer's keys, so it is bounded by this, not by one caller.
    /// </summary>
    public TimeSpan MetadataTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// One trusted issuer. Its keys come from exactly one of <see cref="SigningKey"/> (demo),
/// <see cref="PublicKeyPem"/>, <see cref="Authority"/> or <see cref="MetadataAddress"/> (OIDC discovery).
/// </summary>
internal sealed class ManagementIssuerOptions
{
    /// <summary>
    /// The exact <c>iss</c> claim. Required for every kind of issuer: a discovery issuer's
    /// document must name this same issuer, or its keys are not used.
    /// </summary>
    public string Issuer { get; init; } = "";

    /// <summary>The <c>aud</c> the token must carry.</summary>
    public string Audience { get; init; } = "";

    /// <summary>
    /// A base64 HMAC-SHA256 key (at least 32 bytes). For the demo and development only: it is
    /// refused in a configuration marked <c>Gateway:Production</c>. The <c>token</c> verb signs with it.
    /// </summary>
    public string? SigningKey { get; init; }

    /// <summary>The issuer's public key (PEM, EC P-256 for ES256 or RSA for RS256): a static production key.</summary>
    public string? PublicKeyPem { get; init; }

    /// <summary>Optional <c>kid</c> of <see cref="SigningKey"/> or <see cref="PublicKeyPem"/>.</summary>
    public string? KeyId { get; init; }

    /// <summary>
    /// OIDC discovery: the keys come from <c>{Authority}/.well-known/openid-configuration</c> and its
    /// <c>jwks_uri</c>, cached and refreshed on rotation (a token with an unknown <c>kid</c>).
    /// </summary>
    public string? Authority { get; init; }

    /// <summary>OIDC discovery from an explicit document address (instead of <see cref="Authority"/>).</summary>
    public string? MetadataAddress { get; init; }

    /// <summary>
    /// Discovery documents and JWKS only over https (default). <c>false</c> is for tests and local
    /// development; it is refused in a configuration marked <c>Gateway:Production</c>.
    /// </summary>
    public bool RequireHttpsMetadata { get; init; } = true;

    /// <summary>
    /// Least time between two refreshes caused by tokens with an unknown <c>kid</c> (as
    /// JwtBearer's <c>RefreshInterval</c>), so forged <c>kid</c>s cannot make the gateway hammer the issuer.
    /// </summary>
    public TimeSpan RefreshInterval { get; init; } = Microsoft.IdentityModel.Tokens.BaseConfigurationManager.DefaultRefreshInterval;

    /// <summary>How often the discovery document and JWKS are re-read anyway (as JwtBearer's <c>AutomaticRefreshInterval</c>).</summary>
    public TimeSpan AutomaticRefreshInterval { get; init; } = Microsoft.IdentityModel.Tokens.BaseConfigurationManager.DefaultAutomaticRefreshInterval;

    /// <summary>Where this issuer's tokens carry the caller's subject, tenant and roles.</summary>
    public ManagementClaimOptions Claims { get; init; } = new();

    /// <summary>
    /// The issuer's role values → gateway roles (<c>platform-admin</c>, <c>tenant-admin</c>,
    /// <c>tenant-user</c>). When given, roles it does not list are ignored; when absent, the
    /// token's roles are taken as they are (only the gateway's own role names mean anything).
    /// </summary>
    public Dictionary<string, string> RoleMap { get; init; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The one gateway tenant this issuer belongs to (e.g. one Keycloak realm per tenant): its
    /// tokens are for this tenant whatever their claims say, and never carry <c>platform-admin</c>.
    /// </summary>
    public string? Tenant { get; init; }

    /// <summary>
    /// The client id of the self-service pages at this issuer (authorization code flow with PKCE).
    /// When set on a discovery issuer, the sign-in page offers "Sign in with {name}".
    /// </summary>
    public string? PagesClientId { get; init; }

    /// <summary>The pages' client secret, for a provider that requires one besides PKCE (a confidential client).</summary>
    public string? PagesClientSecret { get; init; }

    /// <summary>The name the sign-in page's button shows (default: the issuer's configuration name).</summary>
    public string? DisplayName { get; init; }

    /// <summary>The document OIDC discovery reads, or null for an issuer with a static key.</summary>
    public string? DiscoveryDocumentAddress() =>
        !string.IsNullOrWhiteSpace(MetadataAddress) ? MetadataAddress
        : !string.IsNullOrWhiteSpace(Authority) ? Authority.TrimEnd('/') + "/.well-known/openid-configuration"
        : null;
}

/// <summary>
/// Claim names (or dotted paths into JSON object claims, such as Keycloak's <c>realm_access.roles</c>)
/// that carry the caller's identity in one issuer's tokens.
/// </summary>
internal sealed class ManagementClaimOptions
{
    public string Subject { get; init; } = "sub";

    public string Tenant { get; init; } = "tenant";

    public string Roles { get; init; } = "roles";
}
