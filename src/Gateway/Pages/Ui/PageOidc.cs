using System.Text.Json;
using Gateway.Management;
using Gateway.Tenancy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Pages.Ui;

/// <summary>One issuer the sign-in page offers ("Sign in with {DisplayName}").</summary>
internal sealed record PageOidcProvider(string Name, string DisplayName);

/// <summary>The issuers with a pages client, known when the services are registered (one scheme each).</summary>
internal sealed record PageOidcProviders(IReadOnlyList<PageOidcProvider> All);

/// <summary>
/// OpenID Connect sign-in (authorization code flow with PKCE) for the self-service pages: one
/// scheme <c>GatewayPagesOidc-{name}</c> per management issuer with a <c>PagesClientId</c> and
/// discovery (<c>Authority</c> or <c>MetadataAddress</c>). The id_token is mapped by that issuer's
/// own claim mapping (<see cref="ManagementClaimMapper"/>), so a page user is exactly the caller
/// the management API would see with the same token; the result is the page cookie.
/// </summary>
internal static partial class PageOidc
{
    public const string SchemePrefix = "GatewayPagesOidc-";
    public const string CallbackPrefix = PageSignIn.BasePath + "/signin-oidc-";

    public static IServiceCollection AddPageOidc(this IServiceCollection services, IConfiguration configuration)
    {
        var providers = new List<PageOidcProvider>();
        foreach (var section in configuration.GetSection(ManagementOptions.SectionName + ":Issuers").GetChildren())
        {
            var discovery = !string.IsNullOrWhiteSpace(section["Authority"]) || !string.IsNullOrWhiteSpace(section["MetadataAddress"]);
            if (string.IsNullOrWhiteSpace(section["PagesClientId"]) || !discovery)
            {
                continue;
            }

            var name = section.Key;
            providers.Add(new PageOidcProvider(name, string.IsNullOrWhiteSpace(section["DisplayName"]) ? name : section["DisplayName"]!));
            services.AddAuthentication().AddOpenIdConnect(SchemePrefix + name, _ => { });
            services.AddOptions<OpenIdConnectOptions>(SchemePrefix + name)
                .Configure<IOptions<ManagementOptions>>((oidc, management) => Configure(oidc, name, management.Value.Issuers[name]));
        }

        services.AddSingleton(new PageOidcProviders(providers));
        return services;
    }

    private static void Configure(OpenIdConnectOptions oidc, string name, ManagementIssuerOptions issuer)
    {
        if (!string.IsNullOrWhiteSpace(issuer.MetadataAddress))
        {
            oidc.MetadataAddress = issuer.MetadataAddress;
        }
        else
        {
            oidc.Authority = issuer.Authority;
        }

        // Plain-http discovery is refused in production by the options validator (RequireHttpsMetadata=false is).
        oidc.RequireHttpsMetadata = issuer.RequireHttpsMetadata;
        oidc.ClientId = issuer.PagesClientId;
        oidc.ClientSecret = string.IsNullOrWhiteSpace(issuer.PagesClientSecret) ? null : issuer.PagesClientSecret;
        oidc.ResponseType = OpenIdConnectResponseType.Code;
        // The code comes back in the query of a top-level GET, so the SameSite=Lax correlation and
        // nonce cookies are sent with it (a cross-site form_post would not carry them).
        oidc.ResponseMode = OpenIdConnectResponseMode.Query;
        oidc.UsePkce = true;
        oidc.Scope.Clear();
        oidc.Scope.Add("openid");
        oidc.Scope.Add("profile");
        oidc.SignInScheme = PageSignIn.Scheme;
        oidc.CallbackPath = CallbackPrefix + name;
        oidc.MapInboundClaims = false;
        oidc.SaveTokens = false;
        oidc.GetClaimsFromUserInfoEndpoint = false;
        oidc.DisableTelemetry = true;
        foreach (var cookie in new[] { oidc.CorrelationCookie, oidc.NonceCookie })
        {
            cookie.SameSite = SameSiteMode.Lax;
            cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.Path = PageSignIn.BasePath;
        }

        oidc.TokenValidationParameters.ValidIssuer = issuer.Issuer;
        oidc.TokenValidationParameters.ValidAudience = issuer.PagesClientId;
        oidc.Events = new OpenIdConnectEvents
        {
            OnTokenValidated = context => TokenValidated(context, name, issuer),
            OnRemoteFailure = RemoteFailure,
        };
    }

    /// <summary>The id_token passed the handler's checks (signature, issuer, audience, lifetime, nonce): map it, or refuse.</summary>
    private static Task TokenValidated(TokenValidatedContext context, string name, ManagementIssuerOptions issuer)
    {
        var logger = Logger(context.HttpContext);
        var raw = context.TokenEndpointResponse?.IdToken ?? context.ProtocolMessage?.IdToken;
        ManagementCaller? caller = null;
        if (raw?.Split('.') is [_, var payload, ..])
        {
            using var document = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(payload));
            caller = ManagementClaimMapper.Map(issuer, document.RootElement);
        }

