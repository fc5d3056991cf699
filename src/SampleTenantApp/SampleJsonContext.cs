using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SampleTenantApp;

/// <summary>Source-generated (camelCase, web defaults) metadata for every body this app reads or writes.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Order))]
[JsonSerializable(typeof(Order[]))]
[JsonSerializable(typeof(OrderInput))]
[JsonSerializable(typeof(Setting))]
[JsonSerializable(typeof(SettingInput))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(PasswordChange))]
[JsonSerializable(typeof(CredentialsInfo))]
[JsonSerializable(typeof(EchoResponse))]
[JsonSerializable(typeof(UploadResult))]
internal sealed partial class SampleJsonContext : JsonSerializerContext
{
    // Bodies here are read by tests and curl, never embedded in HTML: keep '&', '+', '<' and
    // non-ASCII literal so echoed paths and queries are readable and byte-comparable.
    internal static readonly JavaScriptEncoder ResponseEncoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    internal static readonly SampleJsonContext Relaxed = new(new JsonSerializerOptions(JsonSerializerDefaults.Web)
    {
        Encoder = ResponseEncoder,
    });
}
