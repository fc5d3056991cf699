namespace Gateway.Tests.Infrastructure;

internal static class RepoPaths
{
    private static readonly Lazy<string> RootLazy = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Gateway.sln not found above " + AppContext.BaseDirectory);
    });

    public static string Root => RootLazy.Value;

    public static string ConfigDir => Path.Combine(Root, "config");

    /// <summary>The gateway binary built beside the tests (the test project references it).</summary>
    public static string GatewayDll => Path.Combine(AppContext.BaseDirectory, "Gateway.dll");
}
