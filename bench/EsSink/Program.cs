using System.Buffers;
using System.Text;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 200L * 1024 * 1024);
var app = builder.Build();
long documents = 0;

app.MapGet("/", () => Results.Text("""{"version":{"number":"8.15.0"},"tagline":"You Know, for Search"}""", "application/json"));
app.MapGet("/_bench/count", () => Results.Text($"{{\"documents\":{Interlocked.Read(ref documents)}}}", "application/json"));
app.MapPost("/_bulk", Bulk);
app.MapPost("/{index}/_bulk", Bulk);
app.Run();

// Counts the action lines of the NDJSON body (every other line) and answers 201 for each.
async Task Bulk(HttpContext context)
{
    var lines = 0L;
    var buffer = ArrayPool<byte>.Shared.Rent(65536);
    try
    {
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
        {
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
        }
    }
    finally
    {
        ArrayPool<byte>.Shared.Return(buffer);
    }

    var items = lines / 2;
    Interlocked.Add(ref documents, items);
    var json = new StringBuilder("{\"took\":1,\"errors\":false,\"items\":[");
    for (var i = 0; i < items; i++)
    {
        json.Append(i == 0 ? "" : ",").Append("{\"create\":{\"status\":201,\"result\":\"created\"}}");
    }

    json.Append("]}");
    context.Response.ContentType = "application/json";
    await context.Response.WriteAsync(json.ToString());
}
