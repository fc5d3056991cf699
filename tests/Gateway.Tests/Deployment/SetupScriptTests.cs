using System.Diagnostics;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Auditing;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Deployment;

/// <summary>
/// The scripts of config/compose run by the compose jobs, run here with sh as the jobs run
/// them: setup.sh with curl against a TLS Elasticsearch stand-in with security on, certs.sh
/// with stand-ins for elasticsearch-certutil and unzip (neither is installable here). Both
/// must be POSIX shell: the curl image has busybox sh, the Elasticsearch image dash.
/// </summary>
[UnsupportedOSPlatform("windows")] // sh, file modes
public sealed class SetupScriptTests : IDisposable
{
    private const string ElasticPassword = "el\"astic\\pw 1";
    private const string KibanaPassword = "kib-\"ana\\-pw";
    private const string GatewayPassword = "gw pw \"with\" \\ and $dollar";

    private static readonly string ComposeDir = Path.Combine(RepoPaths.ConfigDir, "compose");
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Every_script_of_config_compose_is_valid_posix_shell()
    {
        var scripts = Directory.GetFiles(ComposeDir, "*.sh");
        Assert.Contains(Path.Combine(ComposeDir, "setup.sh"), scripts);
        Assert.Contains(Path.Combine(ComposeDir, "certs.sh"), scripts);
        foreach (var script in scripts)
        {
            Assert.StartsWith("#!/bin/sh\n", await File.ReadAllTextAsync(script), StringComparison.Ordinal);
            var (exit, output) = await RunAsync("sh", ["-n", script], new Dictionary<string, string>());
            Assert.True(exit == 0, $"sh -n {Path.GetFileName(script)}: {output}");
        }

        // sh -n must be able to fail.
        var broken = _temp.Sub("broken.sh");
        await File.WriteAllTextAsync(broken, "#!/bin/sh\nif [ -n x ]; then\n  echo x\n");
        Assert.NotEqual(0, (await RunAsync("sh", ["-n", broken], new Dictionary<string, string>())).Exit);
    }

