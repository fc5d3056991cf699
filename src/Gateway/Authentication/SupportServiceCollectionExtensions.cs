using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

internal static class SupportServiceCollectionExtensions
{
    /// <summary>Support logins: the directory, credential checks, session tokens, the per-request decision, live sessions.</summary>
    public static IServiceCollection AddSupportSessions(this IServiceCollection services, IConfiguration configuration, string configDirectory)
    {
        services.AddOptionsWithValidateOnStart<SupportOptions>()
            .Bind(configuration.GetSection(SupportOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<SupportOptions>, SupportOptionsValidator>();
        // Bound as part of SupportOptions (Support:Credentials), validated on its own.
        services.AddOptionsWithValidateOnStart<SupportCredentialOptions>()
            .Bind(configuration.GetSection(SupportCredentialOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<SupportCredentialOptions>, SupportCredentialOptionsValidator>();

        services.AddSingleton(new SupportDirectorySource(configDirectory));
        services.AddSingleton<SupportUserDirectory>();
        services.AddSingleton<SupportCredentialVerifier>();
        services.AddSingleton<GatewaySigningKey>();
        services.AddSingleton<SupportTokens>();
        services.AddSingleton<SessionTokenCache>();
        services.AddSingleton<LoginThrottle>();
        services.AddSingleton<SupportLoginService>();
        services.AddSingleton<LiveSupportSessions>();
        services.AddSingleton<Gateway.Policy.RouteClassResolver>();
        services.AddSingleton<Gateway.Policy.PolicyExplainer>();
        services.AddHostedService(sp => sp.GetRequiredService<LiveSupportSessions>());
        services.AddSupportSessionAuthentication();
        return services;
    }
}
