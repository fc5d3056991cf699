using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Deployment;

/// <summary>
/// A CA and server certificates made in memory, as the compose `certs` job makes them with
/// elasticsearch-certutil: a self-signed CA, and a server certificate it signs for
/// localhost / 127.0.0.1.
/// </summary>
internal sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestCertificateAuthority(string name = "Test CA")
    {
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    public X509Certificate2 Certificate { get; }

    public string CertificatePem => Certificate.ExportCertificatePem() + "\n";

    /// <summary>A server certificate (with its key) for localhost and 127.0.0.1, signed by this CA.</summary>
    public X509Certificate2 IssueServerCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key),
            DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        // A PKCS#12 round trip gives a certificate whose key SslStream can use on every platform.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }
}

/// <summary>
/// An HTTP-level stand-in for an Elasticsearch 8 cluster with security on, as the compose file
/// runs it: a real Kestrel server on 127.0.0.1 speaking TLS with a certificate of a
/// <see cref="TestCertificateAuthority"/>, answering 401 <c>security_exception</c> to any
/// request without the expected Basic credentials (one user for the setup job, one for the
/// gateway). It records what the setup script sends — kibana_system's password, roles, users,
/// the lifecycle policy, the index template, Kibana's saved-objects import — and counts the
/// documents of <c>_bulk</c>.
/// </summary>
internal sealed class SecuredElasticsearchDouble : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, string> _authorized;
    private readonly ConcurrentDictionary<string, string> _passwordChanges = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _roles = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _policies = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _templates = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly ConcurrentQueue<string> _bulkUsers = new();
    private readonly TaskCompletionSource _bulkReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _importedObjects = -1;
    private int _unauthorized;

    private SecuredElasticsearchDouble(WebApplication app, Dictionary<string, string> authorized)
    {
        _app = app;
        _authorized = authorized;
    }

    public Uri Url { get; private set; } = null!;

    /// <summary>New passwords set with <c>POST _security/user/{name}/_password</c>, by user.</summary>
    public IReadOnlyDictionary<string, string> PasswordChanges => _passwordChanges;

    /// <summary>Role bodies by name.</summary>
    public IReadOnlyDictionary<string, string> Roles => _roles;

    /// <summary>User bodies (<c>PUT _security/user/{name}</c>) by name.</summary>
    public IReadOnlyDictionary<string, string> Users => _users;

    public IReadOnlyDictionary<string, string> LifecyclePolicies => _policies;

    public IReadOnlyDictionary<string, string> IndexTemplates => _templates;

    /// <summary>"METHOD path" of every authenticated request, in order.</summary>
    public IReadOnlyList<string> Requests => [.. _requests];

    /// <summary>Saved objects in the last Kibana import, or -1 when there was none.</summary>
    public int ImportedObjects => Volatile.Read(ref _importedObjects);

    public int UnauthorizedRequests => Volatile.Read(ref _unauthorized);

    /// <summary>The user each <c>_bulk</c> request authenticated as.</summary>
    public IReadOnlyList<string> BulkUsers => [.. _bulkUsers];

    /// <param name="certificate">The server certificate, with its key.</param>
    /// <param name="users">user name → password accepted with Basic authentication.</param>
    public static async Task<SecuredElasticsearchDouble> StartAsync(X509Certificate2 certificate, IReadOnlyDictionary<string, string> users)
    {
        var authorized = users.ToDictionary(
            u => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{u.Key}:{u.Value}")),
            u => u.Key,
            StringComparer.Ordinal);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.UseHttps(certificate);
            });
        });
        var app = builder.Build();
        var node = new SecuredElasticsearchDouble(app, authorized);
        node.Map(app);
        await app.StartAsync();
        var port = new Uri(app.Urls.Single()).Port;
        node.Url = new Uri($"https://127.0.0.1:{port}");
        return node;
    }

    public Task WaitForBulkAsync(TimeSpan timeout) => _bulkReceived.Task.WaitAsync(timeout);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            context.Response.Headers["X-elastic-product"] = "Elasticsearch";
            if (!_authorized.TryGetValue(context.Request.Headers.Authorization.ToString(), out var user))
            {
                Interlocked.Increment(ref _unauthorized);
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"security\" charset=\"UTF-8\"";
                await WriteAsync(context, 401, new JsonObject
                {
                    ["error"] = new JsonObject
                    {
                        ["type"] = "security_exception",
                        ["reason"] = $"unable to authenticate user for REST request [{context.Request.Path}]",
                    },
                    ["status"] = 401,
                });
                return;
            }

            context.Items["user"] = user;
            _requests.Enqueue($"{context.Request.Method} {context.Request.Path}");
            await next(context);
        });

        app.MapPost("/_security/user/{name}/_password", async (HttpContext context, string name) =>
        {
            var body = await ReadJsonAsync(context);
            _passwordChanges[name] = body["password"]!.GetValue<string>();
            await WriteAsync(context, 200, new JsonObject());
        });
        app.MapMethods("/_security/role/{name}", ["PUT", "POST"], async (HttpContext context, string name) =>
        {
            _roles[name] = (await ReadJsonAsync(context)).ToJsonString();
            await WriteAsync(context, 200, new JsonObject { ["role"] = new JsonObject { ["created"] = true } });
        });
        app.MapMethods("/_security/user/{name}", ["PUT", "POST"], async (HttpContext context, string name) =>
        {
            _users[name] = (await ReadJsonAsync(context)).ToJsonString();
            await WriteAsync(context, 200, new JsonObject { ["created"] = true });
        });
        app.MapPut("/_ilm/policy/{name}", async (HttpContext context, string name) =>
        {
            _policies[name] = (await ReadJsonAsync(context)).ToJsonString();
            await WriteAsync(context, 200, new JsonObject { ["acknowledged"] = true });
        });
        app.MapPut("/_index_template/{name}", async (HttpContext context, string name) =>
        {
            _templates[name] = (await ReadJsonAsync(context)).ToJsonString();
            await WriteAsync(context, 200, new JsonObject { ["acknowledged"] = true });
        });
        app.MapPost("/_bulk", async context =>
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var lines = (await reader.ReadToEndAsync(context.RequestAborted)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var items = new JsonArray();
            for (var i = 0; i < lines.Length; i += 2)
            {
                items.Add(new JsonObject { ["create"] = new JsonObject { ["status"] = 201, ["result"] = "created" } });
            }

            _bulkUsers.Enqueue((string)context.Items["user"]!);
            await WriteAsync(context, 200, new JsonObject { ["errors"] = false, ["items"] = items });
            _bulkReceived.TrySetResult();
        });
        app.MapPost("/api/saved_objects/_import", async context =>
        {
            if (!context.Request.Headers.ContainsKey("kbn-xsrf") || !context.Request.HasFormContentType)
            {
                await WriteAsync(context, 400, new JsonObject { ["statusCode"] = 400, ["error"] = "Bad Request" });
                return;
            }

            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            using var reader = new StreamReader(form.Files["file"]!.OpenReadStream());
            var count = (await reader.ReadToEndAsync(context.RequestAborted)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            Volatile.Write(ref _importedObjects, count);
            await WriteAsync(context, 200, new JsonObject { ["success"] = true, ["successCount"] = count });
        });
    }

    private static async Task<JsonNode> ReadJsonAsync(HttpContext context) =>
        await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted)
        ?? throw new JsonException("empty body");

    private static async Task WriteAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}
