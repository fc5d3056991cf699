using System.Text.RegularExpressions;

namespace Gateway.Tests.Deployment;

/// <summary>
/// What a secret written into a compose file looks like. A deployment file may name secrets
/// only by reference: <c>${VAR}</c> (compose takes it from the env file), <c>$$VAR</c> /
/// <c>$${VAR}</c> (the container's shell expands it) or a file path. Everything else that
/// smells of a password, a key or a PEM is reported, with where it was found.
/// </summary>
internal static partial class LiteralSecrets
{
    /// <summary>Problems with one environment variable of a service.</summary>
    public static IEnumerable<string> InEnvironment(string name, string value)
    {
        if (SecretName().IsMatch(name) && !IsReferenceOnly(value) && !IsFilePath(value))
        {
            yield return $"{name}: a secret-named variable holds a literal value instead of a ${{VAR}} reference";
        }

        foreach (var problem in InText(value))
        {
            yield return $"{name}: {problem}";
        }
    }

    /// <summary>Problems with a free text: a command argument, a healthcheck, a label.</summary>
    public static IEnumerable<string> InText(string text)
    {
        // What compose interpolates is a reference, whatever its default or error message says.
        text = Interpolation().Replace(text, "$$REF");
        if (text.Contains("-----BEGIN", StringComparison.Ordinal) || text.Contains("PRIVATE KEY", StringComparison.Ordinal))
        {
            yield return "holds a PEM block";
        }

        foreach (Match match in Assignment().Matches(text))
        {
            if (!IsReference(match.Groups["value"].Value))
            {
                yield return $"'{match.Groups["key"].Value}' is given a literal value";
            }
        }

        foreach (Match match in RedisCliPassword().Matches(text))
        {
            if (!IsReference(match.Groups["value"].Value))
            {
                yield return "redis-cli -a is given a literal password";
            }
        }

        foreach (Match match in UserColonPassword().Matches(text))
        {
            if (!IsReference(match.Groups["value"].Value))
            {
                yield return $"'{match.Groups["user"].Value}:…' carries a literal password";
            }
        }

        foreach (Match match in KeyMaterial().Matches(text))
        {
            var token = match.Value;
            if (token.Any(char.IsDigit) && token.Any(char.IsUpper) && token.Any(char.IsLower))
            {
                yield return $"holds what looks like key material ({token[..6]}…)";
            }
        }
    }

    private static bool IsReference(string value) =>
        value.StartsWith('$') || value.StartsWith("\"$", StringComparison.Ordinal) || value.StartsWith("'$", StringComparison.Ordinal)
        || value.StartsWith("%s", StringComparison.Ordinal) || value.StartsWith("\"%s", StringComparison.Ordinal);

    /// <summary>Empty, or nothing but <c>${VAR…}</c> / <c>$$VAR</c> references.</summary>
    private static bool IsReferenceOnly(string value) =>
        value.Length == 0 || ReferencesOnly().IsMatch(value);

    private static bool IsFilePath(string value) =>
        AbsolutePath().IsMatch(value) || RelativeFilePath().IsMatch(value);

    [GeneratedRegex(@"(?i)(pass(word|wd)?|secret|token|api_?key|private|credential|_auth$|^auth)")]
    private static partial Regex SecretName();

    [GeneratedRegex(@"^(\$\$?\{[A-Za-z_][A-Za-z0-9_]*[^}]*\}|\$\$[A-Za-z_][A-Za-z0-9_]*)+$")]
    private static partial Regex ReferencesOnly();

    [GeneratedRegex(@"^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/?$")]
    private static partial Regex AbsolutePath();

    [GeneratedRegex(@"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+\.(crt|key|pem|p12|conf)$")]
    private static partial Regex RelativeFilePath();

    [GeneratedRegex(@"(?<!\$)\$\{[^}]*\}")]
    private static partial Regex Interpolation();

    /// <summary><c>password=x</c>, <c>requirepass x</c>, <c>--password x</c>, <c>secret: x</c> …</summary>
    [GeneratedRegex(@"(?i)(?<key>requirepass|password|passwd|secret|api_?key|token)(\s*[=:]\s*|\s+)(?<value>[^\s,;&|)]+)")]
    private static partial Regex Assignment();

    [GeneratedRegex(@"redis-cli\b[^|;&]*?\s-a\s+(?<value>\S+)")]
    private static partial Regex RedisCliPassword();

    /// <summary><c>-u elastic:x</c>, <c>user = "elastic:x"</c>, <c>https://elastic:x@host</c>.</summary>
    [GeneratedRegex(@"(?<user>\b(elastic|kibana_system|gateway_audit|admin|default))(:)(?<value>[^\s@""'/]+)")]
    private static partial Regex UserColonPassword();

    /// <summary>A long run of base64/base64url/hex characters: a key or a generated password.</summary>
    [GeneratedRegex(@"[A-Za-z0-9+_-]{28,}={0,2}")]
    private static partial Regex KeyMaterial();
}
