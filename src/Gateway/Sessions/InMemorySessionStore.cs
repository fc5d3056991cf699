namespace Gateway.Sessions;

/// <summary>The embedded session store for a single gateway without Redis: the same semantics as Redis, one lock.</summary>
internal sealed class InMemorySessionStore(TimeProvider time) : ISessionStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Tenant, string Id), Entry> _sessions = [];
    private readonly Dictionary<string, (string Id, DateTimeOffset Until)> _basic = new(StringComparer.Ordinal);

    public Task<bool> StartAsync(SupportSessionRecord session, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Prune();
            return Task.FromResult(_sessions.TryAdd((session.Tenant, session.Id), new Entry(session, Due(session, null))));
        }
    }

    public Task<(SupportSessionRecord Session, bool Started)> OpenBasicAsync(SupportSessionRecord candidate, string basicKey, TimeSpan idleTimeout, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            Prune();
            if (_basic.TryGetValue(basicKey, out var open) && open.Until > now && _sessions.TryGetValue((candidate.Tenant, open.Id), out var existing))
            {
                if (existing.Record.IsActive)
                {
                    _basic[basicKey] = (open.Id, now + idleTimeout);
                }

                return Task.FromResult((existing.Record, false));
            }

            _basic[basicKey] = (candidate.Id, now + idleTimeout);
            _sessions[(candidate.Tenant, candidate.Id)] = new Entry(candidate, Due(candidate, idleTimeout));
            return Task.FromResult((candidate, true));
        }
    }

    public Task ReleaseBasicAsync(string basicKey, string id, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_basic.TryGetValue(basicKey, out var open) && open.Id == id)
            {
                _basic.Remove(basicKey);
            }
        }

        return Task.CompletedTask;
    }

    public Task<SupportSessionRecord?> GetAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Prune();
            return Task.FromResult(_sessions.TryGetValue((tenant, id), out var entry) ? entry.Record : null);
        }
    }

    public Task<bool> FlushAsync(SessionDelta delta, TimeSpan idleTimeout, SessionsOptions limits, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue((delta.Tenant, delta.Id), out var entry))
            {
                return Task.FromResult(false);
            }

            var r = entry.Record;
            var routes = new Dictionary<string, long>(r.Routes);
            foreach (var (route, calls) in delta.Routes)
            {
                if (routes.ContainsKey(route) || routes.Count < limits.MaxRoutes)
                {
                    routes[route] = routes.GetValueOrDefault(route) + calls;
                }
            }

            var denials = new Dictionary<string, long>(r.Denials);
            foreach (var (code, count) in delta.Denials)
            {
                denials[code] = denials.GetValueOrDefault(code) + count;
            }

            var addresses = r.ClientAddresses.ToList();
            foreach (var address in delta.ClientAddresses.Where(a => !addresses.Contains(a)))
            {
                if (addresses.Count < limits.MaxClientAddresses)
                {
                    addresses.Add(address);
                }
            }

            var admitted = r.AdmittedUnder.Union(delta.AdmittedUnder).Take(64).ToList();
            var writes = r.RecordedWrites.ToList();
            var truncated = r.WritesTruncated;
            foreach (var write in delta.NewWrites)
            {
                if (writes.Count < limits.MaxRecordedWrites)
                {
                    writes.Add(write);
                }
                else
                {
                    truncated = true;
                }
            }

            var firstWrite = r.FirstWriteAt is null && delta.NewWrites.Count > 0;
            var updated = r with
            {
                LastActivityAt = delta.LastActivityAt > r.LastActivityAt ? delta.LastActivityAt : r.LastActivityAt,
                Calls = r.Calls + delta.Calls,
                Writes = r.Writes + delta.Writes,
                RequestBytes = r.RequestBytes + delta.RequestBytes,
                ResponseBytes = r.ResponseBytes + delta.ResponseBytes,
                Routes = routes,
                Denials = denials,
                ClientAddresses = addresses,
                AdmittedUnder = admitted,
                RecordedWrites = writes,
                WritesTruncated = truncated,
                FirstWriteAt = r.FirstWriteAt ?? (delta.NewWrites.Count > 0 ? delta.NewWrites[0].At : null),
            };
            _sessions[(delta.Tenant, delta.Id)] = new Entry(updated, updated.IsActive ? Due(updated, idleTimeout) : null);
            if (delta.BasicKey is { } key && _basic.TryGetValue(key, out var open) && open.Id == delta.Id && updated.IsActive)
            {
                _basic[key] = (open.Id, time.GetUtcNow() + idleTimeout);
            }

            return Task.FromResult(firstWrite);
        }
    }

    public Task<SupportSessionRecord?> EndAsync(string tenant, string id, SessionEnd end, DateTimeOffset retainUntil, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue((tenant, id), out var entry) || !entry.Record.IsActive)
            {
                return Task.FromResult<SupportSessionRecord?>(null);
            }

            var ended = entry.Record with { End = end };
            _sessions[(tenant, id)] = new Entry(ended, null, retainUntil);
            return Task.FromResult<SupportSessionRecord?>(ended);
        }
    }

    public Task SaveReportAsync(string tenant, string id, SessionReport report, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue((tenant, id), out var entry))
            {
                _sessions[(tenant, id)] = entry with { Record = entry.Record with { Report = report } };
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<(string Tenant, string Id)>> DueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<(string, string)> due = [.. _sessions
                .Where(s => s.Value.Due is { } at && at <= now)
                .OrderBy(s => s.Value.Due)
                .Take(limit)
                .Select(s => s.Key)];
            return Task.FromResult(due);
        }
    }

    public Task<DateTimeOffset?> NextDueAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_sessions.Values.Min(s => s.Due));
        }
    }

    public Task<SessionPage> ListAsync(SessionQuery query, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Prune();
            var after = SessionCursor.Parse(query.Cursor);
            var page = _sessions.Values
                .Select(e => e.Record)
                .Where(r => query.Tenant is null || r.Tenant == query.Tenant)
                .Where(r => !query.ActiveOnly || r.IsActive)
                .Where(r => query.SupportUser is null || string.Equals(r.SupportUser, query.SupportUser, StringComparison.OrdinalIgnoreCase))
                .Where(r => query.From is null || r.StartedAt >= query.From)
                .Where(r => query.To is null || r.StartedAt < query.To)
                .OrderByDescending(r => r.StartedAt).ThenByDescending(r => $"{r.Tenant}/{r.Id}", StringComparer.Ordinal)
                .Where(r => after is null || SessionCursor.IsAfter(r, after.Value))
                .Take(query.Limit + 1)
                .ToList();
            var more = page.Count > query.Limit;
            if (more)
            {
                page.RemoveAt(page.Count - 1);
            }

            return Task.FromResult(new SessionPage(page, more ? SessionCursor.Of(page[^1]) : null));
        }
    }

    private static DateTimeOffset? Due(SupportSessionRecord r, TimeSpan? idle)
    {
        var due = idle is { } i ? r.LastActivityAt + i : (DateTimeOffset?)null;
        return r.ExpiresAt is { } expires && (due is null || expires < due) ? expires : due;
    }

    /// <summary>Drops ended sessions past their retention.</summary>
    private void Prune()
    {
        var now = time.GetUtcNow();
        foreach (var key in _sessions.Where(s => s.Value.RetainUntil is { } until && until <= now).Select(s => s.Key).ToList())
        {
            _sessions.Remove(key);
        }
    }

    private sealed record Entry(SupportSessionRecord Record, DateTimeOffset? Due, DateTimeOffset? RetainUntil = null);
}

/// <summary>Page cursors over sessions newest first: the start (ms) and key of the last one shown.</summary>
internal static class SessionCursor
{
    public static string Of(SupportSessionRecord r) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{r.StartedAt.ToUnixTimeMilliseconds()}|{r.Tenant}/{r.Id}"));

    public static (long StartMs, string Key)? Parse(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return null;
        }

        try
        {
            var text = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(cursor));
            var bar = text.IndexOf('|', StringComparison.Ordinal);
            return bar > 0 && long.TryParse(text.AsSpan(0, bar), out var ms) ? (ms, text[(bar + 1)..]) : throw new FormatException();
        }
        catch (FormatException)
        {
            throw new ArgumentException("cursor: not a cursor this API returned.");
        }
    }

    public static bool IsAfter(SupportSessionRecord r, (long StartMs, string Key) cursor)
    {
        var ms = r.StartedAt.ToUnixTimeMilliseconds();
        return ms < cursor.StartMs || (ms == cursor.StartMs && string.CompareOrdinal($"{r.Tenant}/{r.Id}", cursor.Key) < 0);
    }
}
