namespace Gateway.Grants;

/// <summary>Where a tenant's support access comes from.</summary>
internal enum SupportAccessSource
{
    Grant,
    Platform,
    TenantOverride,
}

/// <summary>What a request needs from a grant to be let through.</summary>
internal enum AccessNeed
{
    /// <summary>Support access at all (open routes, configuration reads).</summary>
    Any,

    /// <summary>Access to the tenant's data.</summary>
    Data,

    /// <summary>Configuration writes.</summary>
    ConfigWrite,
}

/// <summary>The ids of the grants that admit a request, and the same joined with commas (a header value).</summary>
internal sealed record AdmittingGrants(IReadOnlyList<string> Ids)
{
    public string List { get; } = string.Join(',', Ids);
}

/// <summary>One thing that lets support in, with its isolation and end (null: until changed).</summary>
internal sealed record SupportAccessEntry(SupportAccessSource Source, GrantId? GrantId, bool DenyData, bool DenyConfig, DateTimeOffset? Until, string? Grantor, IReadOnlyList<string>? Targets = null)
{
    /// <summary>Whether support may act as <paramref name="user"/> under this entry.</summary>
    public bool Covers(string user)
    {
        if (Targets is null)
        {
            return true;
        }

        foreach (var target in Targets)
        {
            if (string.Equals(target, user, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>How a session records what it was admitted under: the grant id, <c>platform</c> or <c>tenant-override</c>.</summary>
    public string Key { get; } = GrantId?.Value ?? (Source == SupportAccessSource.Platform ? "platform" : "tenant-override");
}

/// <summary>
/// The answer of the read path for a tenant: is support active, through what, with which
/// isolation. Permissions add up over entries: data is reachable when any entry allows data,
/// configuration writable when any entry allows config writes.
/// </summary>
internal sealed record SupportAccess(string Tenant, IReadOnlyList<SupportAccessEntry> Entries, string? DeniedBy)
{
    public bool IsActive => Entries.Count > 0;

    // Read on every support request (policy, identity headers, audit): computed once per answer,
    // which the read path caches per tenant. They are derived from Entries at construction, so
    // a different set of entries is a new answer (Evaluate), never `with { Entries = ... }`.

    /// <summary>True when no entry allows data (only meaningful while active).</summary>
    public bool DenyData { get; } = Entries.All(e => e.DenyData);

    public bool DenyConfig { get; } = Entries.All(e => e.DenyConfig);

    /// <summary>The isolation as headers, audit and records name it: <c>denyData,denyConfig</c>, one of them, or <c>none</c>.</summary>
    public string Isolation => IsolationName(DenyData, DenyConfig);

    public static string IsolationName(bool denyData, bool denyConfig) => (denyData, denyConfig) switch
    {
        (true, true) => "denyData,denyConfig",
        (true, false) => "denyData",
        (false, true) => "denyConfig",
        _ => "none",
    };

    /// <summary>The isolation a name of <see cref="IsolationName"/> stands for; false when it is not one.</summary>
    public static bool TryParseIsolation(string? name, out bool denyData, out bool denyConfig)
    {
        (denyData, denyConfig) = name switch
        {
            "denyData,denyConfig" => (true, true),
            "denyData" => (true, false),
            "denyConfig" => (false, true),
            _ => (false, false),
        };
        return name is "denyData,denyConfig" or "denyData" or "denyConfig" or "none";
    }

    /// <summary>The latest end among entries; null while any entry has no end (or none is active).</summary>
    public DateTimeOffset? Until => Entries.Count == 0 || Entries.Any(e => e.Until is null) ? null : Entries.Max(e => e.Until);

    /// <summary>The grantor of the longest-running entry that names one: whom <c>jill$</c> acts as.</summary>
    public string? LongestGrantor { get; } = Entries.Where(e => e.Grantor is not null).OrderByDescending(e => e.Until).Select(e => e.Grantor).FirstOrDefault();

    /// <summary>When every entry is limited to some users: the first user of the longest-running one (whom <c>jill$</c> acts as then).</summary>
    public string? LongestScopedTarget { get; } = Entries.Count > 0 && Entries.All(e => e.Targets is { Count: > 0 })
        ? Entries.OrderByDescending(e => e.Until ?? DateTimeOffset.MaxValue).First().Targets![0]
        : null;

    /// <summary>Whether some entry limits the users support may act as (then <see cref="ForTarget"/> narrows the answer).</summary>
    public bool IsScoped { get; } = Entries.Any(e => e.Targets is not null);

    /// <summary>The users support may act as: null when some entry covers every user, else the union of the entries' targets.</summary>
    public IReadOnlyList<string>? Scope { get; } = Entries.Count == 0 || Entries.Any(e => e.Targets is null)
        ? null
        : [.. Entries.SelectMany(e => e.Targets!).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SupportAccess> _forTarget = new(StringComparer.Ordinal);

    /// <summary>
    /// The access as acting as <paramref name="target"/> sees it: only the entries that cover that
    /// user (so isolation adds up over those alone). Without scoped entries, this same answer.
    /// Inactive when no entry covers the user.
    /// </summary>
    public SupportAccess ForTarget(string target)
    {
        if (!IsScoped)
        {
            return this;
        }

        if (_forTarget.TryGetValue(target, out var known))
        {
            return known;
        }

        var covering = Entries.Where(e => e.Covers(target)).ToList();
        var scoped = new SupportAccess(Tenant, covering, covering.Count == 0 ? "target-not-granted" : null) { RevokedSessions = RevokedSessions };
        // Bounded: the answer is cached per tenant, and a client could name many targets.
        if (_forTarget.Count < 64)
        {
            _forTarget.TryAdd(target, scoped);
        }

        return scoped;
    }

    public IEnumerable<GrantId> GrantIds => Entries.Where(e => e.GrantId is not null).Select(e => e.GrantId!.Value);

    /// <summary>The keys of every entry (see <see cref="SupportAccessEntry.Key"/>).</summary>
    public IReadOnlyList<string> EntryKeys { get; } = [.. Entries.Select(e => e.Key)];

    /// <summary>Whether any of these keys is still one of the tenant's entries.</summary>
    public bool StillHasAny(IReadOnlyCollection<string> keys)
    {
        foreach (var entry in Entries)
        {
            if (keys.Contains(entry.Key))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Most grant ids named as admitting one request (headers, identity token, audit): the list stays small however many grants a tenant has.</summary>
    public const int MaxAdmittingGrants = 5;

    private readonly AdmittingGrants?[] _admitting = new AdmittingGrants?[3];

    /// <summary>
    /// The grants that let a request with this need through on their own, longest-running first,
    /// at most <see cref="MaxAdmittingGrants"/>. Computed once per answer (which the read path caches).
    /// </summary>
    public AdmittingGrants Admitting(AccessNeed need) =>
        _admitting[(int)need] ??= new AdmittingGrants([.. Entries
            .Where(e => e.GrantId is not null && need switch
            {
                AccessNeed.Data => !e.DenyData,
                AccessNeed.ConfigWrite => !e.DenyConfig,
                _ => true,
            })
            .OrderByDescending(e => e.Until ?? DateTimeOffset.MaxValue)
            .Take(MaxAdmittingGrants)
            .Select(e => e.GrantId!.Value.Value)]);

    /// <summary>Sessions of this tenant ended by logout (their tokens are refused until they expire).</summary>
    public IReadOnlySet<string> RevokedSessions { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    public bool IsSessionRevoked(string sessionId) => RevokedSessions.Contains(sessionId);

    /// <summary>
    /// The pure rule of support access: a platform "disabled" override shuts support off whatever
    /// grants exist; an "enabled" override or platform-wide enablement counts as a grant with the
    /// platform's default isolation; each active grant counts on its own.
    /// </summary>
    public static SupportAccess Evaluate(TenantSupportState state, DateTimeOffset now)
    {
        var tenantOverride = state.Override is { } o && o.IsInForceAt(now) ? o : null;
        if (tenantOverride?.Mode == TenantOverrideMode.Disabled)
        {
            return new SupportAccess(state.Tenant, [], "platform-override-disabled") { RevokedSessions = state.RevokedSessions };
        }

        var entries = new List<SupportAccessEntry>();
        if (tenantOverride?.Mode == TenantOverrideMode.Enabled)
        {
            entries.Add(new SupportAccessEntry(SupportAccessSource.TenantOverride, null,
                state.Platform.DefaultDenyData, state.Platform.DefaultDenyConfig, tenantOverride.Until, null));
        }
        else if (state.Platform.EnabledForAllTenants)
        {
            entries.Add(new SupportAccessEntry(SupportAccessSource.Platform, null,
                state.Platform.DefaultDenyData, state.Platform.DefaultDenyConfig, null, null));
        }

        foreach (var grant in state.ActiveGrants)
        {
            if (grant.IsActiveAt(now))
            {
                entries.Add(new SupportAccessEntry(SupportAccessSource.Grant, grant.Id, grant.DenyData, grant.DenyConfig, grant.ExpiresAt, grant.Grantor, grant.Targets));
            }
        }

        return new SupportAccess(state.Tenant, entries, entries.Count == 0 ? "no-grant" : null) { RevokedSessions = state.RevokedSessions };
    }

    /// <summary>The first moment this answer may change by itself (an expiry), if any.</summary>
    public static DateTimeOffset? NextChange(TenantSupportState state, DateTimeOffset now)
    {
        DateTimeOffset? next = null;
        void Consider(DateTimeOffset? at)
        {
            if (at is { } value && value > now && (next is null || value < next))
            {
                next = value;
            }
        }

        Consider(state.Override?.Until);
        foreach (var grant in state.ActiveGrants)
        {
            Consider(grant.ExpiresAt);
        }

        return next;
    }
}
