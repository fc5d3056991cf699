using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Events;
using Gateway.Grants;
using Gateway.Sessions;

namespace Gateway.Webhooks;

/// <summary>
/// The body every endpoint receives for an event, in the Standard Webhooks shape:
/// <c>{"type": ..., "timestamp": ISO 8601, "data": {...}}</c>. <c>data</c> carries the tenant and
/// the grant (grant events) or the session (session events; with its report on
/// <c>session.ended</c>, with the refusal's problem code on <c>session.denied</c>). Built once per
/// event, when it happens; retries send the same bytes.
/// </summary>
internal static class WebhookPayloads
{
    public static string Body(SupportEvent e)
    {
        var data = new WebhookEventData(
            e.Tenant,
            e.Grant is { } g ? GrantPayload.From(g, e.At) : null,
            e.Session is { } s ? SessionPayload.From(s) : null,
            e.Type == SupportEventTypes.SessionEnded ? e.Session?.Report : null,
            e.Type == SupportEventTypes.SessionDenied ? e.Detail : null);
        return JsonSerializer.Serialize(new WebhookPayload(e.Type, e.At, data), WebhookPayloadJson.Default.WebhookPayload);
    }
}

internal sealed record WebhookPayload(string Type, DateTimeOffset Timestamp, WebhookEventData Data);

internal sealed record WebhookEventData(string Tenant, GrantPayload? Grant, SessionPayload? Session, SessionReport? Report, string? Denial);

internal sealed record GrantPayload(
    string Id,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    string? Reason,
    string? Grantor,
    bool DenyData,
    bool DenyConfig,
    IReadOnlyList<string>? Targets,
    string Status,
    string? RevokedBy,
    DateTimeOffset? RevokedAt)
{
    public static GrantPayload From(SupportGrant g, DateTimeOffset at) => new(
        g.Id.Value, g.CreatedBy, g.CreatedAt, g.ExpiresAt, g.Reason, g.Grantor, g.DenyData, g.DenyConfig, g.Targets,
        g.StatusAt(at) switch { GrantStatus.Revoked => "revoked", GrantStatus.Expired => "expired", _ => "active" },
        g.RevokedBy, g.RevokedAt);
}

internal sealed record SessionPayload(
    string Id,
    string SupportUser,
    string TargetUser,
    string Credential,
    DateTimeOffset StartedAt,
    DateTimeOffset LastActivityAt,
    DateTimeOffset? ExpiresAt,
    string? Isolation,
    IReadOnlyList<string> AdmittedUnder,
    SessionEnd? End,
    long Calls,
    long Writes,
    long RequestBytes,
    long ResponseBytes,
    IReadOnlyDictionary<string, long> Denials,
    DateTimeOffset? FirstWriteAt)
{
    public static SessionPayload From(SupportSessionRecord s) => new(
        s.Id, s.SupportUser, s.TargetUser, s.Credential, s.StartedAt, s.LastActivityAt, s.ExpiresAt, s.Isolation, s.AdmittedUnder,
        s.End, s.Calls, s.Writes, s.RequestBytes, s.ResponseBytes, s.Denials, s.FirstWriteAt);
}

/// <summary>Instants as UTC ISO 8601 with a <c>Z</c> (<c>2026-03-10T09:00:00.25Z</c>), whatever offset they carry.</summary>
internal sealed class UtcInstantConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(UtcInstantConverter)])]
[JsonSerializable(typeof(WebhookPayload))]
internal sealed partial class WebhookPayloadJson : JsonSerializerContext;
