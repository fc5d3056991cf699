using System.Security.Cryptography;
using System.Text;
using Gateway.Auditing;

namespace Gateway.Tests.Auditing;

public sealed class AuditValuesTests
{
    [Fact]
    public void Cap_ShortValue_IsKeptAsItIs()
    {
        const string value = "/api/orders?status=open";

        Assert.Same(value, AuditValues.Cap(value, 1024));
    }

    [Fact]
    public void Cap_LongValue_KeepsStartAndEnd_AndTheHashOfTheWhole()
    {
        var value = "start-" + new string('x', 10_000) + "-end";

        var capped = AuditValues.Cap(value, 1024);

        Assert.True(capped.Length <= 1024, $"{capped.Length} characters");
        Assert.StartsWith("start-", capped, StringComparison.Ordinal);
        Assert.EndsWith("-end", capped, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value))), capped, StringComparison.Ordinal);
        Assert.Contains($"{value.Length} chars", capped, StringComparison.Ordinal);
    }
}
