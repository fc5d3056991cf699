using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

/// <summary>The throttle's answer for one login attempt.</summary>
internal readonly record struct ThrottleDecision(bool Allowed, TimeSpan RetryAfter, LoginAttempt? Attempt);

/// <summary>
/// Throttles support-login failures (per gateway instance), with a policy that stops guessing
/// without letting anyone lock a support engineer out:
/// <list type="bullet">
/// <item>hard limits on one client guessing one user's password (<see cref="SupportOptions.FailedLoginsPerUserAndClient"/>)
/// and on one client's failures over all names (<see cref="SupportOptions.FailedLoginsPerClient"/>), per window;</item>
/// <item>for a user over all clients only growing delays (<see cref="SupportOptions.UserBackoffAfterFailures"/>,
/// doubling from one second up to <see cref="SupportOptions.UserBackoffMax"/>), never a block that lasts;</item>
/// <item>an IPv6 client is its /64 (one host usually holds the whole prefix);</item>
/// <item>each attempt takes its failure before the password is checked (<see cref="TryBegin"/>) and
/// gives it back on success, so concurrent guesses cannot all pass one budget;</item>
/// <item>memory is bounded: users are counted only when the directory knows them, and the
/// client table keeps at most <see cref="MaxClients"/> entries (expired ones first, then the oldest).</item>
/// </list>
/// A request whose credentials match a cached successful verification never reaches the throttle.
/// </summary>
internal sealed class LoginThrottle
{
    internal const int MaxClients = 100_000;

    private readonly SupportOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Window> _clients = new(StringComparer.Ordinal);
    private readonly Dictionary<(string User, string Client), Window> _pairs = [];
    private readonly Dictionary<string, Backoff> _users = new(StringComparer.Ordinal);

    public LoginThrottle(IOptions<SupportOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
    }

    /// <summary>Entries held now (tests and metrics).</summary>
    public int TrackedClients
    {
        get
        {
            lock (_lock)
            {
                return _clients.Count;
            }
        }
    }

    /// <summary>The throttling key of a client address: IPv4 as is, IPv6 by its /64.</summary>
    public static string ClientKey(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
    }

    /// <summary>
    /// Whether an attempt may check a password now; if so, its failure is already counted and
    /// must be ended with <see cref="Succeeded"/> or left as a failure.
    /// </summary>
    /// <param name="knownUser">The directory's name for the user, or null for a name it does not know.</param>
    public ThrottleDecision TryBegin(string? knownUser, string client)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var clientWindow = Current(_clients, client, now);
            var wait = Blocked(clientWindow, _options.FailedLoginsPerClient, now);

            Window? pairWindow = null;
            if (knownUser is not null)
            {
                pairWindow = Current(_pairs, (knownUser, client), now);
                wait = Max(wait, Blocked(pairWindow, _options.FailedLoginsPerUserAndClient, now));
                if (_users.TryGetValue(knownUser, out var backoff))
                {
                    wait = Max(wait, backoff.WaitAt(now, _options));
                }
            }

            if (wait > TimeSpan.Zero)
            {
                return new ThrottleDecision(false, wait, null);
            }

            // The failure is counted before the (slow) password check; success gives it back.
            clientWindow = Count(_clients, client, clientWindow, now);
            if (knownUser is not null)
            {
                Count(_pairs, (knownUser, client), pairWindow, now);
                _users[knownUser] = (_users.TryGetValue(knownUser, out var user) ? user : default).Fail(now, _options);
            }

