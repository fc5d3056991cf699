using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// An OpenID Connect provider as the gateway meets it: a real Kestrel app on a free loopback
/// port serving <c>{Authority}/.well-known/openid-configuration</c> and its JWKS, holding real
/// RS256 and ES256 keys. Tests mint tokens with chosen claims, rotate the signing key (a new
/// <c>kid</c>; the old key leaves the JWKS but stays available to mint refused tokens with),
/// make the metadata unavailable, and count the fetches.
/// </summary>
/// <remarks>
/// The authorization-code + PKCE flow (<c>authorize</c>, <c>token</c>) lives in
/// <c>OidcProviderDouble.Flow.cs</c>, through <see cref="MapFlowEndpoints"/> (mapped under the
/// authority's path, beside the metadata) and <see cref="AddFlowMetadata"/> (the discovery entries).
/// Its token endpoint mints with <see cref="Mint"/>, so its tokens are signed like every other token
/// of this provider.
/// </remarks>
internal sealed partial class OidcProviderDouble : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly object _gate = new();
    private readonly List<OidcSigningKey> _published = [];
    private readonly List<OidcSigningKey> _created = [];
    private int _discoveryFetches;
    private int _jwksFetches;

    private OidcProviderDouble(WebApplication app, Uri authority, string issuer)
    {
        _app = app;
        Authority = authority;
        Issuer = issuer;
    }

    /// <summary>The authority the gateway is configured with (no trailing slash).</summary>
    public Uri Authority { get; }

    /// <summary>The <c>iss</c> of this provider's tokens and of its discovery document.</summary>
    public string Issuer { get; }

    public string MetadataAddress => $"{Authority.AbsoluteUri.TrimEnd('/')}/.well-known/openid-configuration";

    public string JwksAddress => $"{Authority.AbsoluteUri.TrimEnd('/')}/protocol/openid-connect/certs";

    /// <summary>The key new tokens are signed with (the last one published).</summary>
    public OidcSigningKey CurrentKey
    {
        get
        {
            lock (_gate)
            {
                return _published[^1];
            }
        }
    }

    public int DiscoveryFetches => Volatile.Read(ref _discoveryFetches);

    public int JwksFetches => Volatile.Read(ref _jwksFetches);

    /// <summary>While set, the discovery document and the JWKS answer 503 (a provider that is down).</summary>
    public bool Unavailable { get; set; }

    /// <summary>When set, the discovery document names this issuer instead of <see cref="Issuer"/>.</summary>
    public string? DocumentIssuer { get; set; }

    /// <summary>
    /// Starts a provider whose authority is <c>http://127.0.0.1:{port}{path}</c>. Its issuer is the
    /// authority, with a trailing slash when <paramref name="issuerWithTrailingSlash"/> (as Auth0 writes it).
    /// </summary>
    public static async Task<OidcProviderDouble> StartAsync(string path = "", string algorithm = SecurityAlgorithms.RsaSha256, bool issuerWithTrailingSlash = false)
    {
        var port = LoopbackPorts.Reserve();
        var authority = new Uri($"http://127.0.0.1:{port}{path.TrimEnd('/')}");
        var issuer = authority.AbsoluteUri.TrimEnd('/') + (issuerWithTrailingSlash ? "/" : "");

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var provider = new OidcProviderDouble(app, authority, issuer);
        provider.Publish(OidcSigningKey.Create(algorithm));

        var endpoints = app.MapGroup(authority.AbsolutePath.TrimEnd('/'));
        endpoints.MapGet("/.well-known/openid-configuration", provider.DiscoveryAsync);
        endpoints.MapGet("/protocol/openid-connect/certs", provider.JwksAsync);
        provider.MapFlowEndpoints(endpoints);

        await app.StartAsync();
        return provider;
    }

    /// <summary>Publishes a new key (a new <c>kid</c>, <paramref name="algorithm"/> or the current one's) and removes every older one from the JWKS.</summary>
    public OidcSigningKey RotateKey(string? algorithm = null)
    {
        lock (_gate)
        {
            var next = OidcSigningKey.Create(algorithm ?? _published[^1].Algorithm);
            _published.Clear();
            Publish(next);
            return next;
        }
    }

    /// <summary>
    /// A token of this provider: <c>iss</c>, <c>aud</c>, <c>iat</c>, <c>nbf</c> and <c>exp</c> (five
    /// minutes ahead) are filled in unless <paramref name="claims"/> sets them; signed with
    /// <paramref name="key"/> (default <see cref="CurrentKey"/>), whose <c>kid</c> goes in the header
    /// unless <paramref name="keyId"/> names another (a token lying about its key).
    /// </summary>
    public string Mint(JsonObject claims, string audience, OidcSigningKey? key = null, string? keyId = null)
    {
        var now = DateTimeOffset.UtcNow;
        var payload = (JsonObject)claims.DeepClone();
        payload.TryAdd("iss", Issuer);
        payload.TryAdd("aud", audience);
        payload.TryAdd("iat", now.ToUnixTimeSeconds());
        payload.TryAdd("nbf", now.ToUnixTimeSeconds());
        payload.TryAdd("exp", now.AddMinutes(5).ToUnixTimeSeconds());
        key ??= CurrentKey;
        return new JsonWebTokenHandler().CreateToken(payload.ToJsonString(), keyId is null ? key.Credentials : key.CredentialsAs(keyId));
    }

    /// <summary>Arguments that configure this provider as the gateway's management issuer <paramref name="name"/> by its authority alone.</summary>
    public string[] IssuerArgs(string name, string audience, params string[] settings) =>
    [
        $"--Management:Issuers:{name}:Issuer={Issuer}",
        $"--Management:Issuers:{name}:Audience={audience}",
        $"--Management:Issuers:{name}:Authority={Authority.AbsoluteUri.TrimEnd('/')}",
        $"--Management:Issuers:{name}:RequireHttpsMetadata=false",
        .. settings.Select(s => $"--Management:Issuers:{name}:{s}"),
    ];

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        lock (_gate)
        {
            foreach (var key in _created)
            {
                key.Dispose();
            }
        }
    }

    private void Publish(OidcSigningKey key)
    {
        lock (_gate)
        {
            _published.Add(key);
            _created.Add(key);
        }
    }

    /// <summary>Extension point: the authorization-code + PKCE endpoints (<c>authorize</c>, <c>token</c>) go here.</summary>
    partial void MapFlowEndpoints(RouteGroupBuilder endpoints);

    /// <summary>Extension point: discovery entries for the flow endpoints.</summary>
    partial void AddFlowMetadata(JsonObject document);

    private async Task DiscoveryAsync(HttpContext context)
    {
        Interlocked.Increment(ref _discoveryFetches);
        if (Unavailable)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        var document = new JsonObject
        {
            ["issuer"] = DocumentIssuer ?? Issuer,
            ["jwks_uri"] = JwksAddress,
            ["response_types_supported"] = new JsonArray("code"),
            ["subject_types_supported"] = new JsonArray("public"),
            ["id_token_signing_alg_values_supported"] = new JsonArray(SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256),
        };
        AddFlowMetadata(document);
        await WriteJsonAsync(context, document);
    }

    private async Task JwksAsync(HttpContext context)
    {
        Interlocked.Increment(ref _jwksFetches);
        if (Unavailable)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        JsonArray keys;
        lock (_gate)
        {
            keys = [.. _published.Select(k => (JsonNode)k.PublicJwk())];
        }

        await WriteJsonAsync(context, new JsonObject { ["keys"] = keys });
    }

    private static Task WriteJsonAsync(HttpContext context, JsonObject body)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}

