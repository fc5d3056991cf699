using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

internal enum CredentialCheckStatus
{
    Valid,
    UnknownUser,
    WrongPassword,
}

/// <summary>The outcome of a credential check; <see cref="User"/> is set only when <see cref="Status"/> is <see cref="CredentialCheckStatus.Valid"/>.</summary>
internal readonly record struct CredentialCheck(CredentialCheckStatus Status, SupportUser? User);

/// <summary>
/// Checks a support user's password against the directory. PBKDF2 is deliberately
/// slow, so a successful verification is remembered briefly and the requests of a session do not
/// pay it again. The cache key is an HMAC (per-process random key) over the directory generation,
/// the user, the stored hash and the password: a changed password or any directory reload can never
/// hit an old entry, and memory holds neither the password nor an unsalted hash of it. Failures are
/// never cached, and an unknown name costs the same PBKDF2 as a known one, so timing does not tell
/// which support users exist.
/// </summary>
internal sealed class SupportCredentialVerifier
{
    private const int HmacBytes = 32;

    private readonly SupportUserDirectory _directory;
    private readonly TimeProvider _time;
    private readonly TimeSpan _ttl;
    private readonly int _maxEntries;
    private readonly byte[] _macKey = RandomNumberGenerator.GetBytes(HmacBytes);
    private readonly ConcurrentDictionary<CacheKey, CacheEntry> _verified = new();
    private readonly ConcurrentDictionary<CacheKey, Task<CredentialCheck?>> _flights = new();
    private readonly Lock _sweepLock = new();
    private DummyHash? _dummy;
    private long _lastSweepTicks;
    private long _hashComputations;

    public SupportCredentialVerifier(SupportUserDirectory directory, TimeProvider time, IOptions<SupportCredentialOptions> options)
    {
        _directory = directory;
        _time = time;
        _ttl = options.Value.VerificationCacheTtl;
        _maxEntries = options.Value.VerificationCacheMaxEntries;
        _lastSweepTicks = time.GetUtcNow().UtcTicks;
    }

    /// <summary>PBKDF2 computations so far, the dummy ones for unknown names included (tests and metrics).</summary>
    public long HashComputations => Interlocked.Read(ref _hashComputations);

    /// <summary>Verifications currently cached (tests and metrics).</summary>
    public int CachedVerifications => _verified.Count;

    /// <summary>
    /// A successful verification of exactly these credentials that is still cached: no PBKDF2, and
    /// (by the login policy) no throttling. Null when there is none.
    /// </summary>
    public SupportUser? CachedSuccess(string supportUserName, string password)
    {
        if (_ttl <= TimeSpan.Zero || _maxEntries <= 0 || !_directory.TryFind(supportUserName, out var user, out var generation))
        {
            return null;
        }

        return _verified.TryGetValue(KeyFor(generation, user, password), out var entry) && _time.GetUtcNow() < entry.Expires ? user : null;
    }

    /// <summary>
    /// Joins a check of exactly these credentials that is already running, or becomes the one that
    /// runs it. When a cached success lapses while a session is busy, every request in flight would
    /// otherwise start its own PBKDF2 at once: the password-check slots fill, and the session's own
    /// calls are refused as "busy" for as long as the checks take. With the flight, one request
    /// checks and the others wait for its answer. A leader must <see cref="CheckFlight.Land"/>; an
    /// answer of null (the leader was throttled or found no free slot) sends followers the usual way.
    /// No flight without the cache. An unknown name flies too (keyed on the name as given and the
    /// dummy hash), so two identical guesses behave the same whether the name exists or not.
    /// </summary>
    public CheckFlight JoinOrLead(string supportUserName, string password)
    {
        if (_ttl <= TimeSpan.Zero || _maxEntries <= 0)
        {
            return default;
        }

        var key = _directory.TryFind(supportUserName, out var user, out var generation)
            ? KeyFor(generation, user, password)
            : KeyFor(generation, supportUserName, DummyHashFor(generation), password);
        var leading = new TaskCompletionSource<CredentialCheck?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var flight = _flights.GetOrAdd(key, leading.Task);
        return ReferenceEquals(flight, leading.Task) ? new CheckFlight(this, key, leading, null) : new CheckFlight(null, key, null, flight);
    }

