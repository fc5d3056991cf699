using System.Security.Claims;
using Gateway.Authentication;
using Gateway.Hosting;
using Gateway.Management;
using Gateway.Tenancy;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Cli;

/// <summary>
/// Verbs of the gateway binary (<c>dotnet run --project src/Gateway -- VERB ...</c>).
/// Exit codes: 0 done, 1 refused, 2 bad usage or configuration.
/// </summary>
internal static class CliVerbs
{
    public static readonly string[] Names = ["token", "hash-password", "policy", "config", "audit"];

    public static async Task<int> RunAsync(string[] args, TextReader input, TextWriter output, TextWriter error)
    {
        try
        {
            return args[0] switch
            {
                "token" => Token(args[1..], output, error),
                "hash-password" => await HashPasswordAsync(input, output, error),
                "policy" when args.Length > 1 && args[1] == "explain" => await ExplainAsync(args[2..], output, error),
                "config" when args.Length > 1 && args[1] == "check" => await CheckAsync(args[2..], output),
                "audit" when args.Length > 1 && args[1] == "export" => await ExportAuditAsync(args[2..], output, error),
                "audit" when args.Length > 1 && args[1] == "verify" => await Auditing.AuditVerifier.RunAsync(args[2..], output, error, CancellationToken.None),
                _ => Usage(error),
            };
        }
        catch (GatewayConfigurationException ex)
        {
            await error.WriteLineAsync("The configuration is invalid:");
            foreach (var line in ex.Errors)
            {
                await error.WriteLineAsync("  - " + line);
            }

            return 2;
        }
    }

    /// <summary>Prints a management token signed with the configuration's demo issuer key.</summary>
    private static int Token(string[] args, TextWriter output, TextWriter error)
    {
        var options = CliOptions.Parse(args, ["--tenant", "--user", "--role", "--issuer", "--config-dir", "--lifetime"]);
        if (options.Error is not null)
        {
            error.WriteLine($"token: {options.Error}");
            return Usage(error);
        }

        var configuration = LoadConfiguration(args);
        if (configuration.GetValue<bool>("Gateway:Production"))
        {
            error.WriteLine("token: refused: this configuration is marked Gateway:Production; demo tokens are for development only.");
            return 1;
        }

        var user = options.Single("--user");
        var roles = options.All("--role").SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct().ToArray();
        var tenant = options.Single("--tenant");
        string[] known = [ManagementCaller.PlatformAdmin, ManagementCaller.TenantAdmin, ManagementCaller.TenantUser];
        if (string.IsNullOrWhiteSpace(user) || roles.Length == 0 || roles.Any(r => !known.Contains(r)))
        {
            error.WriteLine($"token: --user and at least one --role ({string.Join(", ", known)}) are required.");
            return 2;
        }

        var tenants = new TenancyOptions();
        configuration.GetSection(TenancyOptions.SectionName).Bind(tenants.Tenants);
        if (roles.Any(r => r != ManagementCaller.PlatformAdmin) && (tenant is null || !tenants.Tenants.ContainsKey(tenant)))
        {
            error.WriteLine($"token: tenant roles need --tenant, one of: {string.Join(", ", tenants.Tenants.Keys)}.");
            return 2;
        }

        var management = new ManagementOptions();
        configuration.GetSection(ManagementOptions.SectionName).Bind(management);
        var issuerName = options.Single("--issuer");
        var issuer = management.Issuers
            .Where(i => i.Value.SigningKey is not null && (issuerName is null || i.Key == issuerName))
            .Select(i => i.Value)
            .FirstOrDefault();
        if (issuer is null)
        {
            error.WriteLine("token: the configuration has no issuer with a SigningKey (Management:Issuers:*:SigningKey).");
            return 1;
        }

        var lifetime = management.DemoTokenLifetime;
        if (options.Single("--lifetime") is { } text && (!TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out lifetime) || lifetime <= TimeSpan.Zero))
        {
            error.WriteLine("token: --lifetime is a time span such as 01:00:00.");
            return 2;
        }

