using Gateway.Grants;
using Gateway.Problems;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Management;

/// <summary>
/// The grant and platform endpoints under <c>/_gateway</c>. Who may call each is an authorization
/// policy on the endpoint (<see cref="ManagementPolicies"/>); bodies are bound strictly
/// (<see cref="JsonBody{T}"/>); results are typed. A grant store that cannot answer becomes
/// 503 <c>grant_store.unavailable</c> in the gateway's exception handler.
/// </summary>
internal static class ManagementEndpoints
{
    public static RouteGroupBuilder MapGatewayManagement(this RouteGroupBuilder gateway)
    {
        var management = gateway.MapGroup("")
            .AddEndpointFilter<JsonBodyFilter>()
            .AddEndpointFilter<NoStoreFilter>();

        var platform = management.MapGroup("/platform").RequireAuthorization(ManagementPolicies.PlatformAdmin);
        platform.MapGet("/support", GetPlatformSettingsAsync);
        platform.MapPut("/support", SetPlatformSettingsAsync);
        platform.MapPut("/tenants/{tenant}/support", SetTenantOverrideAsync);

        var support = management.MapGroup("/tenants/{tenant}/support");
        support.MapPost("/grants", CreateGrantAsync).RequireAuthorization(ManagementPolicies.TenantMemberOnly);
        support.MapGet("/grants", ListGrantsAsync).RequireAuthorization(ManagementPolicies.TenantAdmin);
        support.MapGet("/grants/{id}", GetGrantAsync).RequireAuthorization(ManagementPolicies.TenantMember);
        support.MapDelete("/grants/{id}", RevokeGrantAsync).RequireAuthorization(ManagementPolicies.TenantMemberOnly);
        support.MapDelete("/grants", RevokeAllAsync).RequireAuthorization(ManagementPolicies.TenantAdminOnly);
        support.MapGet("/status", GetStatusAsync).RequireAuthorization(ManagementPolicies.TenantMember);
        return gateway;
    }

    private static async Task<Results<Ok<PlatformSupportSettings>, GatewayProblem>> GetPlatformSettingsAsync(GrantService grants, CancellationToken cancellationToken) =>
        TypedResults.Ok(await grants.GetPlatformSettingsAsync(cancellationToken));

    private static async Task<Results<Ok<PlatformSupportSettings>, GatewayProblem>> SetPlatformSettingsAsync(
        JsonBody<PlatformSettingsRequest> body, ManagementCaller caller, GrantService grants, CancellationToken cancellationToken)
    {
        if (body.Value is not { } request)
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, "A JSON body is required.");
        }

        var outcome = await grants.SetPlatformSettingsAsync(caller, request, cancellationToken);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value) : outcome.ToProblem();
    }

    private static async Task<Results<Ok<TenantSupportOverride>, GatewayProblem>> SetTenantOverrideAsync(
        string tenant, JsonBody<TenantOverrideRequest> body, ManagementCaller caller, GrantService grants, CancellationToken cancellationToken)
    {
        if (body.Value is not { } request)
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, "A JSON body is required.");
        }

        var outcome = await grants.SetTenantOverrideAsync(caller, tenant, request, cancellationToken);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value) : outcome.ToProblem();
    }

    private static async Task<Results<Created<GrantView>, GatewayProblem>> CreateGrantAsync(
        string tenant, JsonBody<CreateGrantRequest> body, ManagementCaller caller, GrantService grants, TimeProvider time, CancellationToken cancellationToken)
    {
        var outcome = await grants.CreateAsync(caller, tenant, body.Value ?? new CreateGrantRequest(), cancellationToken);
        return outcome.Succeeded
            ? TypedResults.Created($"/_gateway/tenants/{tenant}/support/grants/{outcome.Value!.Id}", GrantView.From(outcome.Value, time.GetUtcNow()))
            : outcome.ToProblem();
    }

    private static async Task<Results<Ok<GrantListView>, GatewayProblem>> ListGrantsAsync(
        string tenant, string? status, GrantService grants, TimeProvider time, CancellationToken cancellationToken)
    {
        if (status is not (null or "" or "active" or "all"))
        {
            return GatewayProblem.Create(ProblemCode.InvalidRequest, "status: 'active' or 'all'.");
        }

        var all = status == "all";
        var list = await grants.ListAsync(tenant, all, cancellationToken);
        var now = time.GetUtcNow();
        return TypedResults.Ok(new GrantListView(tenant, all ? "all" : "active", [.. list.Select(g => GrantView.From(g, now))]));
    }

    private static async Task<Results<Ok<GrantView>, GatewayProblem>> GetGrantAsync(
        string tenant, string id, GrantService grants, TimeProvider time, CancellationToken cancellationToken)
    {
        var outcome = await grants.GetAsync(tenant, id, cancellationToken);
        return outcome.Succeeded ? TypedResults.Ok(GrantView.From(outcome.Value!, time.GetUtcNow())) : outcome.ToProblem();
    }

    private static async Task<Results<Ok<GrantView>, GatewayProblem>> RevokeGrantAsync(
        string tenant, string id, ManagementCaller caller, GrantService grants, TimeProvider time, CancellationToken cancellationToken)
    {
        var outcome = await grants.RevokeAsync(caller, tenant, id, cancellationToken);
        return outcome.Succeeded ? TypedResults.Ok(GrantView.From(outcome.Value!, time.GetUtcNow())) : outcome.ToProblem();
    }

    private static async Task<Results<Ok<RevokedView>, GatewayProblem>> RevokeAllAsync(
        string tenant, ManagementCaller caller, GrantService grants, TimeProvider time, CancellationToken cancellationToken)
    {
        var outcome = await grants.RevokeAllAsync(caller, tenant, cancellationToken);
        var now = time.GetUtcNow();
        return outcome.Succeeded ? TypedResults.Ok(new RevokedView(tenant, [.. outcome.Value!.Select(g => GrantView.From(g, now))])) : outcome.ToProblem();
    }

    private static async Task<Results<Ok<SupportStatusView>, GatewayProblem>> GetStatusAsync(
        string tenant, SupportAccessReader reader, CancellationToken cancellationToken)
    {
        var result = await reader.GetAsync(tenant, cancellationToken);
        if (result.Access is not { } access)
        {
            return GatewayProblem.Create(ProblemCode.GrantStoreUnavailable);
        }

        return TypedResults.Ok(new SupportStatusView(
            tenant,
            access.IsActive,
            access.Until,
            [.. access.Entries.Select(e => e.Source switch
            {
                SupportAccessSource.Grant => "grant",
                SupportAccessSource.Platform => "platform",
                _ => "tenant-override",
            }).Distinct()],
            access.IsActive ? access.DenyData : null,
            access.IsActive ? access.DenyConfig : null,
            [.. access.GrantIds],
            access.DeniedBy,
            access.Scope));
    }

    private static GatewayProblem ToProblem<T>(this Outcome<T> outcome) => GatewayProblem.Create(outcome.Problem!, outcome.Detail);
}

/// <summary>Management answers describe live state: never cached by browsers or proxies.</summary>
internal sealed class NoStoreFilter : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        context.HttpContext.Response.Headers.CacheControl = "no-store";
        return next(context);
    }
}
