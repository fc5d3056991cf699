namespace SampleTenantApp;

/// <summary>Identity and listen addresses of one sample tenant app instance.</summary>
public sealed record SampleAppOptions
{
    /// <summary>Name reported in <c>X-Sample-App</c> and in response bodies, so tests can tell backends apart.</summary>
    public string Name { get; init; } = "sample";

    /// <summary>Kestrel listen URLs; port 0 picks a free port (read it back from <c>app.Urls</c> after start).</summary>
    public string[] Urls { get; init; } = ["http://127.0.0.1:0"];

    /// <summary>
    /// A management token for the <c>&lt;support-access&gt;</c> component in the home page's header (a
    /// real app gives its signed-in user's token); null: the component links to the gateway's pages.
    /// </summary>
    public string? SupportAccessToken { get; init; }
}
