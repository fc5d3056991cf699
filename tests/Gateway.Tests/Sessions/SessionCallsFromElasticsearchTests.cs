using System.Net;
using System.Net.Http.Headers;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Sessions;

/// <summary>
/// With Elasticsearch configured, a session's calls are read back from it (the spool keeps only
/// what is not shipped yet): a <c>_search</c> on the session id, against a loopback double that
/// holds what the gateway shipped. When the search fails, the record is still answered.
/// </summary>
public sealed class SessionCallsFromElasticsearchTests : IAsyncLifetime
{
    private ElasticsearchDouble _elasticsearch = null!;
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        _elasticsearch = await ElasticsearchDouble.StartAsync();
        _env = await new TestEnvironment
        {
            Backends = TestBackends.Shared,
            MintTokens = true,
            ExtraArgs = [$"--Audit:Elasticsearch:Url={_elasticsearch.Url}", "--Audit:Elasticsearch:BatchMaxDelay=00:00:00.050"],
        }.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _env.DisposeAsync();
        await _elasticsearch.DisposeAsync();
    }

    [Fact]
    public async Task Calls_ComeFromASearchOnTheSessionId_AndASearchFailureLeavesTheRecordReadable()
    {
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", _env.John, new { denyData = false }, 201);
        using var acme = _env.Gateway.Client("acme.localhost");
        var jill = Basic("jill$john", JillPassword);
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/api/orders"), (HttpMethod.Post, "/api/echo/one"), (HttpMethod.Get, "/api/credentials/") })
        {
            using var request = new HttpRequestMessage(method, path) { Headers = { Authorization = jill } };
            using var response = await acme.SendAsync(request);
        }

        var list = await _env.Api.JsonAsync(HttpMethod.Get, "/_gateway/tenants/acme/support/sessions", _env.Ann);
        var id = Assert.Single(list.GetProperty("sessions").EnumerateArray()).GetProperty("id").GetString()!;
        // Ordinary calls (the management API's own) are audited too; wait for the three support calls.
        await WaitForShippedAsync(id, 3);

        var detail = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        var calls = detail.GetProperty("calls");
        Assert.Equal("elasticsearch", calls.GetProperty("source").GetString());
        Assert.Equal(["GET /api/orders allowed", "POST /api/echo/one allowed", "GET /api/credentials/ denied"],
            calls.GetProperty("calls").EnumerateArray().Select(c => $"{c.GetProperty("method").GetString()} {c.GetProperty("path").GetString()} {c.GetProperty("decision").GetString()}"));
        Assert.True(_elasticsearch.SearchRequests >= 1);

        _elasticsearch.FailSearches = true;
        var degraded = await _env.Api.JsonAsync(HttpMethod.Get, $"/_gateway/tenants/acme/support/sessions/{id}", _env.Ann);
        Assert.Equal(JsonValueKindNull, degraded.GetProperty("calls").ValueKind);
        Assert.Contains("503", degraded.GetProperty("callsUnavailable").GetString(), StringComparison.Ordinal);
        Assert.Equal(id, degraded.GetProperty("session").GetProperty("id").GetString());
    }

    private const System.Text.Json.JsonValueKind JsonValueKindNull = System.Text.Json.JsonValueKind.Null;

    private async Task WaitForShippedAsync(string sessionId, int count)
    {
        for (var shipped = 0; shipped < 100; shipped++)
        {
            if (_elasticsearch.Documents.Values.Count(d => d.Contains(sessionId, StringComparison.Ordinal) && d.Contains("\"support-request\"", StringComparison.Ordinal)) >= count)
            {
                return;
            }

            await _elasticsearch.WaitForDocumentsAsync(_elasticsearch.DocumentCount + 1, TimeSpan.FromSeconds(10));
        }

        throw new TimeoutException("the session's calls were not shipped");
    }
}
