using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

/// <summary>Support sessions: tokens, identity to the backend, login throttling (section <c>Support</c>).</summary>
internal sealed class SupportOptions
{
    public const string SectionName = "Support";

    /// <summary><c>iss</c> of the gateway's own tokens (session tokens and backend identity tokens).</summary>
    public string Issuer { get; init; } = "urn:support-gateway";

    /// <summary><c>aud</c> of session tokens: only this gateway accepts them.</summary>
    public string SessionAudience { get; init; } = "urn:support-gateway:session";

    /// <summary><c>aud</c> of the identity token forwarded to tenant apps.</summary>
    public string BackendAudience { get; init; } = "urn:support-gateway:tenant-apps";

    /// <summary>Longest a session token lives; never beyond the grant that covers it.</summary>
    public TimeSpan SessionLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Lifetime of the identity token forwarded to the backend.</summary>
    public TimeSpan BackendTokenLifetime { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// <c>request</c> (default): a new identity token per request, bound to it by <c>jti</c>,
    /// <c>htm</c> and <c>htu</c> (one ES256 signature per support request). <c>session</c>: one token
    /// per identity, reused while more than a quarter of its life remains (no signature per
    /// request; a leaked token can be replayed to the app within its lifetime).
    /// </summary>
    public IdentityTokenBinding IdentityTokenBinding { get; init; } = IdentityTokenBinding.Request;

    /// <summary>
    /// The gateway's ES256 signing key (PEM, EC P-256 private key) shared by every instance.
    /// Empty outside production: a key is generated at start (single instance only; tokens do
    /// not survive a restart). Required when <c>Gateway:Production</c> is true.
    /// </summary>
    public string? SigningKeyPem { get; init; }

    public string SigningKeyId { get; init; } = "gateway-1";

    /// <summary>Browser session cookie (HttpOnly; SameSite=Strict; Secure as <see cref="CookieSecure"/> says).</summary>
    public string CookieName { get; init; } = "sgw_session";

    /// <summary>
    /// When the session cookie is marked <c>Secure</c>: <c>Always</c> (the default with
    /// <c>Gateway:Production</c>, where it is the only value allowed) or <c>SameAsRequest</c> (the
    /// default otherwise: Secure on https, not on plain http, so the demo on http://acme.localhost
    /// works in a browser, which drops Secure cookies set over http on most hosts).
    /// </summary>
    public CookieSecurePolicy? CookieSecure { get; init; }

    /// <summary>
    /// Two-factor sign-in (TOTP) for every support user. Default: true with <c>Gateway:Production</c>,
    /// false otherwise. Users enrolled with <c>mfa enroll</c> always need their code, whatever this says.
    /// </summary>
    public bool? RequireMfa { get; init; }

    /// <summary>Prefix of the identity headers the gateway sets; inbound copies are stripped from all traffic.</summary>
    public string IdentityHeaderPrefix { get; init; } = "X-Gateway-";

    /// <summary>
    /// Further inbound headers stripped from every request before it reaches a tenant app
    /// (besides every header starting with <see cref="IdentityHeaderPrefix"/>): identity and
    /// client-address headers a tenant app might trust. Compared case-insensitively with '_' and
    /// '-' equal; an entry ending in '*' is a prefix. Setting the list replaces
    /// <see cref="DefaultStrippedInboundHeaders"/>.
    /// </summary>
    public List<string>? StrippedInboundHeaders { get; init; }

    public static readonly IReadOnlyList<string> DefaultStrippedInboundHeaders =
    [
        "X-Remote-User", "Remote-User", "X-Forwarded-User", "X-Client-IP", "True-Client-IP", "X-Real-IP",
        "X-Original-*", "X-Forwarded-Port", "X-Forwarded-Server", "Forwarded",
    ];

    /// <summary>Failed logins one client may make for one support user per window before 429 (a hard limit on guessing).</summary>
    public int FailedLoginsPerUserAndClient { get; init; } = 5;

    /// <summary>Failed logins one client (an IPv6 /64) may make over all names per window before 429.</summary>
    public int FailedLoginsPerClient { get; init; } = 20;

    /// <summary>
    /// A support user's failures over all clients after which each further try must wait (1 s,
    /// doubling up to <see cref="UserBackoffMax"/>): a delay, never a lockout, since anyone can
    /// send wrong passwords for a name.
    /// </summary>
    public int UserBackoffAfterFailures { get; init; } = 5;

    public TimeSpan UserBackoffMax { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Password checks (PBKDF2) running at once; beyond it an attempt gets 429 at once. Default:
    /// half the cores, at least one: a flood of guesses keeps every check busy, and even at the
    /// lowest scheduling priority checks on every core doubled ordinary traffic's p99 on a
    /// two-core machine (one check thread on two cores: 1.8×).
    /// </summary>
    public int MaxConcurrentPasswordChecks { get; init; } = DefaultConcurrentPasswordChecks;

    /// <summary>Half the cores, at least one.</summary>
    public static int DefaultConcurrentPasswordChecks => Math.Max(1, Environment.ProcessorCount / 2);

    public TimeSpan FailedLoginWindow { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Caching of successful password verifications (<c>Support:Credentials</c>).</summary>
    public SupportCredentialOptions Credentials { get; init; } = new();

    /// <summary>How often live support connections (WebSocket, SSE, downloads) are re-checked against their grant.</summary>
    public TimeSpan LiveSessionCheckInterval { get; init; } = TimeSpan.FromSeconds(1);
}

internal enum IdentityTokenBinding
{
    Request,
    Session,
}

internal sealed class SupportOptionsValidator(IConfiguration configuration) : IValidateOptions<SupportOptions>
{
    public ValidateOptionsResult Validate(string? name, SupportOptions o)
    {
        var failures = new List<string>();
        var production = configuration.GetValue<bool>("Gateway:Production");
        if (string.IsNullOrWhiteSpace(o.SigningKeyPem))
        {
            if (production)
            {
                failures.Add("Support:SigningKeyPem: required in a configuration marked Gateway:Production (instances must share the key).");
            }
        }
        else
        {
            try
            {
                using var key = ECDsa.Create();
                key.ImportFromPem(o.SigningKeyPem);
                if (key.KeySize != 256)
                {
                    failures.Add("Support:SigningKeyPem: must be an EC P-256 private key.");
                }
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                failures.Add("Support:SigningKeyPem: not a PEM EC private key.");
            }
        }

        foreach (var (key, value) in new[] { ("Issuer", o.Issuer), ("SessionAudience", o.SessionAudience), ("BackendAudience", o.BackendAudience), ("SigningKeyId", o.SigningKeyId), ("CookieName", o.CookieName) })
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                failures.Add($"Support:{key}: required.");
            }
        }

        if (o.SessionLifetime <= TimeSpan.Zero || o.SessionLifetime > TimeSpan.FromHours(24))
        {
            failures.Add("Support:SessionLifetime: more than zero, at most 1.00:00:00.");
        }

        if (o.BackendTokenLifetime < TimeSpan.FromSeconds(10) || o.BackendTokenLifetime > TimeSpan.FromMinutes(10))
        {
            failures.Add("Support:BackendTokenLifetime: from 00:00:10 to 00:10:00.");
        }

        if (!o.IdentityHeaderPrefix.StartsWith("X-", StringComparison.OrdinalIgnoreCase) || o.IdentityHeaderPrefix.Length < 4)
        {
            failures.Add("Support:IdentityHeaderPrefix: an 'X-...-' prefix.");
        }

        foreach (var header in o.StrippedInboundHeaders ?? [])
        {
            var headerName = header.EndsWith('*') ? header[..^1] : header;
            if (headerName.Length == 0 || !headerName.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'+-.^_`|~".Contains(c)))
            {
                failures.Add($"Support:StrippedInboundHeaders: '{header}' is not a header name (optionally ending in '*').");
            }
        }

        if (o.FailedLoginsPerUserAndClient < 1 || o.FailedLoginsPerClient < 1 || o.UserBackoffAfterFailures < 1 || o.FailedLoginWindow <= TimeSpan.Zero)
        {
            failures.Add("Support:FailedLoginsPerUserAndClient, FailedLoginsPerClient, UserBackoffAfterFailures, FailedLoginWindow: positive.");
        }

        if (o.UserBackoffMax < TimeSpan.FromSeconds(1) || o.UserBackoffMax > TimeSpan.FromMinutes(5))
        {
            failures.Add("Support:UserBackoffMax: from 00:00:01 to 00:05:00 (a delay, never a lockout).");
        }

        if (o.MaxConcurrentPasswordChecks is < 1 or > 1024)
        {
            failures.Add("Support:MaxConcurrentPasswordChecks: from 1 to 1024.");
        }

        if (o.CookieSecure is { } secure && (!Enum.IsDefined(secure) || secure == CookieSecurePolicy.None || (production && secure != CookieSecurePolicy.Always)))
        {
            failures.Add(production
                ? "Support:CookieSecure: must be Always in a configuration marked Gateway:Production (the session cookie never travels over plain http)."
                : "Support:CookieSecure: Always or SameAsRequest.");
        }

        if (!Enum.IsDefined(o.IdentityTokenBinding))
        {
            failures.Add("Support:IdentityTokenBinding: request or session.");
        }

        if (o.LiveSessionCheckInterval <= TimeSpan.Zero || o.LiveSessionCheckInterval > TimeSpan.FromSeconds(10))
        {
            failures.Add("Support:LiveSessionCheckInterval: more than zero, at most 00:00:10.");
        }

        // A support session must never be able to call grant management (no self-extension).
        foreach (var issuer in configuration.GetSection("Management:Issuers").GetChildren())
        {
            if (string.Equals(issuer["Issuer"], o.Issuer, StringComparison.Ordinal))
            {
                failures.Add($"Management:Issuers:{issuer.Key}:Issuer: must differ from Support:Issuer, or support sessions could manage grants.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
