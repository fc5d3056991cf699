using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Management;

/// <summary>
/// The signing keys of one issuer configured by OIDC discovery (<c>Authority</c> or
/// <c>MetadataAddress</c>), from its own <see cref="ConfigurationManager{T}"/>, as JwtBearer
/// keeps them for a single authority: cached, re-read every <c>AutomaticRefreshInterval</c>
/// in the background, and refreshed when a token names a <c>kid</c> the cache does not hold, at
/// most once per <c>RefreshInterval</c>.
/// </summary>
/// <remarks>
/// The one difference from JwtBearer's <c>RequestRefresh</c>: that refresh runs in the background,
/// so the token that revealed the rotation is refused and only later ones pass. Here a refresh
/// for an unknown <c>kid</c> reads the issuer's metadata into a new manager and waits for it, so
/// that token is judged against the new keys; the new manager takes over only if it succeeded,
/// otherwise the last good keys stay in force.
/// </remarks>
internal sealed partial class DiscoveryKeySource : IDisposable
{
    private readonly string _name;
    private readonly ManagementIssuerOptions _options;
    private readonly IDocumentRetriever _documents;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ConfigurationManager<OpenIdConnectConfiguration> _manager;
    private volatile bool _answered;
    private DateTimeOffset? _lastKeyRefresh;
    private DateTimeOffset _retryAfter = DateTimeOffset.MinValue;
    private TimeSpan _failureBackoff = InitialFailureBackoff;

    private static readonly TimeSpan InitialFailureBackoff = TimeSpan.FromSeconds(1);

    public DiscoveryKeySource(string name, ManagementIssuerOptions options, HttpClient http, TimeProvider time, ILogger logger)
    {
        _name = name;
        _options = options;
        MetadataAddress = options.DiscoveryDocumentAddress()!;
        _documents = new HttpDocumentRetriever(http) { RequireHttps = options.RequireHttpsMetadata };
        _time = time;
        _logger = logger;
        _manager = CreateManager();
    }

    public string MetadataAddress { get; }

    /// <summary>The keys to check a token with <paramref name="keyId"/> against: empty when the issuer's metadata cannot be had.</summary>
    public async Task<IReadOnlyCollection<SecurityKey>> GetSigningKeysAsync(string? keyId, CancellationToken cancellationToken)
    {
        var configuration = await GetConfigurationAsync(cancellationToken);
        if (configuration is null)
        {
            return [];
        }

        if (!string.IsNullOrEmpty(keyId) && !configuration.SigningKeys.Any(k => string.Equals(k.KeyId, keyId, StringComparison.Ordinal)))
        {
            configuration = await RefreshForUnknownKeyAsync(configuration, keyId, cancellationToken);
        }

        return [.. configuration.SigningKeys];
    }

    private async Task<OpenIdConnectConfiguration?> GetConfigurationAsync(CancellationToken cancellationToken)
    {
        if (_answered)
        {
            // Returns at once; past AutomaticRefreshInterval the manager re-reads in the background.
            return await Volatile.Read(ref _manager).GetConfigurationAsync(cancellationToken);
        }

        // Until the issuer has answered once, one caller fetches and the others wait for it; after a
        // failure, tokens of this issuer are refused at once for a growing while (1 s, doubling up to
        // RefreshInterval) instead of each waiting for its own fetch of an unreachable document.
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_answered)
            {
                return await _manager.GetConfigurationAsync(cancellationToken);
            }

            if (_time.GetUtcNow() < _retryAfter)
            {
                return null;
            }

