using Microsoft.Extensions.Options;

namespace Gateway.Grants;

/// <summary>
/// The embedded store for a single gateway without Redis. Same semantics as the Redis store:
/// expiry from the grant's <see cref="SupportGrant.ExpiresAt"/> against the injected clock,
/// history kept for the retention period, revocations atomic (one lock).
/// </summary>
internal sealed class InMemoryGrantStore(TimeProvider time, IOptions<GrantsOptions> options) : IGrantStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<GrantId, SupportGrant>> _grantsByTenant = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TenantSupportOverride> _overrides = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, DateTimeOffset>> _endedSessions = new(StringComparer.Ordinal);
    private readonly Dictionary<(string User, long Step), DateTimeOffset> _usedCodes = [];
    private PlatformSupportSettings _platform = PlatformSupportSettings.Default;

    public bool InvalidationsConnected => true;

    public event Action<string>? Invalidated;

    public Task<TenantSupportState> GetStateAsync(string tenant, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            var active = Grants(tenant).Values.Where(g => g.IsActiveAt(now)).ToArray();
            var ended = _endedSessions.TryGetValue(tenant, out var sessions)
                ? sessions.Where(s => s.Value > now).Select(s => s.Key).ToHashSet(StringComparer.Ordinal)
                : new HashSet<string>(StringComparer.Ordinal);
            return Task.FromResult(new TenantSupportState(tenant, _platform, CurrentOverride(tenant, now), active) { RevokedSessions = ended });
        }
    }

    public Task<PlatformSupportSettings> GetPlatformSettingsAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_platform);
        }
    }

    public Task SetPlatformSettingsAsync(PlatformSupportSettings settings, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _platform = settings;
        }

        Invalidated?.Invoke(IGrantStore.AllTenants);
        return Task.CompletedTask;
    }

    public Task<TenantSupportOverride?> GetTenantOverrideAsync(string tenant, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(CurrentOverride(tenant, time.GetUtcNow()));
        }
    }

    public Task SetTenantOverrideAsync(string tenant, TenantSupportOverride value, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (value.Mode == TenantOverrideMode.Inherit)
            {
                _overrides.Remove(tenant);
            }
            else
            {
                _overrides[tenant] = value;
            }
        }

        Invalidated?.Invoke(tenant);
        return Task.CompletedTask;
    }

    public Task CreateGrantAsync(SupportGrant grant, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Prune(grant.Tenant, time.GetUtcNow());
            if (!Grants(grant.Tenant).TryAdd(grant.Id, grant))
            {
                throw new InvalidOperationException($"Grant {grant.Id} already exists.");
            }
        }

        Invalidated?.Invoke(grant.Tenant);
        return Task.CompletedTask;
    }

    public Task<SupportGrant?> GetGrantAsync(string tenant, GrantId id, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Prune(tenant, time.GetUtcNow());
            return Task.FromResult(Grants(tenant).GetValueOrDefault(id));
        }
    }

    public Task<IReadOnlyList<SupportGrant>> ListGrantsAsync(string tenant, bool includeHistory, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            Prune(tenant, now);
            IReadOnlyList<SupportGrant> result = Grants(tenant).Values
                .Where(g => includeHistory || g.IsActiveAt(now))
                .OrderByDescending(g => g.CreatedAt)
                .ThenBy(g => g.Id.Value, StringComparer.Ordinal)
                .ToArray();
            return Task.FromResult(result);
        }
    }

    public Task<SupportGrant?> RevokeGrantAsync(string tenant, GrantId id, string revokedBy, DateTimeOffset at, CancellationToken cancellationToken)
    {
        SupportGrant? revoked = null;
        lock (_lock)
        {
            var grants = Grants(tenant);
            if (grants.TryGetValue(id, out var grant) && grant.IsActiveAt(time.GetUtcNow()))
            {
                revoked = grant with { Status = GrantStatus.Revoked, RevokedBy = revokedBy, RevokedAt = at };
                grants[id] = revoked;
            }
        }

        if (revoked is not null)
        {
            Invalidated?.Invoke(tenant);
        }

        return Task.FromResult(revoked);
    }

    public Task<IReadOnlyList<SupportGrant>> RevokeAllAsync(string tenant, string revokedBy, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var revoked = new List<SupportGrant>();
        lock (_lock)
        {
            var now = time.GetUtcNow();
            var grants = Grants(tenant);
            foreach (var grant in grants.Values.Where(g => g.IsActiveAt(now)).ToArray())
            {
                var done = grant with { Status = GrantStatus.Revoked, RevokedBy = revokedBy, RevokedAt = at };
                grants[grant.Id] = done;
                revoked.Add(done);
            }
        }

        Invalidated?.Invoke(tenant);
        return Task.FromResult<IReadOnlyList<SupportGrant>>(revoked);
    }

    public Task RevokeSessionAsync(string tenant, string sessionId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (!_endedSessions.TryGetValue(tenant, out var sessions))
            {
                sessions = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
                _endedSessions[tenant] = sessions;
            }

            foreach (var expired in sessions.Where(s => s.Value <= now).Select(s => s.Key).ToArray())
            {
                sessions.Remove(expired);
            }

            if (until > now)
            {
                sessions[sessionId] = until;
            }
        }

        Invalidated?.Invoke(tenant);
        return Task.CompletedTask;
    }

    public Task<bool> TryUseOneTimeCodeAsync(string supportUser, long timeStep, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var key = (supportUser.ToLowerInvariant(), timeStep);
        lock (_lock)
        {
            if (_usedCodes.TryGetValue(key, out var recordedUntil) && recordedUntil > now)
            {
                return Task.FromResult(false);
            }

            // Bounded by the users who signed in within the last few steps: expired records go first.
            foreach (var expired in _usedCodes.Where(c => c.Value <= now).Select(c => c.Key).ToArray())
            {
                _usedCodes.Remove(expired);
            }

            if (until > now)
            {
                _usedCodes[key] = until;
            }

            return Task.FromResult(true);
        }
    }

    public Task<bool> PingAsync(CancellationToken cancellationToken) => Task.FromResult(true);

    private Dictionary<GrantId, SupportGrant> Grants(string tenant)
    {
        if (!_grantsByTenant.TryGetValue(tenant, out var grants))
        {
            grants = [];
            _grantsByTenant[tenant] = grants;
        }

        return grants;
    }

    private TenantSupportOverride? CurrentOverride(string tenant, DateTimeOffset now) =>
        _overrides.TryGetValue(tenant, out var value) && value.IsInForceAt(now) ? value : null;

    /// <summary>Drops grants whose history retention, counted from their expiry, has passed.</summary>
    private void Prune(string tenant, DateTimeOffset now)
    {
        var retention = options.Value.HistoryRetention;
        var grants = Grants(tenant);
        foreach (var grant in grants.Values.Where(g => g.ExpiresAt + retention <= now).ToArray())
        {
            grants.Remove(grant.Id);
        }
    }
}
