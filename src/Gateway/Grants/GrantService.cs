using Gateway.Auditing;
using Gateway.Events;
using Gateway.Management;
using Gateway.Problems;
using Gateway.Tenancy;
using Microsoft.Extensions.Options;

namespace Gateway.Grants;

/// <summary>
/// The rules for changing support access: who may do what, what a new grant
/// gets by default, and the audit event of every change. Storage is <see cref="IGrantStore"/>'s.
/// </summary>
internal sealed class GrantService(
    IGrantStore store,
    TimeProvider time,
    IOptions<GrantsOptions> grantsOptions,
    IOptions<TenancyOptions> tenancy,
    IAuditSink audit,
    SupportEventBus events)
{
    private const int MaxUserNameLength = 128;

    /// <summary>Most users one grant may be limited to.</summary>
    public const int MaxTargets = 20;

    private readonly HourlyCounter creations = new();

    private GrantsOptions Options => grantsOptions.Value;

    /// <summary>Enables support: any user of the tenant (the endpoint's policy has checked the caller belongs to it).</summary>
    public async Task<Outcome<SupportGrant>> CreateAsync(ManagementCaller caller, string tenant, CreateGrantRequest request, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        if (request.Reason is { } reason && (reason.Length > Options.MaxReasonLength || reason.Any(c => char.IsControl(c) && c is not '\n' and not '\t')))
        {
            errors.Add($"reason: at most {Options.MaxReasonLength} characters, no control characters.");
        }

        if (request.DurationHours is not null && request.CloseDate is not null)
        {
            errors.Add("durationHours, closeDate: give one or the other.");
        }

        if (request.DurationHours is { } hours && (hours < 1 || hours > Options.MaxDurationHours))
        {
            errors.Add($"durationHours: from 1 to {Options.MaxDurationHours}.");
        }

        if (request.Grantor is { } grantor && !IsUserName(grantor))
        {
            errors.Add($"grantor: a user name of 1 to {MaxUserNameLength} characters without whitespace, control characters, '$' or '/'.");
        }

        if (request.Targets is { } targets)
        {
            if (targets.Count is 0 or > MaxTargets || targets.Any(t => t is null || !IsUserName(t)) || targets.Distinct(StringComparer.Ordinal).Count() != targets.Count)
            {
                errors.Add($"targets: 1 to {MaxTargets} distinct user names (leave it out for every user of the tenant).");
            }
            else if (request.Grantor is { } scopedGrantor && !targets.Contains(scopedGrantor, StringComparer.Ordinal))
            {
                errors.Add("grantor: must be one of targets.");
            }
        }

        var now = time.GetUtcNow();
        DateTimeOffset expiresAt = default;
        if (request.CloseDate is { } closeDate && closeDate > DateOnly.FromDateTime(now.UtcDateTime.AddHours(Options.MaxDurationHours)).AddDays(1))
        {
            // Checked before any arithmetic: a far date (9999-12-31) must be a 400, not an overflow.
            errors.Add($"closeDate: at most {Options.MaxDurationHours} hours ahead.");
        }
        else if (request.CloseDate is { } closeDay)
        {
            expiresAt = EndOfDay(closeDay, tenancy.Value.Tenants[tenant].TimeZone);
            if (expiresAt <= now)
            {
                errors.Add("closeDate: must not be in the past.");
            }
            else if (expiresAt - now > TimeSpan.FromHours(Options.MaxDurationHours))
            {
                errors.Add($"closeDate: at most {Options.MaxDurationHours} hours ahead.");
            }
        }

        if (errors.Count > 0)
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.InvalidRequest, string.Join(" ", errors));
        }

        if (request.Grantor is { } named && named != caller.Subject && !caller.IsTenantAdminOf(tenant))
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.GrantorRequiresAdmin);
        }

        // Whom support may act as: a tenant user may limit a grant to themself only; with the
        // tenant's NonAdminGrantScope = Creator, a tenant user's grant covers its creator alone.
        var scope = request.Targets;
        if (!caller.IsTenantAdminOf(tenant))
        {
            if (scope is not null && (scope.Count != 1 || scope[0] != caller.Subject))
            {
                return Outcome<SupportGrant>.Fail(ProblemCode.GrantTargetsRequireAdmin);
            }

            if (tenancy.Value.Tenants[tenant].NonAdminGrantScope == GrantScope.Creator)
            {
                scope = [caller.Subject];
                if (request.Grantor is { } creatorGrantor && creatorGrantor != caller.Subject)
                {
                    return Outcome<SupportGrant>.Fail(ProblemCode.GrantorRequiresAdmin);
                }
            }
        }

        var state = await store.GetStateAsync(tenant, cancellationToken);
        if (state.Override is { Mode: TenantOverrideMode.Disabled } disabled && disabled.IsInForceAt(now))
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.SupportDisabledForTenant,
                disabled.Until is { } until ? $"Disabled until {until:O}." : "Disabled until the platform enables it.");
        }

        // Bounded, so no tenant or user can make every read of the tenant's state, or every support
        // request's identity, grow without limit. (Concurrent creations may pass a limit by a few.)
        if (state.ActiveGrants.Count >= Options.MaxActiveGrantsPerTenant)
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.GrantLimitReached,
                $"The tenant has {state.ActiveGrants.Count} active grants, the most allowed ({Options.MaxActiveGrantsPerTenant}); disable one first.");
        }

        if (state.ActiveGrants.Count(g => g.CreatedBy == caller.Subject) >= Options.MaxActiveGrantsPerUser)
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.GrantLimitReached,
                $"You have {Options.MaxActiveGrantsPerUser} active grants, the most allowed per user; disable one of yours first.");
        }

        if (!creations.TryCount($"{tenant}/{caller.Subject}", now, Options.MaxGrantCreationsPerUserPerHour, out var retryAfter))
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.GrantRateLimited, $"At most {Options.MaxGrantCreationsPerUserPerHour} grants an hour; try again in {Math.Ceiling(retryAfter.TotalMinutes)} minute(s).");
        }

        if (request.CloseDate is null)
        {
            expiresAt = now.AddHours(request.DurationHours ?? state.Platform.RequestDurationHours);
        }

        var grant = new SupportGrant
        {
            Id = GrantId.New(),
            Tenant = tenant,
            CreatedBy = caller.Subject,
            CreatedAt = now,
            Reason = request.Reason,
            ExpiresAt = expiresAt,
            Grantor = request.Grantor,
            DenyData = request.DenyData ?? state.Platform.DefaultDenyData,
            DenyConfig = request.DenyConfig ?? state.Platform.DefaultDenyConfig,
            Targets = scope,
        };
        // The change is made only if its audit event has room: never a change that goes unrecorded.
        using var room = audit.TryReserve();
        if (room is null)
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.AuditUnavailable);
        }

        await store.CreateGrantAsync(grant, cancellationToken);
        Audit(room, caller, tenant, "support-grant-created", [grant.Id], new Dictionary<string, string?>
        {
            ["expiresAt"] = grant.ExpiresAt.ToString("O"),
            ["denyData"] = grant.DenyData ? "true" : "false",
            ["denyConfig"] = grant.DenyConfig ? "true" : "false",
            ["grantor"] = grant.Grantor,
            ["reason"] = grant.Reason,
            ["targets"] = grant.Targets is null ? null : string.Join(",", grant.Targets),
        });
        events.Publish(new SupportEvent(SupportEventTypes.GrantCreated, tenant, now, Grant: grant));
        return grant;
    }

    public async Task<Outcome<SupportGrant>> GetAsync(string tenant, string id, CancellationToken cancellationToken) =>
        GrantId.TryParse(id, out var grantId) && await store.GetGrantAsync(tenant, grantId, cancellationToken) is { } grant
            ? grant
            : Outcome<SupportGrant>.Fail(ProblemCode.GrantNotFound);

    public Task<IReadOnlyList<SupportGrant>> ListAsync(string tenant, bool includeHistory, CancellationToken cancellationToken) =>
        store.ListGrantsAsync(tenant, includeHistory, cancellationToken);

    /// <summary>Disables one grant: its creator, or a tenant admin of the tenant.</summary>
    public async Task<Outcome<SupportGrant>> RevokeAsync(ManagementCaller caller, string tenant, string id, CancellationToken cancellationToken)
    {
        if (!GrantId.TryParse(id, out var grantId) || await store.GetGrantAsync(tenant, grantId, cancellationToken) is not { } grant)
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.GrantNotFound);
        }

        if (grant.CreatedBy != caller.Subject && !caller.IsTenantAdminOf(tenant))
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.GrantNotOwner);
        }

        // Reducing access is never refused for the audit's sake: its event goes past every cap.
        using var room = audit.ReserveAccessReduction();
        var revoked = await store.RevokeGrantAsync(tenant, grantId, caller.Subject, time.GetUtcNow(), cancellationToken);
        if (revoked is null)
        {
            return Outcome<SupportGrant>.Fail(ProblemCode.GrantNotActive, $"The grant is {grant.StatusAt(time.GetUtcNow()).ToString().ToLowerInvariant()}.");
        }

        Audit(room, caller, tenant, "support-grant-revoked", [grantId], null);
        events.Publish(new SupportEvent(SupportEventTypes.GrantRevoked, tenant, revoked.RevokedAt ?? time.GetUtcNow(), Grant: revoked));
        return revoked;
    }

    /// <summary>A tenant admin's disable: revokes every active grant of the tenant.</summary>
    public async Task<Outcome<IReadOnlyList<SupportGrant>>> RevokeAllAsync(ManagementCaller caller, string tenant, CancellationToken cancellationToken)
    {
        // Reducing access is never refused for the audit's sake: its event goes past every cap.
        using var room = audit.ReserveAccessReduction();
        var revoked = await store.RevokeAllAsync(tenant, caller.Subject, time.GetUtcNow(), cancellationToken);
        Audit(room, caller, tenant, "support-grants-revoked-all", [.. revoked.Select(g => g.Id)], null);
        foreach (var grant in revoked)
        {
            events.Publish(new SupportEvent(SupportEventTypes.GrantRevoked, tenant, grant.RevokedAt ?? time.GetUtcNow(), Grant: grant));
        }

        return Outcome<IReadOnlyList<SupportGrant>>.From(revoked);
    }

    public Task<PlatformSupportSettings> GetPlatformSettingsAsync(CancellationToken cancellationToken) =>
        store.GetPlatformSettingsAsync(cancellationToken);

    /// <summary>Platform admins only (the endpoint's policy).</summary>
    public async Task<Outcome<PlatformSupportSettings>> SetPlatformSettingsAsync(ManagementCaller caller, PlatformSettingsRequest request, CancellationToken cancellationToken)
    {
        if (request.RequestDurationHours < 1 || request.RequestDurationHours > Options.MaxDurationHours)
        {
            return Outcome<PlatformSupportSettings>.Fail(ProblemCode.InvalidRequest, $"requestDurationHours: from 1 to {Options.MaxDurationHours}.");
        }

        var settings = new PlatformSupportSettings
        {
            EnabledForAllTenants = request.EnabledForAllTenants,
            RequestDurationHours = request.RequestDurationHours,
            DefaultDenyData = request.DefaultDenyData,
            DefaultDenyConfig = request.DefaultDenyConfig,
        };
        // The change is made only if its audit event has room: never a change that goes unrecorded.
        using var room = audit.TryReserve();
        if (room is null)
        {
            return Outcome<PlatformSupportSettings>.Fail(ProblemCode.AuditUnavailable);
        }

        await store.SetPlatformSettingsAsync(settings, cancellationToken);
        Audit(room, caller, null, "support-platform-settings-changed", null, new Dictionary<string, string?>
        {
            ["enabledForAllTenants"] = settings.EnabledForAllTenants ? "true" : "false",
            ["requestDurationHours"] = settings.RequestDurationHours.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["defaultDenyData"] = settings.DefaultDenyData ? "true" : "false",
            ["defaultDenyConfig"] = settings.DefaultDenyConfig ? "true" : "false",
        });
        return settings;
    }

    /// <summary>Platform admins only (the endpoint's policy).</summary>
    public async Task<Outcome<TenantSupportOverride>> SetTenantOverrideAsync(ManagementCaller caller, string tenant, TenantOverrideRequest request, CancellationToken cancellationToken)
    {
        if (!tenancy.Value.Tenants.ContainsKey(tenant))
        {
            return Outcome<TenantSupportOverride>.Fail(ProblemCode.TenantNotFound);
        }

        var now = time.GetUtcNow();
        if (request.Until is { } until && (request.Mode == TenantOverrideMode.Inherit || until <= now))
        {
            return Outcome<TenantSupportOverride>.Fail(ProblemCode.InvalidRequest, "until: only with mode enabled or disabled, and in the future.");
        }

        var value = new TenantSupportOverride { Mode = request.Mode, Until = request.Until, SetBy = caller.Subject, SetAt = now };
        // Turning support off for a tenant reduces access and is never refused for the audit's sake;
        // any other change is made only if its audit event has room, never unrecorded.
        using var room = request.Mode == TenantOverrideMode.Disabled ? audit.ReserveAccessReduction() : audit.TryReserve();
        if (room is null)
        {
            return Outcome<TenantSupportOverride>.Fail(ProblemCode.AuditUnavailable);
        }

        await store.SetTenantOverrideAsync(tenant, value, cancellationToken);
        Audit(room, caller, tenant, "support-tenant-override-changed", null, new Dictionary<string, string?>
        {
            ["mode"] = request.Mode.ToString().ToLowerInvariant(),
            ["until"] = request.Until?.ToString("O"),
        });
        return value;
    }

    private void Audit(IAuditReservation room, ManagementCaller caller, string? tenant, string action, IReadOnlyList<GrantId>? grants, IReadOnlyDictionary<string, string?>? details)
    {
        room.Complete(new AuditEvent
        {
            Timestamp = time.GetUtcNow(),
            Category = "configuration",
            Action = action,
            UserName = caller.Subject,
            UserId = caller.Subject,
            UserRoles = [.. caller.Roles],
            Tenant = tenant ?? caller.Tenant,
            GrantIds = grants?.Select(g => g.Value).ToArray(),
            Details = details,
        });
    }

    /// <summary>23:59:59 of the date in the tenant's zone, as an instant.</summary>
    internal static DateTimeOffset EndOfDay(DateOnly date, string timeZoneId)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(timeZoneId);
        var local = date.ToDateTime(new TimeOnly(23, 59, 59), DateTimeKind.Unspecified);
        return new DateTimeOffset(local, zone.GetUtcOffset(local));
    }

    private static bool IsUserName(string name) =>
        name.Length is > 0 and <= MaxUserNameLength && !name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '$' or '/');

}

/// <summary>Counts per key in fixed one-hour windows (per instance), holding at most a bounded number of keys.</summary>
internal sealed class HourlyCounter
{
    private const int MaxKeys = 100_000;
    private static readonly TimeSpan Window = TimeSpan.FromHours(1);
    private readonly Dictionary<string, (DateTimeOffset Start, int Count)> _counts = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public bool TryCount(string key, DateTimeOffset now, int limit, out TimeSpan retryAfter)
    {
        lock (_lock)
        {
            retryAfter = TimeSpan.Zero;
            if (_counts.Count >= MaxKeys)
            {
                foreach (var stale in _counts.Where(c => now - c.Value.Start >= Window).Select(c => c.Key).ToList())
                {
                    _counts.Remove(stale);
                }
            }

            var (start, count) = _counts.TryGetValue(key, out var entry) && now - entry.Start < Window ? entry : (now, 0);
            if (count >= limit)
            {
                retryAfter = start + Window - now;
                return false;
            }

            if (_counts.Count < MaxKeys || _counts.ContainsKey(key))
            {
                _counts[key] = (start, count + 1);
            }

            return true;
        }
    }
}
