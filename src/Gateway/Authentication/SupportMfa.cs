using Gateway.Grants;
using Microsoft.Extensions.Options;
using OtpNet;

namespace Gateway.Authentication;

/// <summary>What checking a support user's second factor found.</summary>
internal enum MfaCheck
{
    /// <summary>Neither the platform nor the user asks for a code.</summary>
    NotRequired,

    /// <summary>The code is right and was not used before (now it is).</summary>
    Valid,

    /// <summary>A code is needed and none was given.</summary>
    Missing,

    /// <summary><c>Support:RequireMfa</c> is on, but the user has no authenticator enrolled.</summary>
    NotEnrolled,

    /// <summary>Wrong, malformed, outside the allowed clock skew, or already used (replay).</summary>
    Invalid,

    /// <summary>The user's stored secret does not decrypt with <c>Secrets:EncryptionKey</c>.</summary>
    Unreadable,

    /// <summary>The grant store (which records used codes) could not answer: fail closed.</summary>
    StoreUnavailable,
}

/// <summary>
/// TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps) for support users. The secret is stored
/// encrypted (<see cref="SecretProtector"/>); time comes from the injected <see cref="TimeProvider"/>;
/// one step of clock skew either way is accepted. A code is single-use: the (user, time step) it
/// matched is recorded in the grant store, which every instance shares, until the step can no longer
/// be accepted anywhere, so a code seen once (over a shoulder, in a proxy log) is refused on every instance.
/// </summary>
internal sealed partial class SupportMfa(
    SecretProtector protector,
    IGrantStore store,
    IOptions<SupportOptions> options,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<SupportMfa> logger)
{
    public const int StepSeconds = 30;
    public const int Digits = 6;

    /// <summary>Steps accepted before and after the current one (clock skew between phone and gateway).</summary>
    public const int AllowedSkewSteps = 1;

    /// <summary><c>Support:RequireMfa</c>, defaulting to <c>Gateway:Production</c>.</summary>
    public bool RequiredForAll { get; } = options.Value.RequireMfa ?? configuration.GetValue<bool>("Gateway:Production");

    public bool IsRequiredFor(SupportUser user) => RequiredForAll || user.TotpSecret is not null;

    /// <summary>The associated data that binds an encrypted TOTP secret to its user.</summary>
    public static string Purpose(string supportUser) => "totp:" + supportUser.ToLowerInvariant();

    /// <summary>Checks <paramref name="code"/> for <paramref name="user"/>, and records it as used when it is valid.</summary>
    public async Task<MfaCheck> VerifyAsync(SupportUser user, string? code, CancellationToken cancellationToken)
    {
        if (!IsRequiredFor(user))
        {
            return MfaCheck.NotRequired;
        }

        if (user.TotpSecret is null)
        {
            return MfaCheck.NotEnrolled;
        }

        var normalized = Normalize(code);
        if (normalized is null)
        {
            return string.IsNullOrWhiteSpace(code) ? MfaCheck.Missing : MfaCheck.Invalid;
        }

        var secret = protector.Unprotect(user.TotpSecret, Purpose(user.Name));
        if (secret is null)
        {
            LogUnreadableSecret(logger, user.Name);
            return MfaCheck.Unreadable;
        }

        var totp = new Totp(secret, StepSeconds, OtpHashMode.Sha1, Digits);
        if (!totp.VerifyTotp(time.GetUtcNow().UtcDateTime, normalized, out var step, new VerificationWindow(AllowedSkewSteps, AllowedSkewSteps)))
        {
            return MfaCheck.Invalid;
        }

        // The step can be accepted until the end of step + 1 + skew; keep the record one step longer
        // for instances whose clocks are a little behind.
        var until = DateTimeOffset.FromUnixTimeSeconds((step + AllowedSkewSteps + 2) * StepSeconds);
        try
        {
            return await store.TryUseOneTimeCodeAsync(user.Name, step, until, cancellationToken) ? MfaCheck.Valid : MfaCheck.Invalid;
        }
        catch (GrantStoreUnavailableException)
        {
            return MfaCheck.StoreUnavailable;
        }
    }

    /// <summary>Six ASCII digits, spaces and dashes allowed between them ("123 456"); anything else is no code.</summary>
    internal static string? Normalize(string? code)
    {
        if (string.IsNullOrWhiteSpace(code) || code.Length > 16)
        {
            return null;
        }

        Span<char> digits = stackalloc char[Digits];
        var count = 0;
        foreach (var c in code)
        {
            if (c is ' ' or '-')
            {
                continue;
            }

            if (!char.IsAsciiDigit(c) || count == Digits)
            {
                return null;
            }

            digits[count++] = c;
        }

        return count == Digits ? new string(digits) : null;
    }

    [LoggerMessage(EventId = 1615, Level = LogLevel.Error, Message = "The TOTP secret of support user {SupportUser} cannot be decrypted with Secrets:EncryptionKey (another key, or an edited value); enrol the user again")]
    private static partial void LogUnreadableSecret(ILogger logger, string supportUser);
}
