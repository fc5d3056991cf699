using Microsoft.Extensions.Options;

namespace Gateway.Sessions;

/// <summary>Support-session records (section <c>Sessions</c>).</summary>
internal sealed class SessionsOptions
{
    public const string SectionName = "Sessions";

    /// <summary>A session with no request for this long ends (reason <c>idle</c>); for HTTP Basic it is what makes consecutive requests one session.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>How often each instance adds what its sessions did to their records (at most this much is lost with an instance).</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often sessions past their idle timeout or token expiry are ended.</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Allowed writes recorded one by one per session (the count goes on).</summary>
    public int MaxRecordedWrites { get; init; } = 500;

    /// <summary>Distinct routes counted per session.</summary>
    public int MaxRoutes { get; init; } = 50;

    /// <summary>Distinct client addresses recorded per session.</summary>
    public int MaxClientAddresses { get; init; } = 10;
}

internal sealed class SessionsOptionsValidator : IValidateOptions<SessionsOptions>
{
    public ValidateOptionsResult Validate(string? name, SessionsOptions o)
    {
        var failures = new List<string>();
        if (o.IdleTimeout < TimeSpan.FromMinutes(1) || o.IdleTimeout > TimeSpan.FromDays(1))
        {
            failures.Add("Sessions:IdleTimeout: from 00:01:00 to 1.00:00:00.");
        }

        if (o.FlushInterval <= TimeSpan.Zero || o.FlushInterval > TimeSpan.FromSeconds(2))
        {
            failures.Add("Sessions:FlushInterval: more than zero, at most 00:00:02.");
        }

        if (o.SweepInterval <= TimeSpan.Zero || o.SweepInterval > TimeSpan.FromMinutes(5))
        {
            failures.Add("Sessions:SweepInterval: more than zero, at most 00:05:00.");
        }

        if (o.MaxRecordedWrites is < 1 or > 100_000 || o.MaxRoutes is < 1 or > 1000 || o.MaxClientAddresses is < 1 or > 100)
        {
            failures.Add("Sessions:MaxRecordedWrites (1–100000), MaxRoutes (1–1000), MaxClientAddresses (1–100): out of range.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