    /// <summary>Checks in flight now (tests).</summary>
    public int Flights => _flights.Count;

    public CredentialCheck Verify(string supportUserName, string password)
    {
        ArgumentNullException.ThrowIfNull(supportUserName);
        ArgumentNullException.ThrowIfNull(password);

        if (!_directory.TryFind(supportUserName, out var user, out var generation))
        {
            ComputeAndCompare(password, DummyHashFor(generation));
            return new CredentialCheck(CredentialCheckStatus.UnknownUser, null);
        }

        var caching = _ttl > TimeSpan.Zero && _maxEntries > 0;
        var key = caching ? KeyFor(generation, user, password) : default;
        var now = _time.GetUtcNow();
        if (caching && _verified.TryGetValue(key, out var entry))
        {
            if (now < entry.Expires)
            {
                return new CredentialCheck(CredentialCheckStatus.Valid, user);
            }

            _verified.TryRemove(KeyValuePair.Create(key, entry));
        }

        if (!ComputeAndCompare(password, user.PasswordHash))
        {
            return new CredentialCheck(CredentialCheckStatus.WrongPassword, null);
        }

        if (caching)
        {
            Remember(key, new CacheEntry(now + _ttl, generation), now, generation);
        }

        return new CredentialCheck(CredentialCheckStatus.Valid, user);
    }

    private bool ComputeAndCompare(string password, string encodedHash)
    {
        Interlocked.Increment(ref _hashComputations);
        return PasswordHasher.Verify(password, encodedHash);
    }

    private void Remember(CacheKey key, CacheEntry entry, DateTimeOffset now, long generation)
    {
        // Sweep at least once per TTL so entries (and superseded generations) do not outlive it by much,
        // and whenever the cache is full.
        if (_verified.Count >= _maxEntries || now.UtcTicks - Volatile.Read(ref _lastSweepTicks) >= _ttl.Ticks)
        {
            Sweep(now, generation);
        }

        // Full of live entries: do not add. A session then pays PBKDF2 again, which is safe, just slower.
        if (_verified.Count < _maxEntries)
        {
            _verified[key] = entry;
        }
    }

    private void Sweep(DateTimeOffset now, long generation)
    {
        if (!_sweepLock.TryEnter())
        {
            return; // another thread is sweeping
        }

        try
        {
            Volatile.Write(ref _lastSweepTicks, now.UtcTicks);
            foreach (var (key, entry) in _verified)
            {
                if (now >= entry.Expires || entry.Generation != generation)
                {
                    _verified.TryRemove(KeyValuePair.Create(key, entry));
                }
            }
        }
        finally
        {
            _sweepLock.Exit();
        }
    }

    /// <summary>HMAC-SHA256 over length-prefixed fields, so no two different inputs share an encoding.</summary>
    private CacheKey KeyFor(long generation, SupportUser user, string password) => KeyFor(generation, user.Name, user.PasswordHash, password);

    private CacheKey KeyFor(long generation, string name, string passwordHash, string password)
    {
        var utf8 = Encoding.UTF8;
        var length = sizeof(long) + (3 * sizeof(int)) + utf8.GetByteCount(name) + utf8.GetByteCount(passwordHash) + utf8.GetByteCount(password);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var input = buffer.AsSpan(0, length);
        try
        {
            BinaryPrimitives.WriteInt64LittleEndian(input, generation);
            var offset = sizeof(long);
            offset += WriteField(input[offset..], name);
            offset += WriteField(input[offset..], passwordHash);
            WriteField(input[offset..], password);

            Span<byte> mac = stackalloc byte[HmacBytes];
            HMACSHA256.HashData(_macKey, input, mac);
            return new CacheKey(MemoryMarshal.Read<UInt128>(mac), MemoryMarshal.Read<UInt128>(mac[16..]));
        }
        finally
        {
            // The buffer held the password; pooled arrays are reused elsewhere.
            CryptographicOperations.ZeroMemory(input);
            ArrayPool<byte>.Shared.Return(buffer);
        }

        static int WriteField(Span<byte> destination, string value)
        {
            var written = Encoding.UTF8.GetBytes(value, destination[sizeof(int)..]);
            BinaryPrimitives.WriteInt32LittleEndian(destination, written);
            return sizeof(int) + written;
        }
    }

