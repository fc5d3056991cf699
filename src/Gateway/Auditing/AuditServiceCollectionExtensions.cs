using Gateway.Health;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.Auditing;

internal static class AuditServiceCollectionExtensions
{
    /// <summary>
    /// The durable audit pipeline: <see cref="IAuditSink"/> = <see cref="SpoolingAuditSink"/>
    /// (queue → spool, a hosted service), <see cref="ElasticsearchShipper"/> (a hosted service
    /// that idles when <c>Audit:Elasticsearch:Url</c> is empty), <see cref="AuditOptions"/>
    /// bound strictly and validated at start, and the "audit" health check (tagged ready).
    /// </summary>
    public static IServiceCollection AddGatewayAudit(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<AuditOptions>()
            .Bind(configuration.GetSection(AuditOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<AuditOptions>>(new AuditOptionsValidator(configuration));
        services.TryAddSingleton(TimeProvider.System);

        services.AddSingleton<AuditSpoolState>();
        services.AddSingleton<AuditSigningKey>();
        services.AddSingleton<SpoolingAuditSink>();
        services.AddSingleton<IAuditSink>(sp => sp.GetRequiredService<SpoolingAuditSink>());
        services.AddSingleton<ElasticsearchShipper>();
        // Hosted services stop in reverse order: the shipper first, then the sink drains its queue.
        services.AddHostedService(sp => sp.GetRequiredService<SpoolingAuditSink>());
        services.AddHostedService(sp => sp.GetRequiredService<ElasticsearchShipper>());

        services.AddHealthChecks().AddCheck<AuditHealthCheck>(AuditHealthCheck.Name, tags: [HealthEndpoints.ReadyTag]);
        return services;
    }
}
