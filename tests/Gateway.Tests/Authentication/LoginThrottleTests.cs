using System.Net;
using Gateway.Authentication;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static Gateway.Tests.Infrastructure.SupportClient;

namespace Gateway.Tests.Authentication;

/// <summary>Failed support logins are throttled per support user and per client address (429 with Retry-After).</summary>
public sealed class LoginThrottleTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        _env = await new TestEnvironment
        {
            Backends = TestBackends.Shared,
            ExtraArgs = ["--Support:FailedLoginsPerUserAndClient=3", "--Support:FailedLoginsPerClient=5", "--Support:FailedLoginWindow=00:10:00"],
        }.StartAsync();
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await _env.Api.TokenAsync("john", "tenant-user", "acme"), new { }, 201);
    }

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task FailedLogins_PerUser_Get429_EvenWithTheRightPasswordAfterwards()
    {
        using var client = _env.Gateway.Client();
        for (var i = 0; i < 3; i++)
        {
            using var wrong = await GetAsync(client, "/api/echo/x", Basic("jill$john", "guess-" + i));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var blocked = await GetAsync(client, "/api/echo/x", Basic("jill$john", JillPassword));
        Assert.Equal("support.login.rate_limited", await ManagementClient.ProblemCodeAsync(blocked, 429));
        Assert.True(blocked.Headers.RetryAfter?.Delta > TimeSpan.Zero);

        using var viaLogin = await client.PostAsync("/_gateway/support/login", new StringContent($$"""{"username":"jill$john","password":"{{JillPassword}}"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal("support.login.rate_limited", await ManagementClient.ProblemCodeAsync(viaLogin, 429));

        // Another support user from the same address still gets through (its own budget; the client's is not spent yet).
        using var sam = await GetAsync(client, "/api/echo/x", Basic("sam$john", SamPassword));
        Assert.Equal("support.not_permitted", await ManagementClient.ProblemCodeAsync(sam, 403));
    }

    [Fact]
    public async Task FailedLogins_PerClient_Get429_AcrossUserNames()
    {
        using var client = _env.Gateway.Client();
        for (var i = 0; i < 5; i++)
        {
            using var wrong = await GetAsync(client, "/api/echo/x", Basic($"user{i}$john", "guess"));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var blocked = await GetAsync(client, "/api/echo/x", Basic("sam$john", SamPassword));
        Assert.Equal("support.login.rate_limited", await ManagementClient.ProblemCodeAsync(blocked, 429));
    }

    [Fact]
    public async Task CredentialsOfACachedSuccess_AreNeverThrottled()
    {
        using var client = _env.Gateway.Client();
        await EchoAsync(client, Basic("jill$john", JillPassword)); // verified and cached
        for (var i = 0; i < 3; i++)
        {
            using var wrong = await GetAsync(client, "/api/echo/x", Basic("jill$john", "guess-" + i));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var guessing = await GetAsync(client, "/api/echo/x", Basic("jill$john", "one-more-guess"));
        Assert.Equal("support.login.rate_limited", await ManagementClient.ProblemCodeAsync(guessing, 429));

        // jill's own session (credentials that verified before) goes on undisturbed.
        var echo = await EchoAsync(client, Basic("jill$john", JillPassword));
        Assert.Equal("jill", Header(echo, "X-Gateway-Support-User"));
    }
}

/// <summary>Password checks are CPU-bound: beyond the configured number at once, an attempt is answered 429 at once.</summary>
public sealed class PasswordCheckCapTests : IAsyncLifetime
{
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment
    {
        Backends = TestBackends.Shared,
        ExtraArgs = ["--Support:MaxConcurrentPasswordChecks=1", "--Support:FailedLoginsPerClient=1000"],
    }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task ConcurrentPasswordChecks_BeyondTheCap_Get429AtOnce()
    {
        // Each name is unknown, so each costs a full PBKDF2 (as a known one would): eight at once.
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var client = _env.Gateway.Client();
            using var response = await GetAsync(client, "/api/echo/x", Basic($"flood{i}$john", "guess"));
            return (Status: response.StatusCode, Code: await ManagementClient.ProblemCodeAsync(response), RetryAfter: response.Headers.RetryAfter?.Delta);
        }));

        Assert.Contains(answers, a => a.Status == HttpStatusCode.TooManyRequests && a.Code == "support.login.busy" && a.RetryAfter > TimeSpan.Zero);
        Assert.Contains(answers, a => a.Code == "support.login.invalid");
    }

    [Fact]
    public async Task PasswordChecks_RunOnThreadsOfTheLowestPriority()
    {
        // A check has run, so the pool's thread is up (and has lowered its own priority first).
        using (var client = _env.Gateway.Client())
        using (var wrong = await GetAsync(client, "/api/echo/x", Basic("nobody$john", "guess")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        // Linux keeps a nice value and a scheduling policy per thread: fields 19 and 41 of
        // /proc/self/task/TID/stat (counted after the name in parentheses, which is field 2).
        // Other threads of the test process come and go while the list is read: a vanished one is skipped.
        static string? Read(string path)
        {
            try
            {
                return File.ReadAllText(path);
            }
            catch (IOException)
            {
                return null;
            }
        }

        var checks = Directory.EnumerateDirectories("/proc/self/task")
            .Where(task => Read(Path.Combine(task, "comm"))?.Trim().StartsWith("password-check", StringComparison.Ordinal) == true)
            .Select(task => Read(Path.Combine(task, "stat")))
            .OfType<string>()
            .Select(stat => stat[(stat.LastIndexOf(')') + 2)..].Split(' '))
            .Select(fields => (Nice: int.Parse(fields[19 - 3], System.Globalization.CultureInfo.InvariantCulture), Policy: int.Parse(fields[41 - 3], System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();
        Assert.NotEmpty(checks);
        const int schedIdle = 5;
        Assert.All(checks, c => Assert.Equal((19, schedIdle), c));
    }
}

/// <summary>
/// Failed logins are logged at most once per interval, with the count of those left out, on the
/// gateway's clock (a fake one here: ten PBKDF2 checks on a loaded machine once outlasted the
/// real interval).
/// </summary>
public sealed class FailedLoginLogTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private TestEnvironment _env = null!;

    public async Task InitializeAsync() => _env = await new TestEnvironment
    {
        Clock = _clock,
        Backends = TestBackends.Shared,
        ExtraArgs = ["--Support:FailedLoginsPerClient=1000", "--Support:FailedLoginsPerUserAndClient=1000"],
    }.StartAsync();

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task FailedLogins_AreLoggedOncePerInterval_WithACount()
    {
        using var client = _env.Gateway.Client();
        for (var i = 0; i < 10; i++)
        {
            using var wrong = await GetAsync(client, "/api/echo/x", Basic($"nobody{i}$john", "guess"));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        // An attacker's flood must not rotate the operational logs away; the audit keeps every failure.
        Assert.Single(_env.Gateway.Logs.Entries, e => e.EventId.Id == 1610);

        _clock.Advance(Gateway.Hosting.LogRateLimit.Interval);
        using (var wrong = await GetAsync(client, "/api/echo/x", Basic("nobody10$john", "guess")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        var lines = _env.Gateway.Logs.Entries.Where(e => e.EventId.Id == 1610).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains("(9 more failures since the last such line)", lines[1].Message, StringComparison.Ordinal);
    }
}

/// <summary>
/// When a session's cached verification lapses while its calls keep coming, one of them checks the
/// password again and the others wait for that answer: none is refused as "busy", and PBKDF2 runs once.
/// </summary>
public sealed class PasswordCheckFlightTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.Parse("2026-03-10T09:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private TestEnvironment _env = null!;

    public async Task InitializeAsync()
    {
        _env = await new TestEnvironment
        {
            Clock = _clock,
            Backends = TestBackends.Shared,
            ExtraArgs = ["--Support:MaxConcurrentPasswordChecks=1"],
        }.StartAsync();
        await _env.Api.JsonAsync(HttpMethod.Post, "/_gateway/tenants/acme/support/grants", await _env.Api.TokenAsync("john", "tenant-user", "acme"), new { durationHours = 1 }, 201);
    }

    public async Task DisposeAsync() => await _env.DisposeAsync();

    [Fact]
    public async Task ABusySession_WhoseCachedVerificationLapses_IsNotRefused_AndHashesOnce()
    {
        var verifier = _env.Gateway.Services.GetRequiredService<SupportCredentialVerifier>();
        using (var client = _env.Gateway.Client())
        {
            await EchoAsync(client, Basic("jill$john", JillPassword)); // verified and cached
        }

        _clock.Advance(TimeSpan.FromMinutes(5)); // the cached success lapses (Support:Credentials:VerificationCacheTtl)
        var before = verifier.HashComputations;

        // Eight calls of the session at once; each check takes a full PBKDF2 (600,000 iterations), and only one may run.
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            using var client = _env.Gateway.Client();
            using var response = await GetAsync(client, "/api/echo/x", Basic("jill$john", JillPassword));
            return response.StatusCode == HttpStatusCode.OK ? "200" : $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}";
        }));

        Assert.All(answers, a => Assert.Equal("200", a));
        Assert.Equal(before + 1, verifier.HashComputations);
        Assert.Equal(0, verifier.Flights);
    }

    [Theory]
    [InlineData("jill$john")]   // a support user, a wrong password
    [InlineData("nobody$john")] // no such support user
    public async Task TheSameGuessAtOnce_IsAnsweredAlike_WhetherTheNameExistsOrNot(string login)
    {
        // Were only known names to share one check, the unknown name's second guess would find the
        // one slot taken (429 busy): two identical guesses would tell which support users exist.
        var verifier = _env.Gateway.Services.GetRequiredService<SupportCredentialVerifier>();
        var before = verifier.HashComputations;

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            using var client = _env.Gateway.Client();
            using var response = await GetAsync(client, "/api/echo/x", Basic(login, "the-same-wrong-guess"));
            return (int)response.StatusCode;
        }));

        Assert.All(answers, status => Assert.Equal(401, status));
        Assert.Equal(before + 1, verifier.HashComputations);
        Assert.Equal(0, verifier.Flights);
    }
}
