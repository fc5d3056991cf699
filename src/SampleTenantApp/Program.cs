namespace SampleTenantApp;

/// <summary>
/// Standalone entry point (the docker-compose container). Not top-level statements: those would
/// emit a public global <c>Program</c> that clashes with the gateway's in projects referencing both.
/// </summary>
internal static class Program
{
    private const string DefaultUrl = "http://127.0.0.1:5101";

    public static void Main(string[] args)
    {
        var commandLine = new ConfigurationBuilder().AddCommandLine(args).Build();
        var name = NullIfEmpty(commandLine["name"])
            ?? NullIfEmpty(Environment.GetEnvironmentVariable("SAMPLE_APP_NAME"))
            ?? "sample";
        var urls = NullIfEmpty(commandLine["urls"])
            ?? NullIfEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_URLS"))
            ?? DefaultUrl;

        SampleApp.Create(new SampleAppOptions
        {
            Name = name,
            Urls = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        }).Run();
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
