using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gateway.Grants;
using Gateway.Hosting;
using Gateway.Problems;
using Microsoft.Extensions.Options;

namespace Gateway.Management;

/// <summary>The grant and platform endpoints of PRODUCT.md §5, under <c>/_gateway</c>.</summary>
internal static class ManagementEndpoints
{
    public static RouteGroupBuilder MapGatewayManagement(this RouteGroupBuilder gateway)
    {
        var management = gateway.MapGroup("").RequireAuthorization(ManagementAuthentication.Policy);

        management.MapGet("/platform/support", (HttpContext http, GrantService grants) =>
            Run(http, caller => grants.GetPlatformSettingsAsync(caller, http.RequestAborted), s => s, ManagementJsonContext.Default.PlatformSupportSettings));

        management.MapPut("/platform/support", (HttpContext http, GrantService grants) =>
            RunWithBody(http, ManagementJsonContext.Default.PlatformSettingsRequest,
                (caller, body) => grants.SetPlatformSettingsAsync(caller, body, http.RequestAborted),
                s => s, ManagementJsonContext.Default.PlatformSupportSettings));

        management.MapPut("/platform/tenants/{tenant}/support", (HttpContext http, string tenant, GrantService grants) =>
            RunWithBody(http, ManagementJsonContext.Default.TenantOverrideRequest,
                (caller, body) => grants.SetTenantOverrideAsync(caller, tenant, body, http.RequestAborted),
                o => o, ManagementJsonContext.Default.TenantSupportOverride));

        var tenantSupport = management.MapGroup("/tenants/{tenant}/support");

        tenantSupport.MapPost("/grants", (HttpContext http, string tenant, GrantService grants, TimeProvider time) =>
            RunWithBody(http, ManagementJsonContext.Default.CreateGrantRequest,
                (caller, body) => grants.CreateAsync(caller, tenant, body, http.RequestAborted),
                g => GrantView.From(g, time.GetUtcNow()), ManagementJsonContext.Default.GrantView,
                StatusCodes.Status201Created, g => $"/_gateway/tenants/{tenant}/support/grants/{g.Id}",
                emptyBody: () => new CreateGrantRequest()));

        tenantSupport.MapGet("/grants", (HttpContext http, string tenant, GrantService grants, TimeProvider time) =>
        {
            var status = http.Request.Query["status"].ToString();
            if (status is not ("" or "active" or "all"))
            {
                return GatewayProblem.Create(ProblemCode.InvalidRequest, "status: 'active' or 'all'.").WriteAsync(http);
            }

            var all = status == "all";
            return Run(http, caller => grants.ListAsync(caller, tenant, all, http.RequestAborted),
                list => new GrantListView(tenant, all ? "all" : "active", [.. list.Select(g => GrantView.From(g, time.GetUtcNow()))]),
                ManagementJsonContext.Default.GrantListView);
        });

        tenantSupport.MapGet("/grants/{id}", (HttpContext http, string tenant, string id, GrantService grants, TimeProvider time) =>
            Run(http, caller => grants.GetAsync(caller, tenant, id, http.RequestAborted),
                g => GrantView.From(g, time.GetUtcNow()), ManagementJsonContext.Default.GrantView));

        tenantSupport.MapDelete("/grants/{id}", (HttpContext http, string tenant, string id, GrantService grants, TimeProvider time) =>
            Run(http, caller => grants.RevokeAsync(caller, tenant, id, http.RequestAborted),
                g => GrantView.From(g, time.GetUtcNow()), ManagementJsonContext.Default.GrantView));

        tenantSupport.MapDelete("/grants", (HttpContext http, string tenant, GrantService grants, TimeProvider time) =>
            Run(http, caller => grants.RevokeAllAsync(caller, tenant, http.RequestAborted),
                list => new RevokedView(tenant, [.. list.Select(g => GrantView.From(g, time.GetUtcNow()))]),
                ManagementJsonContext.Default.RevokedView));

        tenantSupport.MapGet("/status", async (HttpContext http, string tenant, GrantService grants, SupportAccessReader reader) =>
        {
            if (ManagementCaller.From(http.User) is not { } caller)
            {
                await GatewayProblem.Create(ProblemCode.ManagementUnauthenticated).WriteAsync(http);
                return;
            }

            var allowed = grants.AuthorizeStatus(caller, tenant);
            if (!allowed.Succeeded)
            {
                await GatewayProblem.Create(allowed.Problem!, allowed.Detail).WriteAsync(http);
                return;
            }

            var result = await reader.GetAsync(tenant, http.RequestAborted);
            if (result.Access is not { } access)
            {
                await GatewayProblem.Create(ProblemCode.GrantStoreUnavailable).WriteAsync(http);
                return;
            }

            var view = new SupportStatusView(
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
                access.DeniedBy);
            await WriteJsonAsync(http, view, ManagementJsonContext.Default.SupportStatusView, StatusCodes.Status200OK);
        });

        return gateway;
    }