/// <summary>One signing key of an <see cref="OidcProviderDouble"/>: RSA 2048 (RS256) or EC P-256 (ES256).</summary>
internal sealed class OidcSigningKey : IDisposable
{
    private readonly AsymmetricAlgorithm _key;

    private OidcSigningKey(string algorithm, AsymmetricAlgorithm key, SecurityKey securityKey)
    {
        Algorithm = algorithm;
        _key = key;
        Credentials = new SigningCredentials(securityKey, algorithm);
    }

    public string Algorithm { get; }

    public string KeyId => Credentials.Key.KeyId;

    public SigningCredentials Credentials { get; }

    public static OidcSigningKey Create(string algorithm)
    {
        var kid = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(9));
        if (algorithm == SecurityAlgorithms.EcdsaSha256)
        {
            var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            return new OidcSigningKey(algorithm, ec, new ECDsaSecurityKey(ec) { KeyId = kid });
        }

        var rsa = RSA.Create(2048);
        return new OidcSigningKey(SecurityAlgorithms.RsaSha256, rsa, new RsaSecurityKey(rsa) { KeyId = kid });
    }

    /// <summary>This key's private half under another <c>kid</c>.</summary>
    public SigningCredentials CredentialsAs(string keyId) => _key switch
    {
        ECDsa ec => new SigningCredentials(new ECDsaSecurityKey(ec) { KeyId = keyId }, Algorithm),
        _ => new SigningCredentials(new RsaSecurityKey((RSA)_key) { KeyId = keyId }, Algorithm),
    };

    /// <summary>The key as the JWKS publishes it: public parameters only.</summary>
    public JsonObject PublicJwk()
    {
        if (_key is ECDsa ec)
        {
            var p = ec.ExportParameters(includePrivateParameters: false);
            return new JsonObject
            {
                ["kty"] = "EC", ["use"] = "sig", ["alg"] = Algorithm, ["kid"] = KeyId, ["crv"] = "P-256",
                ["x"] = Base64UrlEncoder.Encode(p.Q.X), ["y"] = Base64UrlEncoder.Encode(p.Q.Y),
            };
        }

        var r = ((RSA)_key).ExportParameters(includePrivateParameters: false);
        return new JsonObject
        {
            ["kty"] = "RSA", ["use"] = "sig", ["alg"] = Algorithm, ["kid"] = KeyId,
            ["n"] = Base64UrlEncoder.Encode(r.Modulus), ["e"] = Base64UrlEncoder.Encode(r.Exponent),
        };
    }

    /// <summary>The public key as PEM, for an issuer configured with a static <c>PublicKeyPem</c>.</summary>
    public string PublicKeyPem() => _key.ExportSubjectPublicKeyInfoPem();

    public void Dispose() => _key.Dispose();
}
