using Gateway.Authentication;
using Gateway.Policy;
using Microsoft.Extensions.Options;

namespace Gateway.SupportSessions;

internal static class SupportSessionsServiceCollectionExtensions
{
    /// <summary>Support sessions: the directory, credential checks, session tokens, the support pipeline, live sessions, explain.</summary>
    public static IServiceCollection AddSupportSessions(this IServiceCollection services, IConfiguration configuration, string configDirectory)
    {
        services.AddOptionsWithValidateOnStart<SupportOptions>()
            .Bind(configuration.GetSection(SupportOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<SupportOptions>, SupportOptionsValidator>();
        // Bound as part of SupportOptions (Support:Credentials), validated on its own.
        services.AddOptionsWithValidateOnStart<SupportCredentialOptions>()
            .Bind(configuration.GetSection(SupportCredentialOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<SupportCredentialOptions>, SupportCredentialOptionsValidator>();

        services.AddSingleton(new SupportDirectorySource(configDirectory, RefuseDemoPasswords: configuration.GetValue<bool>("Gateway:Production")));
        services.AddSingleton<SupportUserDirectory>();
        services.AddSingleton<SupportCredentialVerifier>();
        services.AddSingleton<GatewaySigningKey>();
        services.AddSingleton<SupportTokens>();
        services.AddSingleton<SessionTokenCache>();
        services.AddSingleton<SupportCredentialReader>();
        services.AddSingleton<LoginThrottle>();
        services.AddSingleton<PasswordCheckPool>();
        services.AddSingleton<SupportAuthenticator>();
        services.AddSingleton<LiveSupportSessions>();
        services.AddSingleton<PolicyExplainer>();
        services.AddHostedService(sp => sp.GetRequiredService<LiveSupportSessions>());
        services.AddSupportSessionAuthentication();
        return services;
    }
}
