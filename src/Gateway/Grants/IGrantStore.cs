namespace Gateway.Grants;

/// <summary>
/// Where grants, platform settings and tenant overrides live. Implementations: Redis (shared
/// by every gateway instance; expiry by Redis TTLs) and in-memory (the embedded default).
/// Both pass one contract test suite. Every method either completes or throws
/// <see cref="GrantStoreUnavailableException"/>; none returns a guess.
/// </summary>
internal interface IGrantStore
{
    /// <summary>True while changes made by other instances are being heard (pub/sub connected).</summary>
    bool InvalidationsConnected { get; }

    /// <summary>
    /// Raised with a tenant id when that tenant's support state changed anywhere, with
    /// <see cref="AllTenants"/> for a platform-wide change, and with <see cref="AllTenants"/>
    /// when the invalidation channel dropped or came back (anything may have been missed).
    /// </summary>
    event Action<string>? Invalidated;

    Task<TenantSupportState> GetStateAsync(string tenant, CancellationToken cancellationToken);

    Task<PlatformSupportSettings> GetPlatformSettingsAsync(CancellationToken cancellationToken);

    Task SetPlatformSettingsAsync(PlatformSupportSettings settings, CancellationToken cancellationToken);

    Task<TenantSupportOverride?> GetTenantOverrideAsync(string tenant, CancellationToken cancellationToken);

    /// <summary>Sets the override; <see cref="TenantOverrideMode.Inherit"/> removes it.</summary>
    Task SetTenantOverrideAsync(string tenant, TenantSupportOverride value, CancellationToken cancellationToken);

    /// <summary>Stores a new active grant (its expiry enforced by the store) and keeps it in history.</summary>
    Task CreateGrantAsync(SupportGrant grant, CancellationToken cancellationToken);

    /// <summary>A grant of this tenant, active or in history; null when unknown (or past retention).</summary>
    Task<SupportGrant?> GetGrantAsync(string tenant, GrantId id, CancellationToken cancellationToken);

    /// <summary>The tenant's grants, newest first: only active ones, or all still within retention.</summary>
    Task<IReadOnlyList<SupportGrant>> ListGrantsAsync(string tenant, bool includeHistory, CancellationToken cancellationToken);

    /// <summary>Atomically revokes one active grant. Returns the revoked grant, or null when it was not active.</summary>
    Task<SupportGrant?> RevokeGrantAsync(string tenant, GrantId id, string revokedBy, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Atomically revokes every active grant of the tenant; returns those revoked.</summary>
    Task<IReadOnlyList<SupportGrant>> RevokeAllAsync(string tenant, string revokedBy, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Ends a support session everywhere (logout): its id is reported in
    /// <see cref="TenantSupportState.RevokedSessions"/> until <paramref name="until"/> (the token's expiry).
    /// </summary>
    Task RevokeSessionAsync(string tenant, string sessionId, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>
    /// Records that <paramref name="supportUser"/> used the one-time code of TOTP time step
    /// <paramref name="timeStep"/>, until <paramref name="until"/>. True the first time (the code may
    /// be accepted), false when that (user, step) was recorded before, by this or any other instance:
    /// a replay. Names are compared case-insensitively, as the directory does.
    /// </summary>
    Task<bool> TryUseOneTimeCodeAsync(string supportUser, long timeStep, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>Reachable and answering within the budget (for readiness).</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken);

    public const string AllTenants = "*";
}

/// <summary>The store could not be reached or did not answer within its budget. Callers fail closed.</summary>
internal sealed class GrantStoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
