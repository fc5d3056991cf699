using System.Text.Json.Nodes;

namespace Gateway.Tests.Infrastructure;

/// <summary>A private copy of the repository's config/ that a test may edit.</summary>
internal sealed class TempConfigDirectory : IDisposable
{
    public TempConfigDirectory()
    {
        Path = Directory.CreateTempSubdirectory("gateway-config-").FullName;
        foreach (var file in Directory.EnumerateFiles(RepoPaths.ConfigDir, "*.json"))
        {
            File.Copy(file, System.IO.Path.Combine(Path, System.IO.Path.GetFileName(file)));
        }

        LogDirectory = Directory.CreateTempSubdirectory("gateway-logs-").FullName;
    }

    public string Path { get; }

    public string LogDirectory { get; }

    public string RoutesPath => System.IO.Path.Combine(Path, "routes.json");

    public JsonObject ReadRoutes() => (JsonObject)JsonNode.Parse(File.ReadAllText(RoutesPath))!;

    /// <summary>Rewrites routes.json in one step (write to a temp file, then rename) as a careful editor would.</summary>
    public void WriteRoutes(JsonObject routes) => WriteRoutesText(routes.ToJsonString(new() { WriteIndented = true }));

    public void WriteRoutesText(string text)
    {
        var staging = RoutesPath + ".tmp";
        File.WriteAllText(staging, text);
        File.Move(staging, RoutesPath, overwrite: true);
    }

    public void EditRoutes(Action<JsonObject> edit)
    {
        var routes = ReadRoutes();
        edit(routes);
        WriteRoutes(routes);
    }

    /// <summary>Replaces support-users.json with global support users of the given passwords (fast PBKDF2: a test's own users).</summary>
    public void WriteSupportUsers(params (string Name, string Password)[] users)
    {
        var entries = new JsonObject();
        foreach (var (name, password) in users)
        {
            entries[name] = new JsonObject
            {
                ["PasswordHash"] = Gateway.Authentication.PasswordHasher.Hash(password, Gateway.Authentication.SupportUserDirectoryParser.MinIterations),
                ["Global"] = true,
            };
        }

        var document = new JsonObject { ["SupportUsers"] = new JsonObject { ["Users"] = entries } };
        File.WriteAllText(System.IO.Path.Combine(Path, "support-users.json"), document.ToJsonString());
    }

    public void Dispose()
    {
        TryDelete(Path);
        TryDelete(LogDirectory);
    }

    private static void TryDelete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
            // A log file may still be open by a process that is shutting down; the OS cleans /tmp.
        }
    }
}
