using System.Text.RegularExpressions;
using Gateway.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Gateway.Tests.Deployment;

/// <summary>
/// A compose file as parsed by a real YAML parser (YamlDotNet), with the few readings of the
/// Compose specification the deployment tests need: both syntaxes of environment, depends_on,
/// volumes and ports, and the variables the file interpolates.
/// </summary>
internal sealed partial class ComposeModel
{
    private ComposeModel(string path, string text, YamlMappingNode root)
    {
        Path = path;
        Text = text;
        Root = root;
        ServicesNode = Assert.IsType<YamlMappingNode>(Child(root, "services"));
    }

    public string Path { get; }

    public string Text { get; }

    public YamlMappingNode Root { get; }

    public YamlMappingNode ServicesNode { get; }

    public IEnumerable<string> Comments => Text.Split('\n').Where(l => l.TrimStart().StartsWith('#'));

    public static ComposeModel Load(string repoRelativePath)
    {
        var path = System.IO.Path.Combine(RepoPaths.Root, repoRelativePath);
        Assert.True(File.Exists(path), $"{repoRelativePath} not found at {path}");
        var text = File.ReadAllText(path);

        var stream = new YamlStream();
        stream.Load(new StringReader(text)); // throws on syntax errors and duplicate keys
        Assert.Single(stream.Documents);
        return new ComposeModel(path, text, Assert.IsType<YamlMappingNode>(stream.Documents[0].RootNode));
    }

    public IEnumerable<(string Name, YamlMappingNode Node)> Services() =>
        ServicesNode.Children.Select(kv => (Scalar(kv.Key), Assert.IsType<YamlMappingNode>(kv.Value)));

    public YamlMappingNode Service(string name) =>
        Assert.IsType<YamlMappingNode>(Child(ServicesNode, name));

    public bool HasService(string name) => Child(ServicesNode, name) is YamlMappingNode;

    /// <summary>Services that run once and exit (<c>restart: "no"</c>): the setup jobs.</summary>
    public bool IsOneShot(YamlMappingNode service) => OptionalScalar(service, "restart") == "no";

    /// <summary>
    /// Every <c>${VAR...}</c> compose interpolates (not the <c>$${VAR}</c> / <c>$$VAR</c> it
    /// leaves to the container's shell), with its modifier (<c>:?</c>, <c>:-</c>, ...) if any.
    /// </summary>
    public IReadOnlyList<(string Name, string Modifier)> Interpolations() =>
        Interpolation().Matches(Text)
            .Select(m => (m.Groups["name"].Value, m.Groups["modifier"].Value))
            .ToList();

    /// <summary>Every scalar under <paramref name="node"/> (keys excluded), depth first.</summary>
    public static IEnumerable<YamlScalarNode> Scalars(YamlNode node)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                yield return scalar;
                break;
            case YamlSequenceNode sequence:
                foreach (var child in sequence.Children.SelectMany(Scalars))
                {
                    yield return child;
                }

                break;
            case YamlMappingNode mapping:
                foreach (var child in mapping.Children.Values.SelectMany(Scalars))
                {
                    yield return child;
                }

