using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace Gateway.Webhooks;

/// <summary>
/// Whose endpoints: one tenant's (events of that tenant) or the platform's (events of every tenant).
/// <see cref="Key"/> names the scope in storage; tenant ids never contain ':' so the two kinds cannot collide.
/// </summary>
internal readonly record struct WebhookScope
{
    private WebhookScope(string? tenant) => Tenant = tenant;

    public static WebhookScope Platform => default;

    /// <summary>The tenant; null for the platform.</summary>
    public string? Tenant { get; }

    public bool IsPlatform => Tenant is null;

    public string Key => Tenant is null ? "p" : "t:" + Tenant;

    public static WebhookScope Of(string tenant) => new(tenant);

    public static WebhookScope FromKey(string key) =>
        key == "p" ? Platform
        : key.StartsWith("t:", StringComparison.Ordinal) ? new(key[2..])
        : throw new FormatException($"Not a webhook scope key: '{key}'.");

    public override string ToString() => Tenant ?? "platform";
}

/// <summary>Ids of webhook things: endpoints <c>wh_</c>, events <c>evt_</c>, deliveries <c>msg_</c> (the <c>webhook-id</c> header).</summary>
internal static class WebhookIds
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    /// <summary>A new endpoint id: <c>wh_</c> and 26 lower-case base32 characters (128 random bits).</summary>
    public static string NewWebhookId() => "wh_" + RandomBase32();

    /// <summary>A new event id: <c>evt_</c> and 26 lower-case base32 characters.</summary>
    public static string NewEventId() => "evt_" + RandomBase32();

    /// <summary>
    /// The id of the <c>grant.expired</c> event of one grant: derived, not random, so that however
    /// many times (or on however many instances) the expiry is processed, it is one event.
    /// </summary>
    public static string ExpiredEventId(string tenant, string grantId) =>
        "evt_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"grant.expired\n{tenant}\n{grantId}")))[..32];

    public static bool IsWebhookId(string? id) =>
        id is { Length: 29 } && id.StartsWith("wh_", StringComparison.Ordinal) && id.AsSpan(3).IndexOfAnyExcept(Alphabet) < 0;

    /// <summary>Delivery ids are <c>msg_</c> and 32 lower-case hex digits.</summary>
    public static bool IsDeliveryId(string? id) =>
        id is { Length: 36 } && id.StartsWith("msg_", StringComparison.Ordinal) && id.AsSpan(4).IndexOfAnyExcept("0123456789abcdef") < 0;

    private static string RandomBase32()
    {
        Span<byte> random = stackalloc byte[16];
        RandomNumberGenerator.Fill(random);
        Span<char> chars = stackalloc char[26];
        int bits = 0, buffer = 0, n = 0;
        foreach (var b in random)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                chars[n++] = Alphabet[(buffer >> (bits - 5)) & 31];
                bits -= 5;
            }
        }

        chars[n++] = Alphabet[(buffer << (5 - bits)) & 31];
        return new string(chars[..n]);
    }
}

/// <summary>
/// A registered endpoint. <see cref="Secret"/> is the signing secret as stored: protected with
/// <c>Secrets:EncryptionKey</c> (<see cref="WebhookSecrets"/>), never the <c>whsec_</c> text itself.
/// </summary>
internal sealed record WebhookRegistration
{
    public required string Id { get; init; }

    /// <summary>The tenant whose events it receives; null for a platform endpoint (every tenant's events).</summary>
    public string? Tenant { get; init; }

    public required string Url { get; init; }

    public required IReadOnlyList<string> Events { get; init; }

    public string? Description { get; init; }

    public required string CreatedBy { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public required string Secret { get; init; }

    [JsonIgnore]
    public WebhookScope Scope => Tenant is null ? WebhookScope.Platform : WebhookScope.Of(Tenant);
}

[JsonConverter(typeof(JsonStringEnumConverter<DeliveryStatus>))]
internal enum DeliveryStatus
{
    /// <summary>Not delivered yet: waiting for its first attempt or for a retry.</summary>
    [JsonStringEnumMemberName("pending")]
    Pending,

    [JsonStringEnumMemberName("delivered")]
    Delivered,

    /// <summary>Every attempt failed for <see cref="WebhooksOptions.RetryFor"/>: kept for inspection and manual retry.</summary>
    [JsonStringEnumMemberName("dead")]
    Dead,
}

/// <summary>
/// One event on its way to one endpoint. <see cref="Id"/> is the <c>webhook-id</c> the receiver
/// sees, the same on every attempt (receivers deduplicate by it). The body is fixed when the
/// delivery is created and kept beside it in the store.
/// </summary>
internal sealed record WebhookDelivery
{
    public required string Id { get; init; }

    public required string WebhookId { get; init; }

    /// <summary>The scope of the endpoint (not necessarily the event's tenant: platform endpoints get every tenant's).</summary>
    [JsonIgnore]
    public WebhookScope Scope { get; init; }

    public required string EventId { get; init; }

    public required string EventType { get; init; }

    public required string EventTenant { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public DeliveryStatus Status { get; init; } = DeliveryStatus.Pending;

    public int Attempts { get; init; }

    /// <summary>Failed attempts since <see cref="RetryingSince"/>: the next wait doubles with each.</summary>
    public int Failures { get; init; }

    /// <summary>When retrying began (creation, or the last manual retry): the retry period counts from here.</summary>
    public required DateTimeOffset RetryingSince { get; init; }

    public DateTimeOffset? NextAttemptAt { get; init; }

    public DateTimeOffset? LastAttemptAt { get; init; }

    public int? LastStatusCode { get; init; }

    public string? LastError { get; init; }

    public DateTimeOffset? DeliveredAt { get; init; }

    /// <summary>When it was dead-lettered.</summary>
    public DateTimeOffset? DeadAt { get; init; }
}

/// <summary>An event ready to fan out: its body (the same for every endpoint) and, for <c>grant.created</c>, the expiry to watch.</summary>
internal sealed record OutboxEvent(string Id, string Type, string Tenant, DateTimeOffset At, string Body, ExpiryCheck? Expiry = null);

/// <summary>A grant whose expiry is to be announced (<c>grant.expired</c>) when it comes, unless the grant was revoked first.</summary>
internal sealed record ExpiryCheck(string Tenant, string GrantId, DateTimeOffset ExpiresAt)
{
    [JsonIgnore]
    public string Key => $"{Tenant}:{GrantId}";
}

/// <summary>A delivery this instance holds the lease of: send it, then record the outcome with <see cref="Lease"/>.</summary>
internal sealed record ClaimedDelivery(WebhookDelivery Delivery, string Body, WebhookRegistration Registration, string Lease);

/// <summary>What one claim took: deliveries and due expiry checks, and when the earliest remaining entry falls due (null: the outbox is empty).</summary>
internal sealed record ClaimBatch(IReadOnlyList<ClaimedDelivery> Deliveries, IReadOnlyList<ExpiryCheck> Checks, DateTimeOffset? NextDue);
