using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Gateway.Auditing;

/// <summary>
/// Field rules of <see cref="AuditOptions"/>; every failure names its key. <paramref name="configuration"/>
/// says whether this is production (the audit signing key is then required) and which <c>kid</c>
/// the session key has (the audit key's must differ: they share the JWKS).
/// </summary>
internal sealed class AuditOptionsValidator(IConfiguration? configuration = null) : IValidateOptions<AuditOptions>
{
    private const string S = AuditOptions.SectionName;
    private const string Es = AuditOptions.SectionName + ":Elasticsearch";
    private const string In = AuditOptions.SectionName + ":Integrity";

    public ValidateOptionsResult Validate(string? name, AuditOptions o)
    {
        var failures = new List<string>();

        if (string.IsNullOrWhiteSpace(o.SpoolDirectory) || o.SpoolDirectory.AsSpan().IndexOfAny(Path.GetInvalidPathChars()) >= 0)
        {
            failures.Add($"{S}:SpoolDirectory: a directory path (relative to the current directory, or absolute).");
        }

        if (o.QueueCapacity is < 1 or > 10_000_000)
        {
            failures.Add($"{S}:QueueCapacity: from 1 to 10000000.");
        }

        if (o.SegmentMaxBytes is < 1024 or > 1L << 30)
        {
            failures.Add($"{S}:SegmentMaxBytes: from 1024 to 1073741824.");
        }

        if (o.SpoolMaxBytes < o.SegmentMaxBytes)
        {
            failures.Add($"{S}:SpoolMaxBytes: at least {S}:SegmentMaxBytes ({o.SegmentMaxBytes}).");
        }

        if (o.SecurityReserveBytes is { } reserve && (reserve < 0 || reserve >= o.SpoolMaxBytes))
        {
            failures.Add($"{S}:SecurityReserveBytes: from 0 to less than {S}:SpoolMaxBytes ({o.SpoolMaxBytes}).");
        }

        if (o.OrdinaryFieldMaxLength is < 64 or > EcsAuditSerializer.MaxStringLength)
        {
            failures.Add($"{S}:OrdinaryFieldMaxLength: from 64 to {EcsAuditSerializer.MaxStringLength}.");
        }

        if (!Enum.IsDefined(o.FsyncPolicy))
        {
            failures.Add($"{S}:FsyncPolicy: always, interval or never.");
        }

        if (o.FsyncInterval <= TimeSpan.Zero || o.FsyncInterval > TimeSpan.FromSeconds(60))
        {
            failures.Add($"{S}:FsyncInterval: more than zero and at most 00:01:00.");
        }

        if (!Enum.IsDefined(o.WriteAhead))
        {
            failures.Add($"{S}:WriteAhead: writes, all or off.");
        }

        if (o.WriteAheadTimeout <= TimeSpan.Zero || o.WriteAheadTimeout > TimeSpan.FromSeconds(60))
        {
            failures.Add($"{S}:WriteAheadTimeout: more than zero and at most 00:01:00.");
        }

        if (!string.IsNullOrEmpty(o.InstanceId) && !IsName(o.InstanceId))
        {
            failures.Add($"{S}:InstanceId: 1 to 64 letters, digits, '.', '_' or '-' (or empty: an id kept in the spool directory).");
        }

        ValidateIntegrity(o.Integrity, failures);
        ValidateElasticsearch(o.Elasticsearch, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private void ValidateIntegrity(AuditIntegrityOptions i, List<string> failures)
    {
        if (string.IsNullOrWhiteSpace(i.SigningKeyPem))
        {
            if (configuration?.GetValue<bool>("Gateway:Production") == true)
            {
                failures.Add($"{In}:SigningKeyPem: required in a configuration marked Gateway:Production (a key generated at start cannot be verified after a restart).");
            }
        }
        else
        {
            try
            {
                using var key = ECDsa.Create();
                key.ImportFromPem(i.SigningKeyPem);
                if (key.KeySize != 256)
                {
                    failures.Add($"{In}:SigningKeyPem: must be an EC P-256 private key.");
                }
                else
                {
                    // A public key imports too, but cannot sign.
                    key.ExportParameters(includePrivateParameters: true);
                }
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                failures.Add($"{In}:SigningKeyPem: not a PEM EC private key.");
            }
        }

        if (!IsName(i.SigningKeyId))
        {
            failures.Add($"{In}:SigningKeyId: 1 to 64 letters, digits, '.', '_' or '-'.");
        }
        else if ((configuration?["Support:SigningKeyId"] is { Length: > 0 } configured ? configured : new Authentication.SupportOptions().SigningKeyId) is var sessionKeyId
            && sessionKeyId == i.SigningKeyId)
        {
            failures.Add($"{In}:SigningKeyId: must differ from Support:SigningKeyId ('{sessionKeyId}'): both keys are in the JWKS.");
        }

        if (i.DigestInterval < TimeSpan.FromSeconds(1) || i.DigestInterval > TimeSpan.FromHours(1))
        {
            failures.Add($"{In}:DigestInterval: from 00:00:01 to 01:00:00.");
        }
    }

    private static bool IsName(string? value) =>
        value is { Length: > 0 and <= 64 } && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private static void ValidateElasticsearch(AuditElasticsearchOptions e, List<string> failures)
    {
        if (!string.IsNullOrWhiteSpace(e.Url))
        {
            if (!Uri.TryCreate(e.Url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                failures.Add($"{Es}:Url: an absolute http or https URL, or empty to keep events in the spool.");
            }
            else if (uri.UserInfo.Length > 0)
            {
                // Credentials in the URL end up in logs and health output: they have their own keys.
                failures.Add($"{Es}:Url: must not carry credentials; use {Es}:ApiKey or {Es}:Username and {Es}:Password.");
            }
            else if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
            {
                failures.Add($"{Es}:Url: the cluster's base URL, without query or fragment.");
            }
        }

        if (IndexNameProblem(e.Index) is { } problem)
        {
            failures.Add($"{Es}:Index: {problem}");
        }

        var hasApiKey = !string.IsNullOrEmpty(e.ApiKey);
        var hasUser = !string.IsNullOrEmpty(e.Username);
        var hasPassword = !string.IsNullOrEmpty(e.Password);
        if (hasApiKey && (hasUser || hasPassword))
        {
            failures.Add($"{Es}:ApiKey: set either ApiKey or Username and Password, not both.");
        }

        if (hasUser != hasPassword)
        {
            failures.Add($"{Es}:{(hasUser ? "Password" : "Username")}: Username and Password go together.");
        }

        if (hasUser && e.Username!.Contains(':', StringComparison.Ordinal))
        {
            failures.Add($"{Es}:Username: must not contain ':' (basic authentication).");
        }

        if (e.BatchMaxEvents is < 1 or > 100_000)
        {
            failures.Add($"{Es}:BatchMaxEvents: from 1 to 100000.");
        }

        if (e.BatchMaxBytes is < 64 * 1024 or > 100L * 1024 * 1024)
        {
            failures.Add($"{Es}:BatchMaxBytes: from 65536 to 104857600 (Elasticsearch's default http.max_content_length).");
        }

        if (e.BatchMaxDelay <= TimeSpan.Zero || e.BatchMaxDelay > TimeSpan.FromMinutes(5))
        {
            failures.Add($"{Es}:BatchMaxDelay: more than zero and at most 00:05:00.");
        }

        if (e.MinBackoff <= TimeSpan.Zero)
        {
            failures.Add($"{Es}:MinBackoff: more than zero.");
        }

        if (e.MaxBackoff < e.MinBackoff || e.MaxBackoff > TimeSpan.FromHours(1))
        {
            failures.Add($"{Es}:MaxBackoff: at least {Es}:MinBackoff and at most 01:00:00.");
        }

        if (e.RequestTimeout <= TimeSpan.Zero || e.RequestTimeout > TimeSpan.FromMinutes(10))
        {
            failures.Add($"{Es}:RequestTimeout: more than zero and at most 00:10:00.");
        }
    }

    /// <summary>Elasticsearch's rules for index and data stream names.</summary>
    internal static string? IndexNameProblem(string? index)
    {
        if (string.IsNullOrEmpty(index))
        {
            return "a data stream name is required.";
        }

        if (index is "." or ".." || index[0] is '-' or '_' or '+' || index.StartsWith(".ds-", StringComparison.Ordinal))
        {
            return "must not be '.' or '..' nor start with '-', '_', '+' or '.ds-'.";
        }

        if (index.Any(c => char.IsUpper(c) || c is '\\' or '/' or '*' or '?' or '"' or '<' or '>' or '|' or ',' or '#' or ':' or ' '))
        {
            return "lowercase, without \\ / * ? \" < > | , # : or spaces.";
        }

        return Encoding.UTF8.GetByteCount(index) > 255 ? "at most 255 bytes." : null;
    }
}
