using System.Net;
using Gateway.Authentication;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Authentication;

/// <summary>The login throttle's policy on a fake clock: hard limits per pair and per client, only delays per user, bounded memory.</summary>
public sealed class LoginThrottlePolicyTests
{
    private readonly FakeTimeProvider _clock = new(TestClock.Start);
    private readonly LoginThrottle _throttle;

    public LoginThrottlePolicyTests() => _throttle = new LoginThrottle(Options.Create(new SupportOptions
    {
        FailedLoginsPerUserAndClient = 5,
        FailedLoginsPerClient = 20,
        UserBackoffAfterFailures = 5,
        UserBackoffMax = TimeSpan.FromSeconds(30),
        FailedLoginWindow = TimeSpan.FromMinutes(5),
    }), _clock);

    [Fact]
    public void OneClientGuessingOneUser_IsBlockedForTheWindow()
    {
        for (var i = 0; i < 5; i++)
        {
            Assert.True(_throttle.TryBegin("jill", "198.51.100.1").Allowed);
            _clock.Advance(TimeSpan.FromSeconds(31)); // past any per-user delay: only the pair limit is left
        }

        var blocked = _throttle.TryBegin("jill", "198.51.100.1");
        Assert.False(blocked.Allowed);
        Assert.InRange(blocked.RetryAfter, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));
    }

    [Fact]
    public void FailuresForAUserFromAnywhere_OnlyDelay_NeverLockOut()
    {
        // An attacker spreads wrong passwords for jill over many addresses.
        for (var i = 0; i < 50; i++)
        {
            var attempt = _throttle.TryBegin("jill", $"203.0.113.{i}");
            if (!attempt.Allowed)
            {
                Assert.True(attempt.RetryAfter <= TimeSpan.FromSeconds(30), $"jill is held off for {attempt.RetryAfter}");
                _clock.Advance(attempt.RetryAfter);
            }
        }

        // jill herself, from her own address, waits at most the longest delay.
        var own = _throttle.TryBegin("jill", "192.0.2.10");
        if (!own.Allowed)
        {
            Assert.True(own.RetryAfter <= TimeSpan.FromSeconds(30));
            _clock.Advance(own.RetryAfter);
            own = _throttle.TryBegin("jill", "192.0.2.10");
        }

        Assert.True(own.Allowed);
    }

    [Fact]
    public void UserDelays_GrowWithFailures()
    {
        var waits = new List<TimeSpan>();
        for (var i = 0; i < 9; i++)
        {
            var attempt = _throttle.TryBegin("jill", $"203.0.113.{i}");
            if (!attempt.Allowed)
            {
                waits.Add(attempt.RetryAfter);
                _clock.Advance(attempt.RetryAfter);
                Assert.True(_throttle.TryBegin("jill", $"203.0.113.{i}").Allowed);
            }
        }

        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8)], waits);
    }

    [Fact]
    public void ASuccess_ClearsTheUsersCount()
    {
        for (var i = 0; i < 5; i++)
        {
            _throttle.TryBegin("jill", $"203.0.113.{i}");
        }

        var right = _throttle.TryBegin("jill", "192.0.2.10");
        _clock.Advance(TimeSpan.FromSeconds(1));
        right = right.Allowed ? right : _throttle.TryBegin("jill", "192.0.2.10");
        _throttle.Succeeded(right.Attempt!);

        Assert.True(_throttle.TryBegin("jill", "192.0.2.11").Allowed);
    }

    [Fact]
    public void OneClient_OverManyNames_IsBlocked()
    {
        for (var i = 0; i < 20; i++)
        {
            Assert.True(_throttle.TryBegin(null, "198.51.100.7").Allowed);
        }

        Assert.False(_throttle.TryBegin(null, "198.51.100.7").Allowed);
        Assert.True(_throttle.TryBegin(null, "198.51.100.8").Allowed);
    }

    [Fact]
    public async Task ConcurrentAttempts_TakeTheirFailureBeforeTheCheck_SoOnlyTheBudgetPasses()
    {
        var decisions = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() => _throttle.TryBegin("jill", "198.51.100.1"))));

        Assert.Equal(5, decisions.Count(d => d.Allowed));
    }

    [Theory]
    [InlineData("2001:db8:1:2:aaaa::1", "2001:db8:1:2:ffff::9", true)]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:3::1", false)]
    [InlineData("::ffff:198.51.100.1", "198.51.100.1", true)]
    [InlineData("198.51.100.1", "198.51.100.2", false)]
    public void ClientKey_GroupsIpv6By64(string a, string b, bool same)
    {
        Assert.Equal(same, LoginThrottle.ClientKey(IPAddress.Parse(a)) == LoginThrottle.ClientKey(IPAddress.Parse(b)));
    }

    [Fact]
    public void ClientTable_StaysBounded_UnderAFloodOfAddresses()
    {
        for (var i = 0; i < LoginThrottle.MaxClients + 5_000; i++)
        {
            _throttle.RecordClientFailure($"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}");
        }

        Assert.InRange(_throttle.TrackedClients, 1, LoginThrottle.MaxClients);
    }
}
