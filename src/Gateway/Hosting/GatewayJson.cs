using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Gateway.Authentication;
using Gateway.Management;
using Gateway.Policy;

namespace Gateway.Hosting;

/// <summary>
/// The JSON of the gateway's own HTTP API: source-generated contracts (no reflection), camelCase,
/// enums as strings. Endpoint results (<c>TypedResults</c>) serialise through the same
/// resolvers (<see cref="Configure"/>), and request bodies are read with <see cref="TypeInfo{T}"/>.
/// </summary>
internal static class GatewayJson
{
    private static readonly JsonSerializerContext[] Contexts =
        [ManagementJsonContext.Default, PolicyJsonContext.Default, SupportJsonContext.Default, Sessions.SessionsJsonContext.Default, Policy.PolicyReplayJsonContext.Default, Webhooks.WebhooksJsonContext.Default];

    /// <summary>The contract of <typeparamref name="T"/> from the context that declares it.</summary>
    public static JsonTypeInfo<T> TypeInfo<T>()
    {
        foreach (var context in Contexts)
        {
            if (context.GetTypeInfo(typeof(T)) is JsonTypeInfo<T> info)
            {
                return info;
            }
        }

        throw new InvalidOperationException($"{typeof(T).Name} is not a JSON contract of the gateway's API.");
    }

    public static IServiceCollection AddGatewayJson(this IServiceCollection services) =>
        services.ConfigureHttpJsonOptions(o => Configure(o.SerializerOptions));

    private static void Configure(JsonSerializerOptions options)
    {
        for (var i = Contexts.Length - 1; i >= 0; i--)
        {
            options.TypeInfoResolverChain.Insert(0, Contexts[i]);
        }
    }
}