            try
            {
                var configuration = await _manager.GetConfigurationAsync(CancellationToken.None);
                _failureBackoff = InitialFailureBackoff;
                _answered = true;
                LogKeysLoaded(_logger, _name, configuration.SigningKeys.Count, MetadataAddress);
                return configuration;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _retryAfter = _time.GetUtcNow() + _failureBackoff;
                LogMetadataUnavailable(_logger, _name, MetadataAddress, _failureBackoff, Describe(ex));
                _failureBackoff = TimeSpan.FromTicks(Math.Min(_failureBackoff.Ticks * 2, _options.RefreshInterval.Ticks));
                return null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<OpenIdConnectConfiguration> RefreshForUnknownKeyAsync(OpenIdConnectConfiguration seen, string keyId, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            // Another request (or the background refresh) got newer keys meanwhile: judge the token against those.
            var current = await _manager.GetConfigurationAsync(cancellationToken);
            if (!ReferenceEquals(current, seen))
            {
                return current;
            }

            // The first refresh may come at once, later ones RefreshInterval apart (as the
            // framework's RequestRefresh): a forged kid cannot make the gateway hammer the issuer.
            var now = _time.GetUtcNow();
            if (_lastKeyRefresh is { } last && now < last + _options.RefreshInterval)
            {
                LogRefreshSuppressed(_logger, _name, keyId);
                return seen;
            }

            _lastKeyRefresh = now;
            var fresh = CreateManager();
            try
            {
                var configuration = await fresh.GetConfigurationAsync(CancellationToken.None);
                Volatile.Write(ref _manager, fresh);
                LogKeysRefreshed(_logger, _name, keyId, configuration.SigningKeys.Count, MetadataAddress);
                return configuration;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogRefreshFailed(_logger, _name, MetadataAddress, Describe(ex));
                return seen;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private ConfigurationManager<OpenIdConnectConfiguration> CreateManager() =>
        new(MetadataAddress, new OpenIdConnectConfigurationRetriever(), _documents, new DiscoveryDocumentValidator(_name, _options.Issuer, _logger))
        {
            AutomaticRefreshInterval = _options.AutomaticRefreshInterval,
            RefreshInterval = _options.RefreshInterval,
        };

    /// <summary>The innermost message: IdentityModel wraps the real cause (a refused connection, a 404) in IDX envelopes.</summary>
    private static string Describe(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex.Message;
    }

    public void Dispose() => _gate.Dispose();

    [LoggerMessage(EventId = 1400, Level = LogLevel.Information, Message = "Management issuer {Name}: {KeyCount} signing keys from {MetadataAddress}")]
    private static partial void LogKeysLoaded(ILogger logger, string name, int keyCount, string metadataAddress);

    [LoggerMessage(EventId = 1401, Level = LogLevel.Information, Message = "Management issuer {Name}: a token named unknown kid '{KeyId}'; re-read {KeyCount} signing keys from {MetadataAddress}")]
    private static partial void LogKeysRefreshed(ILogger logger, string name, string keyId, int keyCount, string metadataAddress);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "Management issuer {Name}: metadata at {MetadataAddress} unavailable, its tokens are refused; next attempt in {Backoff}: {Reason}")]
    private static partial void LogMetadataUnavailable(ILogger logger, string name, string metadataAddress, TimeSpan backoff, string reason);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Warning, Message = "Management issuer {Name}: refreshing the keys from {MetadataAddress} failed; the last good keys stay in force: {Reason}")]
    private static partial void LogRefreshFailed(ILogger logger, string name, string metadataAddress, string reason);

    [LoggerMessage(EventId = 1404, Level = LogLevel.Debug, Message = "Management issuer {Name}: unknown kid '{KeyId}', keys were refreshed less than RefreshInterval ago; not refreshing again")]
    private static partial void LogRefreshSuppressed(ILogger logger, string name, string keyId);

    [LoggerMessage(EventId = 1405, Level = LogLevel.Warning, Message = "Management issuer {Name}: metadata refused, its keys are not used: {Reason}")]
    internal static partial void LogDocumentRefused(ILogger logger, string name, string reason);
}

/// <summary>
/// A discovery document is used only if it names the configured issuer and publishes at least
/// one signing key: a document that names another issuer (a misconfigured or hijacked address)
/// must not lend its keys to this issuer's tokens.
/// </summary>
internal sealed class DiscoveryDocumentValidator(string name, string issuer, ILogger logger) : IConfigurationValidator<OpenIdConnectConfiguration>
{
    public ConfigurationValidationResult Validate(OpenIdConnectConfiguration configuration)
    {
        var problem = !string.Equals(configuration.Issuer, issuer, StringComparison.Ordinal)
            ? $"the discovery document names issuer '{configuration.Issuer}', not the configured '{issuer}'."
            : configuration.SigningKeys.Count == 0 ? "its JWKS holds no usable signing key." : null;
        if (problem is null)
        {
            return new ConfigurationValidationResult { Succeeded = true };
        }

        // Logged here: IdentityModel hides the message it wraps this in as possible PII.
        DiscoveryKeySource.LogDocumentRefused(logger, name, problem);
        return new ConfigurationValidationResult { Succeeded = false, ErrorMessage = problem };
    }
}
