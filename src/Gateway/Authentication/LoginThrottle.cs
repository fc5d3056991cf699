using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Gateway.Authentication;

/// <summary>
/// Throttles failed support logins per support user and per client address with the
/// framework's fixed-window rate limiters. Only failures consume permits; while either
/// budget is spent, every attempt (even with the right password) gets 429 without a
/// password check. Counters are per gateway instance.
/// </summary>
internal sealed class LoginThrottle : IDisposable
{
    private readonly PartitionedRateLimiter<string> _perUser;
    private readonly PartitionedRateLimiter<string> _perClient;

    public LoginThrottle(IOptions<SupportOptions> options)
    {
        var o = options.Value;
        _perUser = Create(o.FailedLoginsPerUser, o.FailedLoginWindow);
        _perClient = Create(o.FailedLoginsPerClient, o.FailedLoginWindow);
    }

    /// <summary>True when the user's or the client's failure budget is spent; <paramref name="retryAfter"/> says for how long.</summary>
    public bool IsBlocked(string supportUser, string client, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        foreach (var (limiter, key) in new[] { (_perUser, UserKey(supportUser)), (_perClient, client) })
        {
            using var probe = limiter.AttemptAcquire(key, 0);
            if (!probe.IsAcquired)
            {
                var wait = probe.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);
                retryAfter = wait > retryAfter ? wait : retryAfter;
            }
        }

        return retryAfter > TimeSpan.Zero;
    }

    public void RecordFailure(string supportUser, string client)
    {
        _perUser.AttemptAcquire(UserKey(supportUser)).Dispose();
        _perClient.AttemptAcquire(client).Dispose();
    }

    public void Dispose()
    {
        _perUser.Dispose();
        _perClient.Dispose();
    }

    private static string UserKey(string supportUser) => supportUser.ToLowerInvariant();

    private static PartitionedRateLimiter<string> Create(int permits, TimeSpan window) =>
        PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = permits,
            Window = window,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
}
