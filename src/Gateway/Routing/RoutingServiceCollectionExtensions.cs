using Gateway.Problems;
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
        services.AddReverseProxy()
            .AddTransforms<ConnectionHeaderTransformProvider>()
            .AddTransforms<RawTargetTransformProvider>()
            .AddTransforms<Gateway.Authentication.IdentityTransformProvider>();
        return services;
    }

    public static WebApplication MapGatewayProxy(this WebApplication app)
    {
        app.MapReverseProxy(pipeline =>
        {
            pipeline.Use(ProxyPipeline.GuardReservedPrefix);
            pipeline.UseMiddleware<Gateway.Auditing.ProxyAuditMiddleware>();
            pipeline.Use(ProxyPipeline.ReportForwarderErrors);
            pipeline.UseMiddleware<Gateway.Authentication.SupportRequestMiddleware>();
            pipeline.UseSessionAffinity();
            pipeline.UseLoadBalancing();
            pipeline.UsePassiveHealthChecks();
        });

        // A known tenant host with a path no route serves: say so rather than an empty 404.
        app.MapFallback("{**path}", context => GatewayProblem.Create(ProblemCode.NoRoute).WriteAsync(context));
        return app;
    }
}
