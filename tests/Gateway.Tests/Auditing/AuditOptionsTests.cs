using Gateway.Auditing;
using Gateway.Health;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Auditing;

public sealed class AuditOptionsTests
{
    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var o = Resolve([]);

        Assert.Equal("spool/audit", o.SpoolDirectory);
        Assert.Equal(10_000, o.QueueCapacity);
        Assert.Equal(16L * 1024 * 1024, o.SegmentMaxBytes);
        Assert.Equal(1024L * 1024 * 1024, o.SpoolMaxBytes);
        Assert.Equal(AuditFsyncPolicy.Interval, o.FsyncPolicy);
        Assert.Equal(TimeSpan.FromMilliseconds(200), o.FsyncInterval);
        Assert.True(string.IsNullOrEmpty(o.Elasticsearch.Url));
        Assert.Equal("gateway-audit", o.Elasticsearch.Index);
        Assert.Equal(1000, o.Elasticsearch.BatchMaxEvents);
        Assert.Equal(5L * 1024 * 1024, o.Elasticsearch.BatchMaxBytes);
        Assert.Equal(TimeSpan.FromSeconds(1), o.Elasticsearch.BatchMaxDelay);
        Assert.Equal(TimeSpan.FromMilliseconds(250), o.Elasticsearch.MinBackoff);
        Assert.Equal(TimeSpan.FromSeconds(30), o.Elasticsearch.MaxBackoff);
        Assert.Equal(TimeSpan.FromSeconds(30), o.Elasticsearch.RequestTimeout);
        Assert.Equal(AuditWriteAhead.Writes, o.WriteAhead);
        Assert.Equal(TimeSpan.FromSeconds(2), o.WriteAheadTimeout);
        Assert.Null(o.InstanceId);
        Assert.Null(o.Integrity.SigningKeyPem);
        Assert.Equal("audit-1", o.Integrity.SigningKeyId);
        Assert.Equal(TimeSpan.FromMinutes(1), o.Integrity.DigestInterval);
    }

    [Theory]
    [InlineData("writes", "Writes")]
    [InlineData("all", "All")]
    [InlineData("off", "Off")]
    public void WriteAhead_BindsItsLowercaseNames(string value, string expected)
    {
        Assert.Equal(Enum.Parse<AuditWriteAhead>(expected), Resolve(new() { ["Audit:WriteAhead"] = value }).WriteAhead);
    }

    [Fact]
    public void UnknownWriteAheadScope_StopsStartUp()
    {
        var ex = Assert.ThrowsAny<InvalidOperationException>(() => Resolve(new() { ["Audit:WriteAhead"] = "reads" }));
        Assert.Contains("WriteAhead", ex.Message + ex.InnerException?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Production_RequiresTheAuditSigningKey()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(new() { ["Gateway:Production"] = "true" }));
        Assert.Contains(ex.Failures, f => f.StartsWith("Audit:Integrity:SigningKeyPem: required", StringComparison.Ordinal));

        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var o = Resolve(new() { ["Gateway:Production"] = "true", ["Audit:Integrity:SigningKeyPem"] = key.ExportPkcs8PrivateKeyPem() });
        Assert.NotNull(o.Integrity.SigningKeyPem);
    }

    [Fact]
    public void PublicKeyAsSigningKey_IsRefused()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(new() { ["Audit:Integrity:SigningKeyPem"] = key.ExportSubjectPublicKeyInfoPem() }));
        Assert.Contains(ex.Failures, f => f.StartsWith("Audit:Integrity:SigningKeyPem", StringComparison.Ordinal));
    }

    [Fact]
    public void Binds_EnvironmentStyleKeys_AndLowercasePolicyNames()
    {
        var o = Resolve(new()
        {
            ["Audit:SpoolDirectory"] = "/var/spool/gateway",
            ["Audit:FsyncPolicy"] = "always",
            ["Audit:Elasticsearch:Url"] = "https://es.internal:9200",
            ["Audit:Elasticsearch:ApiKey"] = "a2V5",
            ["Audit:Elasticsearch:BatchMaxDelay"] = "00:00:02",
        });

        Assert.Equal("/var/spool/gateway", o.SpoolDirectory);
        Assert.Equal(AuditFsyncPolicy.Always, o.FsyncPolicy);
        Assert.Equal("https://es.internal:9200", o.Elasticsearch.Url);
        Assert.Equal(TimeSpan.FromSeconds(2), o.Elasticsearch.BatchMaxDelay);
    }

    [Fact]
    public void UnknownKey_StopsStartUp()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => Resolve(new() { ["Audit:Elasticsearch:Urll"] = "http://x" }));
        Assert.Contains("Urll", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Audit:QueueCapacity", "0", "Audit:QueueCapacity")]
    [InlineData("Audit:SegmentMaxBytes", "10", "Audit:SegmentMaxBytes")]
    [InlineData("Audit:SpoolMaxBytes", "1000000", "Audit:SpoolMaxBytes")]
    [InlineData("Audit:FsyncInterval", "00:00:00", "Audit:FsyncInterval")]
    [InlineData("Audit:Elasticsearch:Url", "ftp://es:9200", "Audit:Elasticsearch:Url")]
    [InlineData("Audit:Elasticsearch:Url", "http://elastic:changeme@es:9200", "Audit:Elasticsearch:Url: must not carry credentials")]
    [InlineData("Audit:Elasticsearch:Index", "Gateway-Audit", "Audit:Elasticsearch:Index")]
    [InlineData("Audit:Elasticsearch:Index", "_audit", "Audit:Elasticsearch:Index")]
    [InlineData("Audit:Elasticsearch:Username", "gateway", "Audit:Elasticsearch:Password")]
    [InlineData("Audit:Elasticsearch:BatchMaxEvents", "0", "Audit:Elasticsearch:BatchMaxEvents")]
    [InlineData("Audit:Elasticsearch:BatchMaxBytes", "200000000", "Audit:Elasticsearch:BatchMaxBytes")]
    [InlineData("Audit:Elasticsearch:MaxBackoff", "00:00:00.100", "Audit:Elasticsearch:MaxBackoff")]
    [InlineData("Audit:Elasticsearch:RequestTimeout", "-00:00:01", "Audit:Elasticsearch:RequestTimeout")]
    [InlineData("Audit:WriteAheadTimeout", "00:00:00", "Audit:WriteAheadTimeout")]
    [InlineData("Audit:InstanceId", "gw 1", "Audit:InstanceId")]
    [InlineData("Audit:Integrity:SigningKeyPem", "not a key", "Audit:Integrity:SigningKeyPem")]
    [InlineData("Audit:Integrity:SigningKeyId", "gateway-1", "Audit:Integrity:SigningKeyId: must differ from Support:SigningKeyId")]
    [InlineData("Audit:Integrity:DigestInterval", "00:00:00.500", "Audit:Integrity:DigestInterval")]
    public void InvalidValue_FailsWithItsKeyNamed(string key, string value, string expected)
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(new() { [key] = value }));
        Assert.Contains(ex.Failures, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void ApiKeyAndBasicAuth_AreExclusive()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(new()
        {
            ["Audit:Elasticsearch:ApiKey"] = "a2V5",
            ["Audit:Elasticsearch:Username"] = "u",
            ["Audit:Elasticsearch:Password"] = "p",
        }));
        Assert.Contains(ex.Failures, f => f.StartsWith("Audit:Elasticsearch:ApiKey", StringComparison.Ordinal));
    }

    [Fact]
    public void UnknownFsyncPolicy_StopsStartUp()
    {
        var ex = Assert.ThrowsAny<InvalidOperationException>(() => Resolve(new() { ["Audit:FsyncPolicy"] = "sometimes" }));
        Assert.Contains("FsyncPolicy", ex.Message + ex.InnerException?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddGatewayAudit_RegistersTheSink_TheShipper_AndTheAuditHealthCheck()
    {
        using var services = Services([]);

        var sink = services.GetRequiredService<SpoolingAuditSink>();
        Assert.Same(sink, services.GetRequiredService<IAuditSink>());
        var hosted = services.GetServices<IHostedService>().ToList();
        Assert.Contains(sink, hosted);
        Assert.Contains(services.GetRequiredService<ElasticsearchShipper>(), hosted);
        Assert.True(hosted.IndexOf(sink) < hosted.IndexOf(services.GetRequiredService<ElasticsearchShipper>()),
            "the sink starts first and stops last (it drains after the shipper stopped)");
        var check = Assert.Single(services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations, r => r.Name == "audit");
        Assert.Contains(HealthEndpoints.ReadyTag, check.Tags);
    }

    private static AuditOptions Resolve(Dictionary<string, string?> settings)
    {
        using var services = Services(settings);
        return services.GetRequiredService<IOptions<AuditOptions>>().Value;
    }

    private static ServiceProvider Services(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddGatewayAudit(configuration);
        return services.BuildServiceProvider();
    }
}
