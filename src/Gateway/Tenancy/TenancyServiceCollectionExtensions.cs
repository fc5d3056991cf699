using Microsoft.Extensions.Options;

namespace Gateway.Tenancy;

internal static class TenancyServiceCollectionExtensions
{
    public static IServiceCollection AddGatewayTenancy(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<TenancyOptions>()
            .Configure(o => configuration.GetSection(TenancyOptions.SectionName).Bind(o.Tenants, b => b.ErrorOnUnknownConfiguration = true));
        services.AddSingleton<IValidateOptions<TenancyOptions>, TenancyOptionsValidator>();
        services.AddSingleton<TenantResolver>();
        return services;
    }
}
