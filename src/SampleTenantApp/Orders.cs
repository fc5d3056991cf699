using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SampleTenantApp;

internal sealed record Order(int Id, string Item, int Quantity);

internal sealed record OrderInput(string? Item, int? Quantity);

/// <summary>In-memory orders of one app instance (not static: two apps in one process keep separate data).</summary>
internal sealed class OrderStore
{
    private readonly ConcurrentDictionary<int, Order> _orders = new();
    private int _lastId;

    public OrderStore()
    {
        Add("Widget", 2);
        Add("Gadget", 1);
    }

    public Order[] List() => [.. _orders.Values.OrderBy(o => o.Id)];

    public Order? Find(int id) => _orders.GetValueOrDefault(id);

    public Order Add(string item, int quantity)
    {
        var order = new Order(Interlocked.Increment(ref _lastId), item, quantity);
        _orders[order.Id] = order;
        return order;
    }

    public Order? Update(int id, string item, int quantity)
    {
        var updated = new Order(id, item, quantity);
        while (_orders.TryGetValue(id, out var current))
        {
            // Compare-and-swap so a concurrent DELETE is never undone by an update.
            if (_orders.TryUpdate(id, updated, current))
            {
                return updated;
            }
        }

        return null;
    }

    public bool Remove(int id) => _orders.TryRemove(id, out _);
}

internal static class Orders
{
    private const string ExpectedBody = """Expected a JSON object {"item": string, "quantity": int >= 1}.""";

    public static IEndpointRouteBuilder MapOrders(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/orders");
        group.MapGet("/", List);
        group.MapPost("/", CreateAsync);
        group.MapGet("/{id:int}", Get);
        group.MapPut("/{id:int}", UpdateAsync);
        group.MapDelete("/{id:int}", Delete);
        return routes;
    }

    private static Ok<Order[]> List(OrderStore store) => TypedResults.Ok(store.List());

    private static Results<Ok<Order>, ProblemHttpResult> Get(int id, OrderStore store) =>
        store.Find(id) is { } order ? TypedResults.Ok(order) : NotFound(id);

    private static async Task<Results<Created<Order>, ProblemHttpResult>> CreateAsync(
        HttpRequest request, OrderStore store, CancellationToken cancellationToken)
    {
        var input = await JsonBody.ReadAsync(request, SampleJsonContext.Default.OrderInput, cancellationToken);
        if (!IsValid(input, out var item, out var quantity))
        {
            return Problems.BadRequest("invalid_order", ExpectedBody);
        }

        var order = store.Add(item, quantity);
        return TypedResults.Created($"/api/orders/{order.Id}", order);
    }

    private static async Task<Results<Ok<Order>, ProblemHttpResult>> UpdateAsync(
        int id, HttpRequest request, OrderStore store, CancellationToken cancellationToken)
    {
        var input = await JsonBody.ReadAsync(request, SampleJsonContext.Default.OrderInput, cancellationToken);
        if (!IsValid(input, out var item, out var quantity))
        {
            return Problems.BadRequest("invalid_order", ExpectedBody);
        }

        return store.Update(id, item, quantity) is { } order ? TypedResults.Ok(order) : NotFound(id);
    }

    private static Results<NoContent, ProblemHttpResult> Delete(int id, OrderStore store) =>
        store.Remove(id) ? TypedResults.NoContent() : NotFound(id);

    private static bool IsValid(OrderInput? input, out string item, out int quantity)
    {
        item = input?.Item?.Trim() ?? string.Empty;
        quantity = input?.Quantity ?? 0;
        return item.Length > 0 && quantity >= 1;
    }

    private static ProblemHttpResult NotFound(int id) =>
        Problems.NotFound("order_not_found", $"Order {id} does not exist.");
}
