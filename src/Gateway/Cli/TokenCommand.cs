using System.CommandLine;
using System.Security.Claims;
using Gateway.Management;
using Gateway.Tenancy;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Cli;

/// <summary>
/// <c>token</c>: prints a management token signed with the configuration's demo issuer key, for
/// trying the management API. Refused (exit 1) when the configuration is marked <c>Gateway:Production</c>.
/// </summary>
internal static class TokenCommand
{
    private static readonly string[] Roles = [ManagementCaller.PlatformAdmin, ManagementCaller.TenantAdmin, ManagementCaller.TenantUser];

    public static Command Create(CliConsole console)
    {
        var user = new Option<string>("--user") { Description = "The token's subject (sub).", HelpName = "name", Required = true };
        var role = new Option<string[]>("--role")
        {
            Description = $"A role ({string.Join(", ", Roles)}); repeat it or separate roles with commas.",
            HelpName = "role",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var tenant = new Option<string?>("--tenant") { Description = "The tenant (required with tenant roles).", HelpName = "id" };
        var issuer = new Option<string?>("--issuer") { Description = "The name of the issuer under Management:Issuers (default: the first with a SigningKey).", HelpName = "name" };
        var lifetime = CliOptions.PositiveTimeSpan("--lifetime", "How long the token is valid (default: Management:DemoTokenLifetime).");
        var configDir = CliOptions.ConfigDir();

        var command = new Command("token", "Print a demo management token (development only; refused in a configuration marked Gateway:Production).")
        {
            user, role, tenant, issuer, lifetime, configDir,
        };
        command.SetAction(parse => Run(
            console,
            parse.GetValue(configDir),
            parse.GetRequiredValue(user),
            [.. parse.GetRequiredValue(role).SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct()],
            parse.GetValue(tenant),
            parse.GetValue(issuer),
            parse.GetValue(lifetime)));
        return command;
    }

    private static int Run(CliConsole console, string? configDir, string user, string[] roles, string? tenant, string? issuerName, TimeSpan? lifetime)
    {
        var error = console.Error;
        var configuration = CliConfiguration.Load(configDir);
        if (configuration.GetValue<bool>("Gateway:Production"))
        {
            error.WriteLine("token: refused: this configuration is marked Gateway:Production; demo tokens are for development only.");
            return CliExitCodes.Refused;
        }

        if (string.IsNullOrWhiteSpace(user) || roles.Length == 0 || roles.Any(r => !Roles.Contains(r)))
        {
            error.WriteLine($"token: --user and at least one --role ({string.Join(", ", Roles)}) are required.");
            return CliExitCodes.Usage;
        }

        var tenants = new TenancyOptions();
        configuration.GetSection(TenancyOptions.SectionName).Bind(tenants.Tenants);
        if (roles.Any(r => r != ManagementCaller.PlatformAdmin) && (tenant is null || !tenants.Tenants.ContainsKey(tenant)))
        {
            error.WriteLine($"token: tenant roles need --tenant, one of: {string.Join(", ", tenants.Tenants.Keys)}.");
            return CliExitCodes.Usage;
        }

        var management = new ManagementOptions();
        configuration.GetSection(ManagementOptions.SectionName).Bind(management);
        var issuer = management.Issuers
            .Where(i => !string.IsNullOrWhiteSpace(i.Value.SigningKey) && (issuerName is null || i.Key == issuerName))
            .Select(i => i.Value)
            .FirstOrDefault();
        if (issuer is null)
        {
            error.WriteLine("token: the configuration has no issuer with a SigningKey (Management:Issuers:*:SigningKey).");
            return CliExitCodes.Refused;
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
            Expires = now + (lifetime ?? management.DemoTokenLifetime),
            SigningCredentials = new SigningCredentials(ManagementKeys.SymmetricKey(issuer), SecurityAlgorithms.HmacSha256),
            Subject = new ClaimsIdentity(),
        });
        console.Output.WriteLine(token);
        return CliExitCodes.Done;
    }
}