    /// <summary>
    /// A hash no password matches, with the highest iteration count in the directory, so an unknown
    /// name costs as much as the most expensive known one. Built without PBKDF2 (random salt and value).
    /// </summary>
    private string DummyHashFor(long generation)
    {
        var dummy = _dummy;
        if (dummy is not null && dummy.Generation == generation)
        {
            return dummy.Hash;
        }

        var iterations = 0;
        foreach (var user in _directory.Users)
        {
            if (PasswordHasher.TryParse(user.PasswordHash, out var userIterations, out _, out _))
            {
                iterations = Math.Max(iterations, userIterations);
            }
        }

        if (iterations == 0)
        {
            iterations = PasswordHasher.DefaultIterations;
        }

        var hash = string.Create(CultureInfo.InvariantCulture,
            $"{PasswordHasher.Scheme}${iterations}${Convert.ToBase64String(RandomNumberGenerator.GetBytes(16))}${Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}");
        _dummy = new DummyHash(generation, hash);
        return hash;
    }

    internal readonly record struct CacheKey(UInt128 High, UInt128 Low);

    /// <summary>One request's part in a check of some credentials: the leader's, a follower's, or none (default).</summary>
    internal readonly struct CheckFlight
    {
        private readonly SupportCredentialVerifier? _owner;
        private readonly CacheKey _key;
        private readonly TaskCompletionSource<CredentialCheck?>? _leading;

        internal CheckFlight(SupportCredentialVerifier? owner, CacheKey key, TaskCompletionSource<CredentialCheck?>? leading, Task<CredentialCheck?>? joined)
        {
            _owner = owner;
            _key = key;
            _leading = leading;
            Joined = joined;
        }

        /// <summary>The leader's answer, for a follower; null for the leader and for no flight.</summary>
        public Task<CredentialCheck?>? Joined { get; }

        /// <summary>The leader's answer (null: not checked), given to every follower; the flight ends. Safe to call more than once.</summary>
        public void Land(CredentialCheck? check)
        {
            if (_leading is null || _owner is null)
            {
                return;
            }

            _owner._flights.TryRemove(KeyValuePair.Create(_key, _leading.Task));
            _leading.TrySetResult(check);
        }
    }

    private readonly record struct CacheEntry(DateTimeOffset Expires, long Generation);

    private sealed record DummyHash(long Generation, string Hash);
}

/// <summary>Support credential checks (section <c>Support:Credentials</c>).</summary>
internal sealed class SupportCredentialOptions
{
    public const string SectionName = "Support:Credentials";

    /// <summary>
    /// How long a successful password verification is reused without recomputing PBKDF2. Keyed so
    /// that a changed password or a directory reload never hits; <c>00:00:00</c> turns the cache off.
    /// At most one hour.
    /// </summary>
    public TimeSpan VerificationCacheTtl { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Most cached verifications; when full of live entries, new ones are not cached. <c>0</c> turns the cache off.</summary>
    public int VerificationCacheMaxEntries { get; init; } = 10_000;
}

internal sealed class SupportCredentialOptionsValidator : IValidateOptions<SupportCredentialOptions>
{
    public static readonly TimeSpan MaxVerificationCacheTtl = TimeSpan.FromHours(1);
    public const int MaxVerificationCacheEntries = 1_000_000;

    public ValidateOptionsResult Validate(string? name, SupportCredentialOptions options)
    {
        var failures = new List<string>();
        if (options.VerificationCacheTtl < TimeSpan.Zero || options.VerificationCacheTtl > MaxVerificationCacheTtl)
        {
            failures.Add($"{SupportCredentialOptions.SectionName}:VerificationCacheTtl: from 00:00:00 (no cache) to 01:00:00.");
        }

        if (options.VerificationCacheMaxEntries is < 0 or > MaxVerificationCacheEntries)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"{SupportCredentialOptions.SectionName}:VerificationCacheMaxEntries: from 0 (no cache) to {MaxVerificationCacheEntries}."));
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