                break;
        }
    }

    public static YamlNode? Child(YamlNode? node, string key) =>
        node is YamlMappingNode mapping && mapping.Children.TryGetValue(new YamlScalarNode(key), out var child)
            ? child
            : null;

    public static string Scalar(YamlNode node) =>
        Assert.IsType<YamlScalarNode>(node).Value ?? "";

    public static string? OptionalScalar(YamlNode node, string key) =>
        Child(node, key) is YamlScalarNode scalar ? scalar.Value : null;

    public static string RequiredScalar(YamlNode node, string key)
    {
        var value = OptionalScalar(node, key);
        Assert.False(string.IsNullOrEmpty(value), $"missing scalar '{key}'");
        return value!;
    }

    public static IReadOnlyList<YamlNode> Sequence(YamlNode node, string key) =>
        Child(node, key) is YamlSequenceNode sequence ? sequence.Children.ToList() : [];

    public static IEnumerable<string> StringList(YamlNode? node) => node switch
    {
        YamlScalarNode scalar => [scalar.Value ?? ""],
        YamlSequenceNode sequence => sequence.Children.Select(Scalar),
        _ => [],
    };

    public static bool HasExplicitTag(string image)
    {
        var lastSegment = image[(image.LastIndexOf('/') + 1)..];
        var colon = lastSegment.IndexOf(':', StringComparison.Ordinal);
        return image.Contains('@', StringComparison.Ordinal)
            || (colon > 0 && lastSegment[(colon + 1)..] is { Length: > 0 } tag && tag != "latest");
    }

    /// <summary>Compose allows both the list (<c>- K=V</c>) and the mapping form.</summary>
    public static Dictionary<string, string> Env(YamlMappingNode service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (Child(service, "environment"))
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    result.Add(Scalar(key), value is YamlScalarNode s ? s.Value ?? "" : "");
                }

                break;
            case YamlSequenceNode sequence:
                foreach (var item in sequence.Children.Select(Scalar))
                {
                    var eq = item.IndexOf('=', StringComparison.Ordinal);
                    result.Add(eq < 0 ? item : item[..eq], eq < 0 ? "" : item[(eq + 1)..]);
                }

                break;
        }

        return result;
    }

    /// <summary>List form means <c>service_started</c>; mapping form carries a condition.</summary>
    public static Dictionary<string, string> DependsOn(YamlMappingNode service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (Child(service, "depends_on"))
        {
            case YamlSequenceNode sequence:
                foreach (var item in sequence.Children)
                {
                    result.Add(Scalar(item), "service_started");
                }

                break;
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    result.Add(Scalar(key), OptionalScalar(value, "condition") ?? "service_started");
                }

                break;
        }

        return result;
    }

    public static List<string> HealthcheckTest(YamlMappingNode healthcheck) =>
        Child(healthcheck, "test") switch
        {
            YamlScalarNode shell => ["CMD-SHELL", shell.Value ?? ""],
            YamlSequenceNode sequence => sequence.Children.Select(Scalar).ToList(),
            _ => [],
        };

    public static string HealthcheckText(YamlMappingNode service) =>
        string.Join(' ', HealthcheckTest(Assert.IsType<YamlMappingNode>(Child(service, "healthcheck"))));

    /// <summary>Short syntax <c>[host:]source:target[:mode]</c> or the long mapping syntax.</summary>
    public static IEnumerable<Mount> Mounts(YamlMappingNode service)
    {
        foreach (var item in Sequence(service, "volumes"))
        {
            if (item is YamlMappingNode longSyntax)
            {
                yield return new Mount(
                    RequiredScalar(longSyntax, "type"),
                    OptionalScalar(longSyntax, "source") ?? "",
                    RequiredScalar(longSyntax, "target"),
                    OptionalScalar(longSyntax, "read_only") == "true",
                    OptionalScalar(Child(longSyntax, "bind") ?? new YamlMappingNode(), "create_host_path"));
                continue;
            }

            var parts = Scalar(item).Split(':');
            Assert.True(parts.Length is 2 or 3, $"unsupported volume syntax '{Scalar(item)}' (use the long syntax)");
            var source = parts[0];
            var isBind = source.StartsWith('.') || source.StartsWith('/') || source.StartsWith('~');
            var readOnly = parts.Length == 3 && parts[2].Split(',').Contains("ro");
            yield return new Mount(isBind ? "bind" : "volume", source, parts[1], readOnly, null);
        }
    }

    /// <summary>(host ip, published, container) for short "c", "h:c", "ip:h:c" or the long syntax.</summary>
    public static Port PortMapping(YamlNode port)
    {
        if (port is YamlMappingNode longSyntax)
        {
            return new Port(
                OptionalScalar(longSyntax, "host_ip"),
                OptionalScalar(longSyntax, "published"),
                RequiredScalar(longSyntax, "target"));
        }

        var parts = Scalar(port).Split('/')[0].Split(':');
        return parts.Length switch
        {
            1 => new Port(null, null, parts[0]),
            2 => new Port(null, parts[0], parts[1]),
            _ => new Port(string.Join(':', parts[..^2]), parts[^2], parts[^1]),
        };
    }

    /// <summary>The (source, target) of each entry of a service's <c>secrets</c>, short or long syntax.</summary>
    public static IEnumerable<(string Source, string Target)> SecretRefs(YamlMappingNode service)
    {
        foreach (var item in Sequence(service, "secrets"))
        {
            if (item is YamlMappingNode longSyntax)
            {
                var source = RequiredScalar(longSyntax, "source");
                yield return (source, OptionalScalar(longSyntax, "target") ?? source);
            }
            else
            {
                yield return (Scalar(item), Scalar(item));
            }
        }
    }

    [GeneratedRegex(@"(?<!\$)\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?<modifier>:?[-?+])?[^}]*\}")]
    private static partial Regex Interpolation();

    internal sealed record Mount(string Type, string Source, string Target, bool ReadOnly, string? CreateHostPath);

    internal sealed record Port(string? HostIp, string? Published, string Container);
}