        var role = caller is null ? null
            : caller.IsPlatformAdmin ? ManagementCaller.PlatformAdmin
            : caller.Roles.Contains(ManagementCaller.TenantAdmin) ? ManagementCaller.TenantAdmin
            : caller.Roles.Contains(ManagementCaller.TenantUser) ? ManagementCaller.TenantUser
            : null;
        var hostTenant = context.HttpContext.RequestServices.GetRequiredService<TenantResolver>().TryResolve(context.HttpContext.Request.Host, out var resolved)
            ? resolved.Value
            : null;
        if (caller is null || role is null)
        {
            LogRefused(logger, name, caller?.Subject ?? "(no subject)", "no gateway role");
            context.Fail(new PageOidcRefusal(PageOidcRefusal.NoRole));
            return Task.CompletedTask;
        }

        if (role != ManagementCaller.PlatformAdmin && (caller.Tenant is null || caller.Tenant != hostTenant))
        {
            LogRefused(logger, name, caller.Subject, $"tenant {caller.Tenant ?? "(none)"} on the host of {hostTenant ?? "(none)"}");
            context.Fail(new PageOidcRefusal(PageOidcRefusal.WrongTenant));
            return Task.CompletedTask;
        }

        var user = new PageUser(caller.Subject, role == ManagementCaller.PlatformAdmin ? null : caller.Tenant, role);
        context.Principal = PageSignIn.Principal(user);
        LogSignIn(logger, user.Name, user.Role, name, hostTenant ?? "(none)");
        return Task.CompletedTask;
    }

    /// <summary>Every failure of the callback (state, nonce, refusal, provider error) ends on the sign-in page, in words.</summary>
    private static Task RemoteFailure(RemoteFailureContext context)
    {
        var reason = context.Failure switch
        {
            PageOidcRefusal refusal => refusal.Reason,
            OpenIdConnectProtocolInvalidNonceException => "nonce",
            { Message: var m } when m.Contains("Correlation failed", StringComparison.Ordinal)
                || m.Contains("message.State", StringComparison.Ordinal) => "state",
            _ => "failed",
        };
        LogRemoteFailure(Logger(context.HttpContext), context.Scheme.Name, reason, context.Failure?.GetType().Name ?? "(none)");
        context.Response.Redirect(PageSignIn.SignInPath + "?error=" + reason);
        context.HandleResponse();
        return Task.CompletedTask;
    }

    /// <summary>The words the sign-in page shows for a failed OIDC sign-in (<c>?error=</c>), or null for an unknown code.</summary>
    public static PageMessage? Message(string? error) => error switch
    {
        PageOidcRefusal.NoRole => new("Sign-in refused", "Your identity provider signed you in, but gave you no role on these pages (tenant user, tenant admin or platform admin). Ask your administrator for one.", "pages.oidc_no_role"),
        PageOidcRefusal.WrongTenant => new("Sign-in refused", "Your account belongs to another tenant than this address. Sign in on your own tenant's address.", "pages.oidc_wrong_tenant"),
        "state" => new("Sign-in failed", "The answer from the identity provider did not match a sign-in started here (it expired, or was altered). Start again.", "pages.oidc_state"),
        "nonce" => new("Sign-in failed", "The identity provider's token was not issued for this sign-in (its nonce did not match). Start again.", "pages.oidc_nonce"),
        "failed" => new("Sign-in failed", "The sign-in through the identity provider did not complete. Start again, or ask your administrator.", "pages.oidc_failed"),
        _ => null,
    };

    private static ILogger Logger(HttpContext http) => http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Pages.Ui.PageOidc");

    [LoggerMessage(EventId = 1660, Level = LogLevel.Information, Message = "OIDC page sign-in as {User} ({Role}) through {Issuer} on tenant host {Tenant}")]
    private static partial void LogSignIn(ILogger logger, string user, string role, string issuer, string tenant);

    [LoggerMessage(EventId = 1661, Level = LogLevel.Warning, Message = "OIDC page sign-in of {User} through {Issuer} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string issuer, string user, string reason);

    [LoggerMessage(EventId = 1662, Level = LogLevel.Warning, Message = "OIDC page sign-in through {Scheme} failed ({Reason}, {Failure})")]
    private static partial void LogRemoteFailure(ILogger logger, string scheme, string reason, string failure);
}

/// <summary>The gateway's own refusal of a token the provider accepted (no role, another tenant).</summary>
internal sealed class PageOidcRefusal(string reason) : Exception("OIDC page sign-in refused: " + reason)
{
    public const string NoRole = "no-role";
    public const string WrongTenant = "wrong-tenant";

    public string Reason { get; } = reason;
}