    [Fact]
    public async Task Elasticsearch_phase_sets_up_users_role_and_template_over_verified_tls_with_credentials()
    {
        using var ca = new TestCertificateAuthority();
        using var certificate = ca.IssueServerCertificate();
        await using var es = await SecuredElasticsearchDouble.StartAsync(certificate, new Dictionary<string, string> { ["elastic"] = ElasticPassword });
        var caFile = await WriteCaAsync(ca);

        var (exit, output) = await RunSetupAsync(["elasticsearch"], ProductionEnvironment(es, caFile));

        Assert.True(exit == 0, output);
        Assert.Contains("setup: done", output, StringComparison.Ordinal);
        Assert.Equal(0, es.UnauthorizedRequests);
        Assert.Equal(KibanaPassword, es.PasswordChanges["kibana_system"]);

        // The role lets the gateway add documents to the audit data stream and nothing else.
        using var role = JsonDocument.Parse(es.Roles["gateway_audit"]);
        using var roleFile = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(ComposeDir, "gateway-audit-role.json")));
        Assert.True(JsonElement.DeepEquals(roleFile.RootElement, role.RootElement));
        using var user = JsonDocument.Parse(es.Users["gateway_audit"]);
        Assert.Equal(GatewayPassword, user.RootElement.GetProperty("password").GetString());
        Assert.Equal(["gateway_audit"], user.RootElement.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));

        Assert.True(JsonElement.DeepEquals(
            JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(RepoPaths.ConfigDir, "elasticsearch", "index-template.json"))).RootElement,
            JsonDocument.Parse(es.IndexTemplates["gateway-audit"]).RootElement));
        Assert.True(es.LifecyclePolicies.ContainsKey("gateway-audit"));

        // Passwords and users before the template; the policy before the template that names it;
        // no Kibana in this phase.
        Assert.Equal(
            [
                "POST /_security/user/kibana_system/_password",
                "PUT /_security/role/gateway_audit",
                "PUT /_security/user/gateway_audit",
                "PUT /_ilm/policy/gateway-audit",
                "PUT /_index_template/gateway-audit",
            ],
            es.Requests);
        Assert.Equal(-1, es.ImportedObjects);
    }

    [Fact]
    public async Task Kibana_phase_imports_the_saved_objects_only()
    {
        using var ca = new TestCertificateAuthority();
        using var certificate = ca.IssueServerCertificate();
        await using var es = await SecuredElasticsearchDouble.StartAsync(certificate, new Dictionary<string, string> { ["elastic"] = ElasticPassword });
        var environment = new Dictionary<string, string>
        {
            ["KIBANA_URL"] = es.Url.ToString().TrimEnd('/'),
            ["ELASTICSEARCH_USERNAME"] = "elastic",
            ["ELASTICSEARCH_PASSWORD"] = ElasticPassword,
            ["ELASTICSEARCH_CA_CERT"] = await WriteCaAsync(ca),
        };

        var (exit, output) = await RunSetupAsync(["kibana"], environment);

        Assert.True(exit == 0, output);
        var objects = File.ReadAllLines(Path.Combine(RepoPaths.ConfigDir, "kibana", "saved-objects.ndjson")).Count(l => l.Length > 0);
        Assert.Equal(objects, es.ImportedObjects);
        Assert.Equal(["POST /api/saved_objects/_import"], es.Requests);
    }

    [Fact]
    public async Task Refuses_an_elasticsearch_whose_certificate_it_cannot_verify()
    {
        using var ca = new TestCertificateAuthority("Elasticsearch CA");
        using var other = new TestCertificateAuthority("Somebody else's CA");
        using var certificate = ca.IssueServerCertificate();
        await using var es = await SecuredElasticsearchDouble.StartAsync(certificate, new Dictionary<string, string> { ["elastic"] = ElasticPassword });

        var (exit, output) = await RunSetupAsync(["elasticsearch"], ProductionEnvironment(es, await WriteCaAsync(other)));

        Assert.NotEqual(0, exit);
        Assert.Contains("certificate", output, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(es.Requests);
        Assert.Empty(es.PasswordChanges);
    }

    [Fact]
    public async Task Stops_at_the_first_refusal_with_the_server_answer()
    {
        using var ca = new TestCertificateAuthority();
        using var certificate = ca.IssueServerCertificate();
        await using var es = await SecuredElasticsearchDouble.StartAsync(certificate, new Dictionary<string, string> { ["elastic"] = "another password" });

        var (exit, output) = await RunSetupAsync([], ProductionEnvironment(es, await WriteCaAsync(ca)));

        Assert.NotEqual(0, exit);
        Assert.Contains("security_exception", output, StringComparison.Ordinal);
        Assert.Equal(1, es.UnauthorizedRequests);
        Assert.Empty(es.IndexTemplates);
        Assert.Equal(-1, es.ImportedObjects);
    }

    [Fact]
    public async Task Never_puts_a_secret_on_a_command_line_and_leaves_no_file_behind()
    {
        using var ca = new TestCertificateAuthority();
        using var certificate = ca.IssueServerCertificate();
        await using var es = await SecuredElasticsearchDouble.StartAsync(certificate, new Dictionary<string, string> { ["elastic"] = ElasticPassword });
        var environment = ProductionEnvironment(es, await WriteCaAsync(ca));
        environment["KIBANA_URL"] = es.Url.ToString().TrimEnd('/');

        // A curl on PATH that records its arguments, then runs the real one.
        var bin = Directory.CreateDirectory(_temp.Sub("bin")).FullName;
        var argvLog = _temp.Sub("curl-argv.log");
        await WriteExecutableAsync(Path.Combine(bin, "curl"),
            $"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{argvLog}'; done\nexec '{FindOnPath("curl")}' \"$@\"\n");
        environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        var tmp = Directory.CreateDirectory(_temp.Sub("tmp")).FullName;
        environment["TMPDIR"] = tmp;

        var (exit, output) = await RunSetupAsync([], environment);

        Assert.True(exit == 0, output);
        var argv = await File.ReadAllTextAsync(argvLog);
        Assert.Contains("--config", argv, StringComparison.Ordinal); // the shim did see the calls
        foreach (var secret in new[] { ElasticPassword, KibanaPassword, GatewayPassword, "astic\\pw", "ana\\-pw", "$dollar" })
        {
            Assert.DoesNotContain(secret, argv, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(ElasticPassword, output, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(tmp));
    }

    [Fact]
    public async Task Certs_job_makes_the_files_elasticsearch_is_told_about_and_keeps_no_ca_key()
    {
        var fake = await FakeCertutilAsync();
        var certs = _temp.Sub("certs");
        var export = _temp.Sub("ca-export");
        var environment = new Dictionary<string, string>
        {
            ["CERTS_DIR"] = certs,
            ["CA_EXPORT_DIR"] = export,
            ["ES_NODE_NAME"] = "elasticsearch",
            ["ES_HOME"] = fake.EsHome,
            ["CERTS_OWNER"] = await OwnerAsync(),
            ["PATH"] = fake.Bin + ":" + Environment.GetEnvironmentVariable("PATH"),
            ["TMPDIR"] = fake.Tmp,
        };

        var (exit, output) = await RunAsync("sh", [Path.Combine(ComposeDir, "certs.sh")], environment);

        Assert.True(exit == 0, output);
        // The layout docker-compose.yml points Elasticsearch at (ComposeFileTests checks the env side).
        var files = Directory.GetFiles(certs, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(certs, f)).Order(StringComparer.Ordinal);
        Assert.Equal(["ca.crt", "elasticsearch/elasticsearch.crt", "elasticsearch/elasticsearch.key"], files);
        Assert.Equal(fake.CaPem, await File.ReadAllTextAsync(Path.Combine(certs, "ca.crt")));
        Assert.Equal(fake.CaPem, await File.ReadAllTextAsync(Path.Combine(export, "ca.crt")));
        Assert.Equal(["ca.crt"], Directory.GetFiles(export).Select(Path.GetFileName));
        Assert.Empty(Directory.EnumerateFileSystemEntries(fake.Tmp)); // the CA key went with the work dir

        // Elasticsearch (group root) reads its files, nobody else does; everybody reads the CA.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(Path.Combine(certs, "elasticsearch", "elasticsearch.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute, File.GetUnixFileMode(certs));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(Path.Combine(export, "ca.crt")));

        // The certificate names the host clients connect to; signed with the CA made just before.
        var instances = await File.ReadAllTextAsync(Path.Combine(fake.Log, "instances.yml"));
        Assert.Contains("- name: elasticsearch\n", instances, StringComparison.Ordinal);
        Assert.Contains("      - elasticsearch\n      - localhost\n", instances, StringComparison.Ordinal);
        Assert.Contains("      - 127.0.0.1\n", instances, StringComparison.Ordinal);
        Assert.Equal(["ca --silent --pem --days 1095", "cert --silent --pem --days 1095 ca-key-present"], await File.ReadAllLinesAsync(Path.Combine(fake.Log, "calls")));

        // Re-running keeps them; CERTS_RENEW=1 replaces CA and certificate.
        (exit, output) = await RunAsync("sh", [Path.Combine(ComposeDir, "certs.sh")], environment);
        Assert.True(exit == 0, output);
        Assert.Contains("kept", output, StringComparison.Ordinal);
        Assert.Equal(2, (await File.ReadAllLinesAsync(Path.Combine(fake.Log, "calls"))).Length);

        using var renewed = new TestCertificateAuthority("Renewed CA");
        await File.WriteAllTextAsync(Path.Combine(fake.Trees, "ca", "ca", "ca.crt"), renewed.CertificatePem);
        environment["CERTS_RENEW"] = "1";
        (exit, output) = await RunAsync("sh", [Path.Combine(ComposeDir, "certs.sh")], environment);
        Assert.True(exit == 0, output);
        Assert.Equal(4, (await File.ReadAllLinesAsync(Path.Combine(fake.Log, "calls"))).Length);
        Assert.Equal(renewed.CertificatePem, await File.ReadAllTextAsync(Path.Combine(export, "ca.crt")));
        Assert.Equal(renewed.CertificatePem, await File.ReadAllTextAsync(Path.Combine(certs, "ca.crt")));
    }

    private Dictionary<string, string> ProductionEnvironment(SecuredElasticsearchDouble es, string caFile) => new()
    {
        // As the `setup` service of docker-compose.yml sets them (with the .env values).
        ["ELASTICSEARCH_URL"] = es.Url.ToString().TrimEnd('/'),
        ["ELASTICSEARCH_CA_CERT"] = caFile,
        ["ELASTICSEARCH_USERNAME"] = "elastic",
        ["ELASTICSEARCH_PASSWORD"] = ElasticPassword,
        ["KIBANA_SYSTEM_PASSWORD"] = KibanaPassword,
        ["GATEWAY_ES_USERNAME"] = "gateway_audit",
        ["GATEWAY_ES_PASSWORD"] = GatewayPassword,
    };

    private async Task<string> WriteCaAsync(TestCertificateAuthority ca)
    {
        var path = _temp.Sub($"ca-{Guid.NewGuid():N}.crt");
        await File.WriteAllTextAsync(path, ca.CertificatePem);
        return path;
    }

    /// <summary>Runs setup.sh with the repository's assets where the compose mounts put them.</summary>
    private async Task<(int Exit, string Output)> RunSetupAsync(string[] phases, Dictionary<string, string> environment)
    {
        var assets = _temp.Sub("assets");
        foreach (var name in new[] { "elasticsearch", "kibana" })
        {
            var target = Directory.CreateDirectory(Path.Combine(assets, name)).FullName;
            foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.ConfigDir, name)))
            {
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
            }
        }

        environment["ASSETS_DIR"] = assets;
        return await RunAsync("sh", [Path.Combine(ComposeDir, "setup.sh"), .. phases], environment);
    }

    private sealed record FakeCertutil(string EsHome, string Bin, string Trees, string Log, string Tmp, string CaPem);

    /// <summary>
    /// Stand-ins for elasticsearch-certutil and unzip: certutil records its call and writes a
    /// "zip" naming a prepared tree; unzip copies that tree. The trees hold real PEM files in
    /// certutil's layout (ca/ca.crt, ca/ca.key; NODE/NODE.crt, NODE/NODE.key).
    /// </summary>
    private async Task<FakeCertutil> FakeCertutilAsync()
    {
        var root = _temp.Sub("fake");
        var esBin = Directory.CreateDirectory(Path.Combine(root, "es", "bin")).FullName;
        var bin = Directory.CreateDirectory(Path.Combine(root, "bin")).FullName;
        var trees = Path.Combine(root, "trees");
        var log = Directory.CreateDirectory(Path.Combine(root, "log")).FullName;
        var tmp = Directory.CreateDirectory(Path.Combine(root, "tmp")).FullName;

        using var ca = new TestCertificateAuthority("Elastic Certificate Tool Autogenerated CA");
        using var node = ca.IssueServerCertificate();
        Directory.CreateDirectory(Path.Combine(trees, "ca", "ca"));
        Directory.CreateDirectory(Path.Combine(trees, "certs", "elasticsearch"));
        await File.WriteAllTextAsync(Path.Combine(trees, "ca", "ca", "ca.crt"), ca.CertificatePem);
        await File.WriteAllTextAsync(Path.Combine(trees, "ca", "ca", "ca.key"), "-----BEGIN EC PRIVATE KEY-----\nfake\n-----END EC PRIVATE KEY-----\n");
        await File.WriteAllTextAsync(Path.Combine(trees, "certs", "elasticsearch", "elasticsearch.crt"), node.ExportCertificatePem() + "\n");
        await File.WriteAllTextAsync(Path.Combine(trees, "certs", "elasticsearch", "elasticsearch.key"), node.GetECDsaPrivateKey()!.ExportECPrivateKeyPem() + "\n");

        await WriteExecutableAsync(Path.Combine(esBin, "elasticsearch-certutil"), $$"""
            #!/bin/sh
            mode="$1"; shift
            out=""; days=""; in=""; cakey=""
            while [ "$#" -gt 0 ]; do
              case "$1" in
                --out) out="$2"; shift ;;
                --days) days="$2"; shift ;;
                --in) in="$2"; shift ;;
                --ca-key) cakey="$2"; shift ;;
              esac
              shift
            done
            if [ "$mode" = ca ]; then
              echo "ca --silent --pem --days $days" >> '{{log}}/calls'
              echo ca > "$out"
            else
              present=missing; [ -f "$cakey" ] && present=present
              echo "cert --silent --pem --days $days ca-key-$present" >> '{{log}}/calls'
              cp "$in" '{{log}}/instances.yml'
              echo certs > "$out"
            fi
            """ + "\n");
        await WriteExecutableAsync(Path.Combine(bin, "unzip"), $$"""
            #!/bin/sh
            [ "$1" = -q ] && shift
            zip="$1"; dest="$3"
            mkdir -p "$dest"
            cp -R '{{trees}}'/"$(cat "$zip")"/. "$dest"/
            """ + "\n");
        return new FakeCertutil(Path.Combine(root, "es"), bin, trees, log, tmp, ca.CertificatePem);
    }

    private static async Task WriteExecutableAsync(string path, string text)
    {
        await File.WriteAllTextAsync(path, text.Replace("\r\n", "\n", StringComparison.Ordinal));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private static string FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Select(dir => Path.Combine(dir, name))
            .First(File.Exists);

    private static async Task<string> OwnerAsync()
    {
        var (_, uid) = await RunAsync("id", ["-u"], new Dictionary<string, string>());
        var (_, gid) = await RunAsync("id", ["-g"], new Dictionary<string, string>());
        return $"{uid.Trim()}:{gid.Trim()}";
    }

    private static async Task<(int Exit, string Output)> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(deadline.Token);
        var output = new StringBuilder().Append(await stdout).Append(await stderr).ToString();
        return (process.ExitCode, output);
    }
}
