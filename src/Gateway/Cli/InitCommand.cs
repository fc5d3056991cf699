using System.CommandLine;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Authentication;
using Gateway.Tenancy;

namespace Gateway.Cli;

/// <summary>
/// <c>init</c>: writes a production deployment directory (settings skeleton, routes, the first
/// support admin, fresh keys and passwords) and nothing from the demo. It never overwrites: a
/// directory that exists and is not empty is refused. Directories are created 0700 and files
/// 0600 at creation, so nothing is readable by others at any moment. The layout is what
/// docker-compose.yml mounts (docs/cli.md): do not rename its files.
/// </summary>
internal static class InitCommand
{
    public const string DefaultTenant = "example";
    public const string DefaultHost = "example.invalid";
    public const string DefaultAdmin = "admin";
    public const string IssuerName = "main";
    public const string TenantAppAddress = "http://tenant-app:8080/";

    /// <summary>Support admin passwords taken from standard input must be at least this long.</summary>
    public const int MinPasswordLength = 12;

    /// <summary>The secret files, named in key-per-file form (<c>Section__Key</c> is the key <c>Section:Key</c>).</summary>
    public static readonly string[] SecretFiles =
    [
        "Support__SigningKeyPem",
        "Audit__Integrity__SigningKeyPem",
        "Secrets__EncryptionKey",
        "Redis__Configuration",
        "Audit__Elasticsearch__Password",
    ];

    // No 0/O, 1/l/I: a generated support password is read off a screen and typed.
    private const string ReadableAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

    // Letters and digits only: compose's .env, YAML and shell quoting leave these alone.
    private const string AlphanumericAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    // Relaxed escaping: these files are read and edited by people ("+", "'" stay as they are).
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create(CliConsole console)
    {
        var output = new Option<string>("--out") { Description = "The deployment directory to write; it must not exist or be empty.", HelpName = "dir", Required = true };
        var admin = new Option<string>("--admin") { Description = "Name of the first support admin (global).", HelpName = "name", DefaultValueFactory = _ => DefaultAdmin };
        var tenant = new Option<string?>("--tenant") { Description = $"The first tenant's id (default: {DefaultTenant}); give its hosts with --host.", HelpName = "id" };
        var hosts = new Option<string[]>("--host") { Description = $"A host name of the tenant (repeatable; default: {DefaultHost}).", HelpName = "host", Arity = ArgumentArity.OneOrMore };
        var command = new Command(
            "init",
            "Write a production deployment directory: config/ (gateway.json, routes.json, support-users.json), secrets/ (keys and passwords, one file per key) and .env for docker compose. "
            + "The admin's password is read from standard input (first line) when it is not a terminal, else generated and printed once.")
        {
            output, admin, tenant, hosts,
        };
        command.Validators.Add(result =>
        {
            if ((result.GetResult(tenant) is null) != (result.GetResult(hosts) is null))
            {
                result.AddError("--tenant and --host go together: name the tenant and at least one of its hosts.");
            }
        });
        command.SetAction((parse, cancellationToken) => RunAsync(
            console,
            parse.GetRequiredValue(output),
            parse.GetRequiredValue(admin),
            parse.GetValue(tenant) ?? DefaultTenant,
            parse.GetValue(hosts) is { Length: > 0 } given ? given : [DefaultHost],
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CliConsole console, string outText, string admin, string tenant, string[] hosts, CancellationToken cancellationToken)
    {
        var error = console.Error;
        if (OperatingSystem.IsWindows())
        {
            await error.WriteLineAsync("init: needs owner-only file modes (Linux or macOS).");
            return CliExitCodes.Refused;
        }

        var tenancy = new TenancyOptions();
        tenancy.Tenants[tenant] = new TenantOptions { Hosts = [.. hosts] };
        if (new TenancyOptionsValidator().Validate(null, tenancy) is { Failed: true } invalidTenant)
        {
            foreach (var failure in invalidTenant.Failures)
            {
                await error.WriteLineAsync($"init: {failure}");
            }

            return CliExitCodes.Usage;
        }

        var directory = Path.GetFullPath(outText);
        if (directory.Contains('\'', StringComparison.Ordinal) || directory.Any(char.IsControl))
        {
            // It is written into .env, where neither can be quoted safely for docker compose.
            await error.WriteLineAsync("init: --out: the path must not contain quotes or control characters.");
            return CliExitCodes.Usage;
        }

        if (File.Exists(directory) || (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any()))
        {
            await error.WriteLineAsync($"init: refused: '{directory}' exists and is not an empty directory; init never overwrites. Choose a new directory.");
            return CliExitCodes.Refused;
        }

        var fromInput = console.InputIsTerminal ? null : await console.Input.ReadLineAsync(cancellationToken);
        var generated = string.IsNullOrEmpty(fromInput);
        var password = generated ? RandomNumberGenerator.GetString(ReadableAlphabet, 24) : fromInput!;
        if (password.Length < MinPasswordLength)
        {
            await error.WriteLineAsync($"init: the password on standard input is shorter than {MinPasswordLength} characters.");
            return CliExitCodes.Usage;
        }

        var supportUsers = SupportUsers(admin, PasswordHasher.Hash(password));
        var userErrors = new List<string>();
        using (var document = JsonDocument.Parse(supportUsers))
        {
            SupportUserDirectoryParser.Parse(document.RootElement, userErrors);
        }

        if (userErrors.Count > 0)
        {
            foreach (var failure in userErrors)
            {
                await error.WriteLineAsync($"init: --admin: {failure}");
            }

            return CliExitCodes.Usage;
        }

        var redisPassword = NewPassword();
        var elasticsearchPassword = NewPassword();
        var files = new List<(string Path, string Content)>
        {
            ("config/gateway.json", Settings(tenant, hosts)),
            ("config/routes.json", Routes(tenant, hosts)),
            ("config/support-users.json", supportUsers),
            ("secrets/Support__SigningKeyPem", NewP256PrivateKeyPem()),
            ("secrets/Audit__Integrity__SigningKeyPem", NewP256PrivateKeyPem()),
            ("secrets/Secrets__EncryptionKey", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))),
            ("secrets/Redis__Configuration", $"redis:6379,password={redisPassword},abortConnect=false"),
            ("secrets/Audit__Elasticsearch__Password", elasticsearchPassword),
            (".env", DotEnv(directory, redisPassword, elasticsearchPassword)),
        };
        Write(directory, files);

        var summary = new StringBuilder()
            .AppendLine($"Wrote {directory} (owner-only: directories 0700, files 0600):")
            .AppendLine($"  config/gateway.json         production settings; tenant '{tenant}' at {string.Join(", ", hosts)}; issuer '{IssuerName}' to fill in")
            .AppendLine($"  config/routes.json          tenant '{tenant}': / (open) and everything else (data) to {TenantAppAddress}")
            .AppendLine($"  config/support-users.json   support admin '{admin}' (global)")
            .AppendLine($"  secrets/                    {string.Join(", ", SecretFiles)}")
            .AppendLine("  .env                        passwords for docker compose and GATEWAY_DEPLOY_DIR");
        if (generated)
        {
            summary.AppendLine($"Password of support admin '{admin}': {password}")
                .AppendLine("  Store it now: it will not be shown again (only its hash is kept).");
        }
        else
        {
            summary.AppendLine($"Password of support admin '{admin}': the one read from standard input.");
        }

        summary.AppendLine("Next steps:")
            .AppendLine($"  1. In config/gateway.json, fill in Management:Issuers:{IssuerName} (Issuer, Audience and the issuer's PublicKeyPem) for your identity provider.")
            .AppendLine($"  2. Point config/routes.json at your tenant's app (now {TenantAppAddress}) and check the tenant's hosts.")
            .AppendLine($"  3. docker compose --env-file {Path.Combine(directory, ".env")} up -d --build");
        await console.Output.WriteAsync(summary.ToString());
        return CliExitCodes.Done;
    }

