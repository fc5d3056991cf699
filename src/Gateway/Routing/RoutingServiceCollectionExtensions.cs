using Yarp.ReverseProxy.Configuration;

namespace Gateway.Routing;

internal static class RoutingServiceCollectionExtensions
{
    public static IServiceCollection AddGatewayRouting(this IServiceCollection services, IConfiguration configuration, RouteConfigurationSource source)
    {
        services.AddOptionsWithValidateOnStart<RoutingOptions>()
            .Bind(configuration.GetSection(RoutingOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton(source);
        services.AddSingleton<RouteConfigLoader>();
        services.AddSingleton<RouteConfigFileProvider>();
        services.AddSingleton<IProxyConfigProvider>(sp => sp.GetRequiredService<RouteConfigFileProvider>());
        services.AddSingleton<GatewayRouteResolver>();
        services.AddReverseProxy()
            .AddTransforms<ConnectionHeaderTransformProvider>()
            .AddTransforms<RawTargetTransformProvider>()
            .AddTransforms<Gateway.SupportSessions.IdentityTransformProvider>();
        return services;
    }
}
