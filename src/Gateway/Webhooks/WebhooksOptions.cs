using System.Net;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

/// <summary>Webhook delivery (section <c>Webhooks</c>). The defaults are the safe ones.</summary>
internal sealed class WebhooksOptions
{
    public const string SectionName = "Webhooks";

    /// <summary>
    /// With <c>Gateway:Production</c>: allows targets on loopback, private, link-local, unique-local
    /// and unspecified addresses (default false: refused at registration and at every connect,
    /// so a tenant cannot make the gateway call into its own network). Outside production they are
    /// always allowed (the demo and the tests deliver to loopback).
    /// </summary>
    public bool AllowPrivateTargets { get; init; }

    /// <summary>
    /// Networks (CIDR, e.g. <c>10.20.0.0/16</c>, <c>fd00:1::/64</c>) allowed as targets in production
    /// although they are private: a narrower alternative to <see cref="AllowPrivateTargets"/> for
    /// receivers inside the operator's network.
    /// </summary>
    public List<string> AllowedPrivateNetworks { get; init; } = [];

    /// <summary>With <c>Gateway:Production</c>: allows <c>http://</c> targets (default false: https only; secrets and session data travel in the body).</summary>
    public bool AllowHttp { get; init; }

    /// <summary>Longest one attempt may take, connect to last byte of the answer's head (then it counts as failed).</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Wait after the first failed attempt; doubles after each further one up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long a delivery is retried (from its creation or its last manual retry) before it is dead-lettered.</summary>
    public TimeSpan RetryFor { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How long delivered and dead deliveries stay listed.</summary>
    public TimeSpan DeliveryRetention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long an instance holds a delivery it is attempting; when an instance dies mid-attempt,
    /// others retry its deliveries after this. More than twice <see cref="AttemptTimeout"/>.
    /// </summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Most endpoints per tenant.</summary>
    public int MaxPerTenant { get; init; } = 10;

    /// <summary>Most platform-wide endpoints.</summary>
    public int MaxPlatform { get; init; } = 20;

    /// <summary>Attempts in flight at once on one instance.</summary>
    public int MaxConcurrentDeliveries { get; init; } = 8;

    /// <summary>
    /// Events held in memory before they are written to the outbox. Publishing never waits: when
    /// the store is unreachable for long enough to fill this, further events are dropped, counted
    /// and logged.
    /// </summary>
    public int MaxQueuedEvents { get; init; } = 10_000;

    /// <summary>The parsed <see cref="AllowedPrivateNetworks"/> (valid after validation).</summary>
    public IReadOnlyList<IPNetwork> AllowedNetworks() =>
        [.. AllowedPrivateNetworks.Select(n => IPNetwork.TryParse(n.Trim(), out var network) ? network : (IPNetwork?)null).OfType<IPNetwork>()];
}

internal sealed class WebhooksOptionsValidator : IValidateOptions<WebhooksOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhooksOptions o)
    {
        var failures = new List<string>();
        for (var i = 0; i < o.AllowedPrivateNetworks.Count; i++)
        {
            if (!IPNetwork.TryParse(o.AllowedPrivateNetworks[i]?.Trim(), out _))
            {
                failures.Add($"Webhooks:AllowedPrivateNetworks:{i}: not a network in CIDR form (e.g. 10.20.0.0/16).");
            }
        }

        Range(failures, "AttemptTimeout", o.AttemptTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        Range(failures, "FirstRetryDelay", o.FirstRetryDelay, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
        Range(failures, "MaxRetryDelay", o.MaxRetryDelay, o.FirstRetryDelay, TimeSpan.FromHours(24));
        Range(failures, "RetryFor", o.RetryFor, TimeSpan.FromMinutes(1), TimeSpan.FromDays(7));
        Range(failures, "DeliveryRetention", o.DeliveryRetention, TimeSpan.FromHours(1), TimeSpan.FromDays(90));
        Range(failures, "LeaseDuration", o.LeaseDuration, o.AttemptTimeout * 2 + TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));

        if (o.MaxPerTenant is < 1 or > 100)
        {
            failures.Add("Webhooks:MaxPerTenant: from 1 to 100.");
        }

        if (o.MaxPlatform is < 1 or > 100)
        {
            failures.Add("Webhooks:MaxPlatform: from 1 to 100.");
        }

        if (o.MaxConcurrentDeliveries is < 1 or > 64)
        {
            failures.Add("Webhooks:MaxConcurrentDeliveries: from 1 to 64.");
        }

        if (o.MaxQueuedEvents is < 100 or > 1_000_000)
        {
            failures.Add("Webhooks:MaxQueuedEvents: from 100 to 1000000.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Range(List<string> failures, string key, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            failures.Add($"Webhooks:{key}: from {min:c} to {max:c}.");
        }
    }
}