            TrimClients(now);
            return new ThrottleDecision(true, TimeSpan.Zero, new LoginAttempt(knownUser, client));
        }
    }

    /// <summary>The attempt's password was right: its failure is withdrawn and the user's and pair's counts are cleared.</summary>
    public void Succeeded(LoginAttempt attempt)
    {
        lock (_lock)
        {
            if (_clients.TryGetValue(attempt.Client, out var window) && window.Failures > 0)
            {
                _clients[attempt.Client] = window with { Failures = window.Failures - 1 };
            }

            if (attempt.User is { } user)
            {
                _pairs.Remove((user, attempt.Client));
                _users.Remove(user);
            }
        }
    }

    /// <summary>The attempt did not get to check a password (the gateway was too busy): as if it never began.</summary>
    public void Abandon(LoginAttempt attempt)
    {
        lock (_lock)
        {
            if (_clients.TryGetValue(attempt.Client, out var window) && window.Failures > 0)
            {
                _clients[attempt.Client] = window with { Failures = window.Failures - 1 };
            }

            if (attempt.User is { } user)
            {
                if (_pairs.TryGetValue((user, attempt.Client), out var pair) && pair.Failures > 0)
                {
                    _pairs[(user, attempt.Client)] = pair with { Failures = pair.Failures - 1 };
                }

                if (_users.TryGetValue(user, out var backoff))
                {
                    _users[user] = backoff.Undo();
                }
            }
        }
    }

    /// <summary>A refused probe that never reached a password check (e.g. an ambiguous target) still counts against its client.</summary>
    public void RecordClientFailure(string client)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            Count(_clients, client, Current(_clients, client, now), now);
            TrimClients(now);
        }
    }

    private Window? Current<TKey>(Dictionary<TKey, Window> table, TKey key, DateTimeOffset now)
        where TKey : notnull =>
        table.TryGetValue(key, out var window) && now - window.Start < _options.FailedLoginWindow ? window : null;

    private TimeSpan Blocked(Window? window, int limit, DateTimeOffset now) =>
        window is { } w && w.Failures >= limit ? w.Start + _options.FailedLoginWindow - now : TimeSpan.Zero;

    private static Window Count<TKey>(Dictionary<TKey, Window> table, TKey key, Window? current, DateTimeOffset now)
        where TKey : notnull
    {
        var next = current is { } w ? w with { Failures = w.Failures + 1 } : new Window(now, 1);
        table[key] = next;
        return next;
    }

    private void TrimClients(DateTimeOffset now)
    {
        if (_clients.Count <= MaxClients)
        {
            return;
        }

        foreach (var stale in _clients.Where(c => now - c.Value.Start >= _options.FailedLoginWindow).Select(c => c.Key).ToList())
        {
            _clients.Remove(stale);
        }

        foreach (var oldest in _clients.OrderBy(c => c.Value.Start).Take(_clients.Count - (MaxClients * 9 / 10)).Select(c => c.Key).ToList())
        {
            _clients.Remove(oldest);
        }

        foreach (var stale in _pairs.Where(p => now - p.Value.Start >= _options.FailedLoginWindow).Select(p => p.Key).ToList())
        {
            _pairs.Remove(stale);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>Failures counted in a fixed window starting at <see cref="Start"/>.</summary>
    private readonly record struct Window(DateTimeOffset Start, int Failures);

    /// <summary>A user's failures over all clients and when the last one was; past a threshold, each try must wait longer.</summary>
    private readonly record struct Backoff(int Failures, DateTimeOffset Last)
    {
        public Backoff Fail(DateTimeOffset now, SupportOptions options) =>
            now - Last >= options.FailedLoginWindow ? new Backoff(1, now) : new Backoff(Failures + 1, now);

        public Backoff Undo() => this with { Failures = Math.Max(0, Failures - 1) };

        public TimeSpan WaitAt(DateTimeOffset now, SupportOptions options)
        {
            if (now - Last >= options.FailedLoginWindow || Failures < options.UserBackoffAfterFailures)
            {
                return TimeSpan.Zero;
            }

            var exponent = Math.Min(Failures - options.UserBackoffAfterFailures, 20);
            var delay = TimeSpan.FromSeconds(Math.Min(options.UserBackoffMax.TotalSeconds, Math.Pow(2, exponent)));
            var wait = Last + delay - now;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
    }
}

/// <summary>An attempt that passed the throttle: its counted failure, to be withdrawn if the password is right.</summary>
internal sealed record LoginAttempt(string? User, string Client);