        var claims = new Dictionary<string, object> { ["sub"] = user, ["roles"] = roles };
        if (tenant is not null)
        {
            claims["tenant"] = tenant;
        }

        var now = DateTime.UtcNow;
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer.Issuer,
            Audience = issuer.Audience,
            Claims = claims,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            SigningCredentials = new SigningCredentials(ManagementKeys.SymmetricKey(issuer), SecurityAlgorithms.HmacSha256),
            Subject = new ClaimsIdentity(),
        });
        output.WriteLine(token);
        return 0;
    }

    /// <summary>Reads a password from standard input and prints its PBKDF2 hash for the support-user directory.</summary>
    private static async Task<int> HashPasswordAsync(TextReader input, TextWriter output, TextWriter error)
    {
        var password = await input.ReadLineAsync();
        if (string.IsNullOrEmpty(password))
        {
            await error.WriteLineAsync("hash-password: give the password on standard input (one line).");
            return 2;
        }

        await output.WriteLineAsync(PasswordHasher.Hash(password));
        return 0;
    }

    /// <summary>
    /// <c>policy explain</c>: what the route policy does with one request. Prints JSON; exit 0
    /// when a support session with that isolation would be let through, 1 when refused.
    /// </summary>
    private static async Task<int> ExplainAsync(string[] args, TextWriter output, TextWriter error)
    {
        var options = CliOptions.Parse(args, ["--tenant", "--method", "--path", "--deny-data", "--deny-config", "--config-dir"]);
        var request = new Policy.ExplainRequest
        {
            Tenant = options.Single("--tenant"),
            Method = options.Single("--method") ?? "GET",
            Path = options.Single("--path"),
            DenyData = !bool.TryParse(options.Single("--deny-data") ?? "true", out var denyData) || denyData,
            DenyConfig = !bool.TryParse(options.Single("--deny-config") ?? "true", out var denyConfig) || denyConfig,
        };
        var invalid = options.Error ?? Policy.PolicyEndpoints.Validate(request);
        if (invalid is not null)
        {
            await error.WriteLineAsync($"policy explain: {invalid}");
            return Usage(error);
        }

        await using var app = await BuildAsync(options.Single("--config-dir"));
        var explanation = await app.Services.GetRequiredService<Policy.PolicyExplainer>()
            .ExplainAsync(request.Tenant!, request.Method!, request.Path!, request.DenyData, request.DenyConfig);
        await output.WriteLineAsync(System.Text.Json.JsonSerializer.Serialize(explanation, Policy.PolicyJsonContext.Default.PolicyExplanation));
        return explanation.Allowed ? 0 : 1;
    }

    /// <summary><c>config check</c>: loads a configuration directory exactly as start-up would, without serving.</summary>
    private static async Task<int> CheckAsync(string[] args, TextWriter output)
    {
        var options = CliOptions.Parse(args, ["--config-dir"]);
        if (options.Error is not null)
        {
            throw new GatewayConfigurationException($"config check: {options.Error}");
        }

        await using var app = await BuildAsync(options.Single("--config-dir"));
        var routes = app.Services.GetRequiredService<Routing.RouteConfigFileProvider>().Current;
        var users = app.Services.GetRequiredService<SupportUserDirectory>().Users.Count;
        await output.WriteLineAsync($"configuration OK: {routes.Routes.Count} routes, {routes.Clusters.Count} clusters, {users} support users");
        return 0;
    }

    /// <summary>
    /// <c>audit export</c>: the audit spool as NDJSON (one ECS event per line) on standard output,
    /// oldest first; <c>--unshipped</c> starts at the shipping checkpoint. Safe beside a running gateway.
    /// </summary>
    private static async Task<int> ExportAuditAsync(string[] args, TextWriter output, TextWriter error)
    {
        var options = CliOptions.Parse([.. args.Where(a => a != "--unshipped")], ["--spool-dir", "--config-dir"]);
        if (options.Error is not null)
        {
            await error.WriteLineAsync($"audit export: {options.Error}");
            return Usage(error);
        }

        var directory = options.Single("--spool-dir");
        if (directory is null)
        {
            var configuration = LoadConfiguration(args);
            directory = configuration[$"{Auditing.AuditOptions.SectionName}:SpoolDirectory"] is { Length: > 0 } configured ? configured : new Auditing.AuditOptions().SpoolDirectory;
        }

        if (!Directory.Exists(directory))
        {
            await error.WriteLineAsync($"audit export: no spool at '{Path.GetFullPath(directory)}'.");
            return 1;
        }

        var skipped = 0L;
        foreach (var line in Auditing.AuditSpoolReader.ReadEntries(directory, args.Contains("--unshipped"), s => skipped += s.Bytes))
        {
            await output.WriteLineAsync(line.Json);
        }

        if (skipped > 0)
        {
            await error.WriteLineAsync($"audit export: skipped {skipped} byte(s) that are not whole records (a torn tail or corruption).");
        }

        return 0;
    }

    /// <summary>The gateway as start-up builds it (every validator runs), never started, with logging off.</summary>
    private static Task<WebApplication> BuildAsync(string? configDir)
    {
        var args = new List<string> { "--urls", "http://127.0.0.1:0", "--Gateway:Demo:HostSampleApps=false" };
        if (configDir is not null)
        {
            args.AddRange(["--config-dir", configDir]);
        }

        return GatewayApp.CreateAsync([.. args], builder => builder.Logging.ClearProviders());
    }

    private static IConfiguration LoadConfiguration(string[] args)
    {
        var directory = ConfigDirectory.Resolve(args, Environment.GetEnvironmentVariable);
        return new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(directory, ConfigDirectory.SettingsFile), optional: false, reloadOnChange: false)
            .AddEnvironmentVariables()
            .Build();
    }

    private static int Usage(TextWriter error)
    {
        error.WriteLine("""
            usage:
              Gateway [--config-dir D] [--urls U] [--Section:Key=value ...]      run the gateway
              Gateway token --user U --role R [--role R2] [--tenant T] [--issuer NAME] [--lifetime hh:mm:ss] [--config-dir D]
              Gateway hash-password < password.txt
              Gateway policy explain --tenant T --method M --path P [--deny-data true|false] [--deny-config true|false] [--config-dir D]
              Gateway config check [--config-dir D]
              Gateway audit export [--spool-dir S | --config-dir D] [--unshipped]     the audit spool as NDJSON
              Gateway audit verify (--spool-dir S | --export FILE|-) [--jwks FILE|URL | --key PEM-FILE]   check the hash chain and signed digests (exit 0 clean, 1 problems)
            """);
        return 2;
    }

    /// <summary>A minimal "--name value" parser: the verbs take few options, all of this form.</summary>
    private sealed class CliOptions
    {
        private readonly List<KeyValuePair<string, string>> _values = [];

        public string? Error { get; private set; }

        public static CliOptions Parse(string[] args, string[] allowed)
        {
            var result = new CliOptions();
            for (var i = 0; i < args.Length; i++)
            {
                if (!allowed.Contains(args[i]))
                {
                    result.Error = $"unknown argument '{args[i]}'";
                    return result;
                }

                if (i + 1 >= args.Length)
                {
                    result.Error = $"{args[i]} needs a value";
                    return result;
                }

                result._values.Add(KeyValuePair.Create(args[i], args[++i]));
            }

            return result;
        }

        public string? Single(string name) => _values.LastOrDefault(v => v.Key == name).Value;

        public IEnumerable<string> All(string name) => _values.Where(v => v.Key == name).Select(v => v.Value);
    }
}
