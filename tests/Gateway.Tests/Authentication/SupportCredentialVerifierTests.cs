using Microsoft.Extensions.Time.Testing;
using Gateway.Authentication;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Authentication;

/// <summary>Password checks for support users: outcomes, the verification cache and what may never be served from it.</summary>
public sealed class SupportCredentialVerifierTests : IAsyncLifetime
{
    private readonly TempConfigDirectory _config = new();
    private readonly FakeTimeProvider _time = new(TestClock.Start);
    private SupportUserDirectory _directory = null!;

    public async Task InitializeAsync()
    {
        SupportUsersFile.Write(_config.Path, SupportUsersFile.Standard());
        _directory = SupportUsersFile.Create(_config.Path, _time);
        await _directory.InitializeAsync();
    }

    public Task DisposeAsync()
    {
        _directory.Dispose();
        _config.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public void Verify_ReportsValid_WrongPassword_AndUnknownUser()
    {
        var verifier = CreateVerifier();

        var valid = verifier.Verify("sam", SupportUsersFile.SamPassword);
        var wrong = verifier.Verify("sam", SupportUsersFile.JillPassword);
        var unknown = verifier.Verify("nobody", SupportUsersFile.SamPassword);

        Assert.Equal(CredentialCheckStatus.Valid, valid.Status);
        Assert.Equal("sam", valid.User?.Name);
        Assert.True(valid.User?.IsPermittedFor("globex"));
        Assert.False(valid.User?.IsPermittedFor("acme"));
        Assert.Equal(new CredentialCheck(CredentialCheckStatus.WrongPassword, null), wrong);
        Assert.Equal(new CredentialCheck(CredentialCheckStatus.UnknownUser, null), unknown);
    }

    [Fact]
    public void Verify_MatchesTheNameCaseInsensitively_AndReturnsTheCanonicalUser()
    {
        var verifier = CreateVerifier();

        var check = verifier.Verify("JiLL", SupportUsersFile.JillPassword);

        Assert.Equal(CredentialCheckStatus.Valid, check.Status);
        Assert.Equal("jill", check.User?.Name);
        Assert.Equal(CredentialCheckStatus.WrongPassword, verifier.Verify("jill", SupportUsersFile.JillPassword.ToUpperInvariant()).Status);
    }

    [Fact]
    public void SecondValidVerification_ComputesNoHash()
    {
        var verifier = CreateVerifier();

        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);
        Assert.Equal(1, verifier.HashComputations);

        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("JILL", SupportUsersFile.JillPassword).Status);
        Assert.Equal(1, verifier.HashComputations);
    }

    [Fact]
    public void WrongPassword_IsNeverCached_AndAlwaysComputesAHash()
    {
        var verifier = CreateVerifier();
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);

        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal(CredentialCheckStatus.WrongPassword, verifier.Verify("jill", "guess").Status);
            Assert.Equal(1 + i, verifier.HashComputations);
        }

        Assert.Equal(1, verifier.CachedVerifications);
    }

    [Fact]
    public void UnknownUser_CostsOneHashComputation_EveryTime()
    {
        var verifier = CreateVerifier();

        Assert.Equal(CredentialCheckStatus.UnknownUser, verifier.Verify("mallory", "whatever").Status);
        Assert.Equal(1, verifier.HashComputations);
        Assert.Equal(CredentialCheckStatus.UnknownUser, verifier.Verify("mallory", "whatever").Status);
        Assert.Equal(2, verifier.HashComputations);
        Assert.Equal(0, verifier.CachedVerifications);
    }

    [Fact]
    public async Task PasswordChangedInTheFile_RefusesTheOldPassword_EvenThoughItWasCached()
    {
        var verifier = CreateVerifier();
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("sam", SupportUsersFile.SamPassword).Status);
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("sam", SupportUsersFile.SamPassword).Status);
        Assert.Equal(1, verifier.HashComputations);

        var file = SupportUsersFile.Standard();
        file["SupportUsers"]!["Users"]!["sam"]!["PasswordHash"] = PasswordHasher.Hash("sam-new-password", SupportUsersFile.TestIterations);
        SupportUsersFile.Write(_config.Path, file);
        await _directory.ReloadAsync();

        Assert.Equal(CredentialCheckStatus.WrongPassword, verifier.Verify("sam", SupportUsersFile.SamPassword).Status);
        Assert.Equal(2, verifier.HashComputations);
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("sam", "sam-new-password").Status);
        Assert.Equal(3, verifier.HashComputations);
    }

    [Fact]
    public async Task AnyDirectoryReload_StartsTheCacheAfresh()
    {
        var verifier = CreateVerifier();
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);

        await _directory.ReloadAsync(); // same file: a new generation nonetheless
        Assert.Equal(2, _directory.Generation);

        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);
        Assert.Equal(2, verifier.HashComputations);
    }

    [Fact]
    public async Task UserRemovedFromTheFile_IsUnknown_EvenThoughTheirPasswordWasCached()
    {
        var verifier = CreateVerifier();
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("sam", SupportUsersFile.SamPassword).Status);

        var file = SupportUsersFile.Standard();
        ((System.Text.Json.Nodes.JsonObject)file["SupportUsers"]!["Users"]!).Remove("sam");
        SupportUsersFile.Write(_config.Path, file);
        await _directory.ReloadAsync();

        Assert.Equal(new CredentialCheck(CredentialCheckStatus.UnknownUser, null), verifier.Verify("sam", SupportUsersFile.SamPassword));
    }

    [Fact]
    public void AfterTheCacheTtl_TheHashIsRecomputed()
    {
        var verifier = CreateVerifier(new SupportCredentialOptions { VerificationCacheTtl = TimeSpan.FromMinutes(5) });
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);

        _time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);
        Assert.Equal(1, verifier.HashComputations);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);
        Assert.Equal(2, verifier.HashComputations);

        // ... and cached again from then on.
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);
        Assert.Equal(2, verifier.HashComputations);
    }

    [Fact]
    public void FullCache_AddsNothingMore_ButStillVerifies()
    {
        var verifier = CreateVerifier(new SupportCredentialOptions { VerificationCacheMaxEntries = 1 });
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);

        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("sam", SupportUsersFile.SamPassword).Status);
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("sam", SupportUsersFile.SamPassword).Status);
        Assert.Equal(3, verifier.HashComputations);
        Assert.Equal(1, verifier.CachedVerifications);

        // Once the cached entry expires, its room is reused.
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("sam", SupportUsersFile.SamPassword).Status);
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("sam", SupportUsersFile.SamPassword).Status);
        Assert.Equal(4, verifier.HashComputations);
        Assert.Equal(1, verifier.CachedVerifications);
    }

    [Fact]
    public void ZeroTtl_DisablesTheCache()
    {
        var verifier = CreateVerifier(new SupportCredentialOptions { VerificationCacheTtl = TimeSpan.Zero });

        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);
        Assert.Equal(CredentialCheckStatus.Valid, verifier.Verify("jill", SupportUsersFile.JillPassword).Status);
        Assert.Equal(2, verifier.HashComputations);
        Assert.Equal(0, verifier.CachedVerifications);
    }

    [Fact]
    public async Task ConcurrentVerifications_AllGetTheRightAnswer()
    {
        var verifier = CreateVerifier();

        var checks = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => Task.Run(() =>
            i % 3 == 0 ? (Expected: CredentialCheckStatus.WrongPassword, Actual: verifier.Verify("sam", "wrong").Status)
            : (Expected: CredentialCheckStatus.Valid, Actual: verifier.Verify(i % 2 == 0 ? "jill" : "sam", i % 2 == 0 ? SupportUsersFile.JillPassword : SupportUsersFile.SamPassword).Status))));

        Assert.All(checks, c => Assert.Equal(c.Expected, c.Actual));
        Assert.Equal(2, verifier.CachedVerifications);
    }

    [Fact]
    public async Task ChecksOfTheSameCredentials_ShareOneFlight_WhoseAnswerEveryFollowerGets()
    {
        var verifier = CreateVerifier();
        var leader = verifier.JoinOrLead("jill", SupportUsersFile.JillPassword);
        var follower = verifier.JoinOrLead("jill", SupportUsersFile.JillPassword);
        var other = verifier.JoinOrLead("jill", "another password");

        Assert.Null(leader.Joined);
        Assert.NotNull(follower.Joined);
        Assert.Null(other.Joined); // other credentials lead a flight of their own
        Assert.False(follower.Joined!.IsCompleted);
        Assert.Equal(2, verifier.Flights);

        var check = verifier.Verify("jill", SupportUsersFile.JillPassword);
        leader.Land(check);
        leader.Land(null); // a second landing changes nothing

        Assert.Equal(check, await follower.Joined);
        var again = verifier.JoinOrLead("jill", SupportUsersFile.JillPassword);
        Assert.Null(again.Joined); // the landed flight is over: the next check leads a new one
        other.Land(null);
        Assert.Equal(1, verifier.Flights);
        again.Land(null);
        Assert.Equal(0, verifier.Flights);
    }

    [Fact]
    public void NoFlight_ForUnknownNames_OrWithoutTheCache()
    {
        Assert.Null(CreateVerifier().JoinOrLead("nobody", "x").Joined);
        Assert.Equal(0, CreateVerifier().Flights);
        var uncached = CreateVerifier(new SupportCredentialOptions { VerificationCacheTtl = TimeSpan.Zero });
        uncached.JoinOrLead("jill", SupportUsersFile.JillPassword);
        Assert.Null(uncached.JoinOrLead("jill", SupportUsersFile.JillPassword).Joined);
        Assert.Equal(0, uncached.Flights);
    }

    [Theory]
    [InlineData("02:00:00", 10_000, "Support:Credentials:VerificationCacheTtl")]
    [InlineData("-00:00:01", 10_000, "Support:Credentials:VerificationCacheTtl")]
    [InlineData("00:05:00", -1, "Support:Credentials:VerificationCacheMaxEntries")]
    public void InvalidOptions_AreRefused_NamingTheKey(string ttl, int maxEntries, string key)
    {
        var options = new SupportCredentialOptions { VerificationCacheTtl = TimeSpan.Parse(ttl, System.Globalization.CultureInfo.InvariantCulture), VerificationCacheMaxEntries = maxEntries };

        var result = new SupportCredentialOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith(key, StringComparison.Ordinal));
    }

    [Fact]
    public void DefaultOptions_AreValid()
    {
        Assert.True(new SupportCredentialOptionsValidator().Validate(null, new SupportCredentialOptions()).Succeeded);
    }

    private SupportCredentialVerifier CreateVerifier(SupportCredentialOptions? options = null) =>
        new(_directory, _time, Options.Create(options ?? new SupportCredentialOptions()));
}