    /// <summary>
    /// Creates the directories 0700 and each file 0600 with <see cref="FileMode.CreateNew"/> (an
    /// existing file is never replaced, even one that appeared after the emptiness check). On any
    /// failure what this call created is removed again, so a retry starts from an empty directory.
    /// </summary>
    [UnsupportedOSPlatform("windows")]
    private static void Write(string directory, IReadOnlyList<(string Path, string Content)> files)
    {
        var created = new List<string>();
        try
        {
            foreach (var folder in new[] { directory, Path.Combine(directory, "config"), Path.Combine(directory, "secrets") })
            {
                if (!Directory.Exists(folder))
                {
                    Directory.CreateDirectory(folder, OwnerOnlyDirectory);
                    created.Add(folder);
                }

                // Exactly 0700 whatever the umask took away, and also for an existing empty --out.
                File.SetUnixFileMode(folder, OwnerOnlyDirectory);
            }

            foreach (var (relative, content) in files)
            {
                var path = Path.Combine(directory, relative);
                using (var stream = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    Share = FileShare.None,
                    UnixCreateMode = OwnerOnlyFile,
                }))
                {
                    created.Add(path);
                    stream.Write(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(content));
                    stream.Flush(flushToDisk: true);
                }

                File.SetUnixFileMode(path, OwnerOnlyFile);
            }
        }
        catch
        {
            for (var i = created.Count - 1; i >= 0; i--)
            {
                try
                {
                    if (File.Exists(created[i]))
                    {
                        File.Delete(created[i]);
                    }
                    else
                    {
                        Directory.Delete(created[i]);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Best effort: the original failure is what the operator needs to see.
                }
            }

            throw;
        }
    }

    private static string Settings(string tenant, string[] hosts) => Json(new JsonObject
    {
        ["Urls"] = "http://+:8080",
        ["Gateway"] = new JsonObject
        {
            ["Production"] = true,
            ["Tenants"] = new JsonObject
            {
                [tenant] = new JsonObject { ["Hosts"] = Array(hosts), ["TimeZone"] = "UTC" },
            },
            ["Routing"] = new JsonObject { ["DefaultClass"] = "data", ["RoutesFile"] = "routes.json" },
            ["Demo"] = new JsonObject { ["HostSampleApps"] = false },
        },
        // Redis:Configuration (with its password) comes from secrets/Redis__Configuration.
        ["Redis"] = new JsonObject { ["KeyPrefix"] = "sgw:" },
        ["Management"] = new JsonObject
        {
            ["Issuers"] = new JsonObject
            {
                [IssuerName] = new JsonObject
                {
                    ["Issuer"] = "REPLACE-ME: the exact iss of your identity provider's management tokens",
                    ["Audience"] = "REPLACE-ME: the aud those tokens carry for this gateway",
                },
            },
        },
        ["Audit"] = new JsonObject
        {
            ["SpoolDirectory"] = "spool/audit",
            // Audit:Elasticsearch:Password comes from secrets/Audit__Elasticsearch__Password.
            ["Elasticsearch"] = new JsonObject
            {
                ["Url"] = "https://elasticsearch:9200",
                ["Username"] = "gateway_audit",
                ["Index"] = "gateway-audit",
            },
        },
        ["Logging"] = new JsonObject
        {
            ["LogLevel"] = new JsonObject
            {
                ["Default"] = "Information",
                ["Microsoft.AspNetCore"] = "Warning",
                ["Microsoft.Hosting.Lifetime"] = "Information",
                ["Yarp"] = "Warning",
            },
        },
        ["Serilog"] = new JsonObject
        {
            ["WriteTo"] = new JsonObject
            {
                ["Console"] = new JsonObject
                {
                    ["Name"] = "Console",
                    ["Args"] = new JsonObject { ["outputTemplate"] = "{Timestamp:o} [{Level:u3}] {SourceContext} ({EventId}): {Message:lj}{NewLine}{Exception}" },
                },
            },
        },
    });

    private static string Routes(string tenant, string[] hosts) => Json(new JsonObject
    {
        ["ReverseProxy"] = new JsonObject
        {
            ["Routes"] = new JsonObject
            {
                [$"{tenant}-root"] = Route(tenant, hosts, "/", "open"),
                [$"{tenant}-all"] = Route(tenant, hosts, "/{**catch-all}", "data"),
            },
            ["Clusters"] = new JsonObject
            {
                [tenant] = new JsonObject
                {
                    ["Destinations"] = new JsonObject { ["primary"] = new JsonObject { ["Address"] = TenantAppAddress } },
                },
            },
        },
    });

    private static JsonObject Route(string tenant, string[] hosts, string path, string supportClass) => new()
    {
        ["ClusterId"] = tenant,
        ["Match"] = new JsonObject { ["Hosts"] = Array(hosts), ["Path"] = path },
        ["Metadata"] = new JsonObject { ["SupportClass"] = supportClass },
    };

    private static string SupportUsers(string admin, string passwordHash) => Json(new JsonObject
    {
        ["SupportUsers"] = new JsonObject
        {
            ["Users"] = new JsonObject
            {
                [admin] = new JsonObject { ["PasswordHash"] = passwordHash, ["Global"] = true },
            },
            ["TenantGroups"] = new JsonObject(),
        },
    });

    private static string DotEnv(string directory, string redisPassword, string elasticsearchPassword) => $"""
        # docker compose --env-file {directory}/.env up -d --build
        # Written by the gateway's init verb. Owner-only: it holds passwords.
        REDIS_PASSWORD={redisPassword}
        ELASTIC_PASSWORD={NewPassword()}
        KIBANA_PASSWORD={NewPassword()}
        GATEWAY_ES_PASSWORD={elasticsearchPassword}
        GRAFANA_ADMIN_PASSWORD={NewPassword()}
        GATEWAY_DEPLOY_DIR={EnvValue(directory)}

        """;

    /// <summary>Single-quoted (literal to docker compose: no <c>$</c> interpolation) unless plainly safe.</summary>
    private static string EnvValue(string value) =>
        value.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-') ? value : $"'{value}'";

    private static string NewPassword() => RandomNumberGenerator.GetString(AlphanumericAlphabet, 32);

    private static string NewP256PrivateKeyPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportPkcs8PrivateKeyPem() + "\n";
    }

    private static JsonArray Array(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode?)JsonValue.Create(v))]);

    private static string Json(JsonObject value) => value.ToJsonString(Indented) + "\n";
}