    private static async Task Run<T, TView>(HttpContext http, Func<ManagementCaller, Task<Outcome<T>>> action, Func<T, TView> view, JsonTypeInfo<TView> typeInfo)
    {
        if (ManagementCaller.From(http.User) is not { } caller)
        {
            await GatewayProblem.Create(ProblemCode.ManagementUnauthenticated).WriteAsync(http);
            return;
        }

        await Complete(http, () => action(caller), view, typeInfo, StatusCodes.Status200OK, null);
    }

    private static async Task RunWithBody<TBody, T, TView>(
        HttpContext http,
        JsonTypeInfo<TBody> bodyType,
        Func<ManagementCaller, TBody, Task<Outcome<T>>> action,
        Func<T, TView> view,
        JsonTypeInfo<TView> typeInfo,
        int successStatus = StatusCodes.Status200OK,
        Func<T, string>? location = null,
        Func<TBody>? emptyBody = null)
        where TBody : class
    {
        if (ManagementCaller.From(http.User) is not { } caller)
        {
            await GatewayProblem.Create(ProblemCode.ManagementUnauthenticated).WriteAsync(http);
            return;
        }

        var body = await ReadBodyAsync(http, bodyType, emptyBody);
        if (body.Problem is not null)
        {
            await GatewayProblem.Create(body.Problem, body.Detail).WriteAsync(http);
            return;
        }

        await Complete(http, () => action(caller, body.Value!), view, typeInfo, successStatus, location);
    }

    private static async Task Complete<T, TView>(HttpContext http, Func<Task<Outcome<T>>> action, Func<T, TView> view, JsonTypeInfo<TView> typeInfo, int successStatus, Func<T, string>? location)
    {
        Outcome<T> outcome;
        try
        {
            outcome = await action();
        }
        catch (GrantStoreUnavailableException ex)
        {
            await GatewayProblem.Create(ProblemCode.GrantStoreUnavailable, ex.Message).WriteAsync(http);
            return;
        }

        if (!outcome.Succeeded)
        {
            await GatewayProblem.Create(outcome.Problem!, outcome.Detail).WriteAsync(http);
            return;
        }

        if (location is not null)
        {
            http.Response.Headers.Location = location(outcome.Value!);
        }

        await WriteJsonAsync(http, view(outcome.Value!), typeInfo, successStatus);
    }

    /// <summary>Reads a small JSON body strictly: right media type, bounded size, no unknown fields.</summary>
    private static async Task<Outcome<TBody>> ReadBodyAsync<TBody>(HttpContext http, JsonTypeInfo<TBody> type, Func<TBody>? emptyBody)
        where TBody : class
    {
        var limit = http.RequestServices.GetRequiredService<IOptions<ManagementOptions>>().Value.MaxRequestBodyBytes;
        var body = await BoundedBody.ReadAsync(http.Request, limit, http.RequestAborted);
        if (body is null)
        {
            return Outcome<TBody>.Fail(ProblemCode.RequestTooLarge, $"At most {limit} bytes.");
        }

        if (body.Length == 0)
        {
            return emptyBody is not null ? emptyBody() : Outcome<TBody>.Fail(ProblemCode.InvalidRequest, "A JSON body is required.");
        }

        if (!http.Request.HasJsonContentType())
        {
            return Outcome<TBody>.Fail(ProblemCode.UnsupportedMediaType);
        }

        try
        {
            return JsonSerializer.Deserialize(body, type) is { } value
                ? value
                : Outcome<TBody>.Fail(ProblemCode.InvalidRequest, "A JSON object is required.");
        }
        catch (JsonException ex)
        {
            // The message names the JSON path and the problem, never echoes the body.
            return Outcome<TBody>.Fail(ProblemCode.InvalidRequest, ex.Message);
        }
    }

    private static async Task WriteJsonAsync<TView>(HttpContext http, TView value, JsonTypeInfo<TView> type, int status)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        await JsonSerializer.SerializeAsync(http.Response.Body, value, type, http.RequestAborted);
    }
}
