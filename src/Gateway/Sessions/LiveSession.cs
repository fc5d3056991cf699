using Gateway.Policy;

namespace Gateway.Sessions;

/// <summary>
/// One support session as this instance sees it: what its requests did since the last flush
/// (added to the shared record off the request path), what it was admitted under, and whether
/// it has ended. Updated per request without I/O: a few interlocked additions and one short lock.
/// </summary>
internal sealed class LiveSession
{
    private readonly Lock _gate = new();
    private readonly HashSet<string> _knownAdmitted;
    private readonly HashSet<string> _knownAddresses;
    private List<string> _newAdmitted = [];
    private List<string> _newAddresses = [];
    private Dictionary<string, long> _denials = [];
    private Dictionary<string, long> _routes = [];
    private List<SessionWrite> _newWrites = [];
    private long _calls;
    private long _writes;
    private long _requestBytes;
    private long _responseBytes;
    private long _lastActivityTicks;
    private bool _dirty;
    private SessionFacts _facts;

    public LiveSession(SupportSessionRecord record, string? basicKey)
    {
        Id = record.Id;
        Tenant = record.Tenant;
        SupportUser = record.SupportUser;
        TargetUser = record.TargetUser;
        StartedAt = record.StartedAt;
        BasicKey = basicKey;
        ExpiresAt = record.ExpiresAt;
        _knownAdmitted = [.. record.AdmittedUnder];
        _knownAddresses = [.. record.ClientAddresses];
        _lastActivityTicks = record.LastActivityAt.UtcTicks;
        EndReason = record.End?.Reason;
        _facts = new SessionFacts(record.End is not null, [.. _knownAdmitted]);
    }

    public string Id { get; }

    public string Tenant { get; }

    public string SupportUser { get; }

    public string TargetUser { get; }

    public DateTimeOffset StartedAt { get; }

    /// <summary>For an HTTP Basic session: its (tenant, support user, target) key.</summary>
    public string? BasicKey { get; }

    public DateTimeOffset? ExpiresAt { get; }

    public string? EndReason { get; private set; }

    public bool Ended => EndReason is not null;

    public DateTimeOffset LastActivityAt => new(Interlocked.Read(ref _lastActivityTicks), TimeSpan.Zero);

    /// <summary>The decision's view of this session (replaced, never changed in place).</summary>
    public SessionFacts Facts => Volatile.Read(ref _facts);

    /// <summary>When a <c>session.denied</c> event was last published (they are collapsed to one a minute).</summary>
    public DateTimeOffset LastDeniedEventAt { get; set; } = DateTimeOffset.MinValue;

    public void MarkEnded(string reason)
    {
        lock (_gate)
        {
            EndReason ??= reason;
            _facts = _facts with { Ended = true };
        }
    }

    /// <summary>An admitted request: it was admitted under these entries (grants, platform, override).</summary>
    public void Admitted(IReadOnlyList<string> entryKeys, string? clientAddress, DateTimeOffset now)
    {
        Touch(now);
        lock (_gate)
        {
            var changed = false;
            foreach (var key in entryKeys)
            {
                if (_knownAdmitted.Add(key))
                {
                    _newAdmitted.Add(key);
                    changed = true;
                }
            }

            if (changed)
            {
                _facts = _facts with { AdmittedUnder = [.. _knownAdmitted] };
            }

            if (clientAddress is not null && _knownAddresses.Add(clientAddress))
            {
                _newAddresses.Add(clientAddress);
            }

            _dirty |= changed || clientAddress is not null;
        }
    }

    public void Denied(string code, DateTimeOffset now)
    {
        Touch(now);
        lock (_gate)
        {
            _denials[code] = _denials.GetValueOrDefault(code) + 1;
            _dirty = true;
        }
    }

    /// <summary>An admitted request finished: its counters, and the write it was when its method is not a read.</summary>
    public bool Completed(string method, string path, int status, string? routeId, long requestBytes, long responseBytes, DateTimeOffset at)
    {
        Touch(at);
        Interlocked.Increment(ref _calls);
        Interlocked.Add(ref _requestBytes, requestBytes);
        Interlocked.Add(ref _responseBytes, responseBytes);
        var write = !SupportAuthorizer.IsRead(method);
        lock (_gate)
        {
            if (routeId is not null)
            {
                _routes[routeId] = _routes.GetValueOrDefault(routeId) + 1;
            }

            if (write)
            {
                _writes++;
                _newWrites.Add(new SessionWrite(at, method, path, status, routeId));
            }

            _dirty = true;
        }

        return write;
    }

    /// <summary>Takes what happened since the last flush; null when nothing did.</summary>
    public SessionDelta? TakeDelta()
    {
        lock (_gate)
        {
            if (!_dirty)
            {
                return null;
            }

            var delta = new SessionDelta
            {
                Tenant = Tenant,
                Id = Id,
                LastActivityAt = LastActivityAt,
                Calls = Interlocked.Exchange(ref _calls, 0),
                Writes = _writes,
                RequestBytes = Interlocked.Exchange(ref _requestBytes, 0),
                ResponseBytes = Interlocked.Exchange(ref _responseBytes, 0),
                Denials = _denials,
                Routes = _routes,
                ClientAddresses = _newAddresses,
                AdmittedUnder = _newAdmitted,
                NewWrites = _newWrites,
                BasicKey = BasicKey,
            };
            _writes = 0;
            _denials = [];
            _routes = [];
            _newAddresses = [];
            _newAdmitted = [];
            _newWrites = [];
            _dirty = false;
            return delta;
        }
    }

    /// <summary>Puts back a delta whose flush failed, so the next flush carries it.</summary>
    public void Restore(SessionDelta delta)
    {
        Interlocked.Add(ref _calls, delta.Calls);
        Interlocked.Add(ref _requestBytes, delta.RequestBytes);
        Interlocked.Add(ref _responseBytes, delta.ResponseBytes);
        lock (_gate)
        {
            _writes += delta.Writes;
            foreach (var (k, v) in delta.Denials)
            {
                _denials[k] = _denials.GetValueOrDefault(k) + v;
            }

            foreach (var (k, v) in delta.Routes)
            {
                _routes[k] = _routes.GetValueOrDefault(k) + v;
            }

            _newAddresses.AddRange(delta.ClientAddresses);
            _newAdmitted.AddRange(delta.AdmittedUnder);
            _newWrites.InsertRange(0, delta.NewWrites);
            _dirty = true;
        }
    }

    private void Touch(DateTimeOffset now)
    {
        var ticks = now.UtcTicks;
        var current = Interlocked.Read(ref _lastActivityTicks);
        while (ticks > current)
        {
            var seen = Interlocked.CompareExchange(ref _lastActivityTicks, ticks, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
