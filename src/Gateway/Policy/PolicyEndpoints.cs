using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Gateway.Management;
using Gateway.Problems;

namespace Gateway.Policy;

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record ExplainRequest
{
    public string? Tenant { get; init; }

    public string? Method { get; init; }

    public string? Path { get; init; }

    /// <summary>Isolation of the hypothetical grant; both default to on, like new grants.</summary>
    public bool DenyData { get; init; } = true;

    public bool DenyConfig { get; init; } = true;

    /// <summary>Request headers, for routes with header conditions and for the override-header rule.</summary>
    public Dictionary<string, string>? Headers { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = false)]
[JsonSerializable(typeof(ExplainRequest))]
[JsonSerializable(typeof(PolicyExplanation))]
internal sealed partial class PolicyJsonContext : JsonSerializerContext;

/// <summary><c>POST /_gateway/policy/explain</c> (platform-admin).</summary>
internal static class PolicyEndpoints
{
        public static RouteGroupBuilder MapPolicyEndpoints(this RouteGroupBuilder gateway)
    {
        gateway.MapPost("/policy/explain", ExplainAsync)
            .RequireAuthorization(ManagementPolicies.PlatformAdmin)
            .AddEndpointFilter<JsonBodyFilter>()
            .AddEndpointFilter<NoStoreFilter>();
        gateway.MapPost("/policy/replay", ReplayAsync)
            .RequireAuthorization(ManagementPolicies.PlatformAdmin)
            .AddEndpointFilter<NoStoreFilter>();
        return gateway;
    }

    /// <summary>Largest candidate routes file the replay endpoint takes.</summary>
    public const int MaxCandidateRoutesBytes = 1024 * 1024;

    /// <summary>One replay at a time: each builds a candidate gateway (routes loaded and validated as start-up does).</summary>
    private static readonly SemaphoreSlim OneReplay = new(1, 1);

    /// <summary>
    /// <c>POST /_gateway/policy/replay</c>: the body is a candidate routes file; every support request in
    /// this instance's audit spool is decided again under it (<see cref="PolicyReplay"/>).
    /// </summary>
    private static async Task<Results<Ok<ReplayReport>, GatewayProblem>> ReplayAsync(
        HttpContext http, GatewayStartArguments start, Auditing.SpoolingAuditSink spool, CancellationToken cancellationToken)
    {
        var body = await Hosting.BoundedBody.ReadAsync(http.Request, MaxCandidateRoutesBytes, cancellationToken);
        if (body is null)
        {
            return GatewayProblem.Create(ProblemCode.RequestTooLarge, $"At most {MaxCandidateRoutesBytes} bytes.");
        }

        if (body.Length == 0)
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, "The body is the candidate routes file (the shape of routes.json).");
        }

        if (!http.Request.HasJsonContentType())
        {
            return GatewayProblem.Create(ProblemCode.UnsupportedMediaType);
        }

        await OneReplay.WaitAsync(cancellationToken);
        var candidate = Path.Combine(Path.GetTempPath(), $"gateway-replay-{Guid.NewGuid():N}.json");
        try
        {
            await File.WriteAllBytesAsync(candidate, body, cancellationToken);
            WebApplication app;
            try
            {
                app = await CandidateGateway.BuildAsync(start.Args, candidate);
            }
            catch (Hosting.GatewayConfigurationException ex)
            {
                return GatewayProblem.Create(ProblemCode.InvalidRequest, "The candidate routes are invalid: " + string.Join(" ", ex.Errors));
            }

            await using (app)
            {
                var report = await PolicyReplay.RunAsync(app.Services.GetRequiredService<PolicyExplainer>(), Auditing.AuditSpoolReader.ReadJsonLines(spool.Directory), cancellationToken);
                return TypedResults.Ok(report);
            }
        }
        finally
        {
            File.Delete(candidate);
            OneReplay.Release();
        }
    }

    private static async Task<Results<Ok<PolicyExplanation>, GatewayProblem>> ExplainAsync(JsonBody<ExplainRequest> body, PolicyExplainer explainer, CancellationToken cancellationToken)
    {
        if (Validate(body.Value) is { } error)
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, error);
        }

        var request = body.Value!;
        var headers = new HeaderDictionary();
        foreach (var (name, value) in request.Headers ?? [])
        {
            headers[name] = value;
        }

        return TypedResults.Ok(await explainer.ExplainAsync(request.Tenant!, request.Method!, request.Path!, request.DenyData, request.DenyConfig, headers, cancellationToken));
    }

    internal static string? Validate(ExplainRequest? request)
    {
        if (request is null || string.IsNullOrEmpty(request.Tenant) || string.IsNullOrEmpty(request.Method) || string.IsNullOrEmpty(request.Path))
        {
            return "tenant, method and path are required.";
        }

        if (request.Method.Length > 32 || !request.Method.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)))
        {
            return "method: an HTTP method token.";
        }

        if (request.Headers is { Count: > 32 } || request.Headers?.Any(h => h.Key.Length is 0 or > 256 || h.Value.Length > 8192) == true)
        {
            return "headers: at most 32, names up to 256 and values up to 8192 characters.";
        }

        return request.Path.Length > 8192 ? "path: at most 8192 characters." : null;
    }
}
