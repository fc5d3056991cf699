using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

internal static class SupportSignInServiceCollectionExtensions
{
    /// <summary>The shared sign-in (JSON endpoint and sign-in page), two-factor codes and the key that encrypts their secrets.</summary>
    public static IServiceCollection AddSupportSignIn(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<SecretsOptions>()
            .Bind(configuration.GetSection(SecretsOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<SecretsOptions>, SecretsOptionsValidator>();
        services.AddSingleton<SecretProtector>();
        services.AddSingleton<SupportMfa>();
        services.AddSingleton<SupportSignIn>();
        return services;
    }
}
