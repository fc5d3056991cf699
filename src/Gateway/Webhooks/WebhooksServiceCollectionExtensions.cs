using Gateway.Grants;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

internal static class WebhooksServiceCollectionExtensions
{
    /// <summary>
    /// Signed, durable webhooks for support events: the store beside the grants (Redis when
    /// <c>Redis:Configuration</c> is set, else in memory), the rules, the sender and the outbox loop.
    /// Needs the event bus and the secret protector (registered with the sessions and the sign-in).
    /// </summary>
    public static IServiceCollection AddSupportWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<WebhooksOptions>()
            .Bind(configuration.GetSection(WebhooksOptions.SectionName), o => o.ErrorOnUnknownConfiguration = true);
        services.AddSingleton<IValidateOptions<WebhooksOptions>, WebhooksOptionsValidator>();

        if (string.IsNullOrWhiteSpace(configuration[$"{RedisOptions.SectionName}:Configuration"]))
        {
            services.AddSingleton<IWebhookStore, InMemoryWebhookStore>();
        }
        else
        {
            services.AddSingleton<IWebhookStore, RedisWebhookStore>();
        }

        services.AddSingleton<WebhookTargets>();
        services.AddSingleton<WebhookSecrets>();
        services.AddSingleton<WebhookSender>();
        services.AddSingleton<WebhookService>();
        services.AddSingleton<WebhookDispatcher>();
        // Registered before the sessions' maintenance, so it stops after it: the events that
        // maintenance publishes while stopping are still written to the outbox.
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
        return services;
    }
}
