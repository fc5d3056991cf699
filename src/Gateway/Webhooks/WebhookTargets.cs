using System.Net;
using System.Net.Sockets;
using Gateway.Problems;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

/// <summary>
/// Where webhooks may be sent. In production (<c>Gateway:Production</c>) a target must be https
/// (unless <see cref="WebhooksOptions.AllowHttp"/>) and must not be an address inside anyone's
/// network — loopback, private, link-local, unique-local, unspecified and the like — unless
/// <see cref="WebhooksOptions.AllowPrivateTargets"/> or <see cref="WebhooksOptions.AllowedPrivateNetworks"/>
/// says so. The rule is applied twice: at registration (to the URL's literal address or what its
/// host name resolves to then) and at every connect, to the very address the socket connects to
/// (<see cref="ConnectAsync"/>), so a name that later resolves elsewhere (DNS rebinding) gains nothing.
/// Outside production every target is allowed: the demo and the tests deliver to loopback.
/// </summary>
internal sealed class WebhookTargets
{
    public const int MaxUrlLength = 2048;

    /// <summary>How long a registration waits for the target's name to resolve.</summary>
    private static readonly TimeSpan RegistrationLookupTimeout = TimeSpan.FromSeconds(2);

    private readonly bool _restricted;
    private readonly bool _httpsOnly;
    private readonly IReadOnlyList<IPNetwork> _allowedNetworks;

    public WebhookTargets(IOptions<WebhooksOptions> options, IConfiguration configuration)
        : this(options.Value, configuration.GetValue<bool>("Gateway:Production"))
    {
    }

    public WebhookTargets(WebhooksOptions options, bool production)
    {
        _restricted = production && !options.AllowPrivateTargets;
        _httpsOnly = production && !options.AllowHttp;
        _allowedNetworks = options.AllowedNetworks();
    }

    /// <summary>
    /// Checks a URL given at registration: absolute http(s), no user info or fragment, https in
    /// production, and (in production) a host that is not, and does not now resolve to, a refused
    /// address. The problem to answer with, or null when the URL is acceptable.
    /// </summary>
    public async Task<(ProblemCode Code, string Detail)?> CheckRegistrationAsync(string? url, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(url) || url.Length > MaxUrlLength
            || !Uri.TryCreate(url, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
            || string.IsNullOrEmpty(uri.Host)
            || uri.UserInfo.Length > 0
            || uri.Fragment.Length > 0
            || url.Any(char.IsControl))
        {
            return (ProblemCode.WebhookInvalidUrl, $"url: an absolute http or https URL of at most {MaxUrlLength} characters, without user name, password or fragment.");
        }

        if (_httpsOnly && uri.Scheme != Uri.UriSchemeHttps)
        {
            return (ProblemCode.WebhookHttpsRequired, "url: must be https (Webhooks:AllowHttp is off).");
        }

        if (!_restricted)
        {
            return null;
        }

        if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var literal))
        {
            return IsAllowed(literal) ? null : (ProblemCode.WebhookTargetForbidden, $"url: {literal} is {Describe(literal)}; such targets are refused.");
        }

        IPAddress[] addresses;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(RegistrationLookupTimeout);
            addresses = await Dns.GetHostAddressesAsync(uri.IdnHost, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // A name that does not resolve yet refuses nothing; every connect is checked anyway.
            return null;
        }

        var refused = addresses.FirstOrDefault(a => !IsAllowed(a));
        return refused is null ? null : (ProblemCode.WebhookTargetForbidden, $"url: {uri.IdnHost} resolves to {refused}, {Describe(refused)}; such targets are refused.");
    }

    /// <summary>Whether the gateway may connect to <paramref name="address"/>.</summary>
    public bool IsAllowed(IPAddress address)
    {
        if (!_restricted)
        {
            return true;
        }

        var plain = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        return Describe(plain) is null || _allowedNetworks.Any(n => n.Contains(plain));
    }

    /// <summary>
    /// <see cref="SocketsHttpHandler.ConnectCallback"/>: resolves the host, and connects to the
    /// first address that is allowed, trying them in order. When every address is refused nothing
    /// is connected and the attempt fails with <see cref="WebhookTargetRefusedException"/>.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var allowed = addresses.Where(IsAllowed).ToList();
        if (allowed.Count == 0)
        {
            throw new WebhookTargetRefusedException(
                $"{host} resolved to {string.Join(", ", addresses.Select(a => a.ToString()))}: {(addresses.Length == 0 ? "no address" : Describe(addresses[0]))}; refused in production");
        }

        Exception? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last!;
    }

    /// <summary>What kind of non-public address this is, or null for an ordinary public address.</summary>
    internal static string? Describe(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address))
        {
            return "a loopback address";
        }

        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.None))
        {
            return "an unspecified address";
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] switch
            {
                0 => "a 'this network' address",
                10 => "a private address",
                100 when b[1] is >= 64 and <= 127 => "a shared (carrier-grade NAT) address",
                169 when b[1] == 254 => "a link-local address",
                172 when b[1] is >= 16 and <= 31 => "a private address",
                192 when b[1] == 168 => "a private address",
                192 when b[1] == 0 && b[2] == 0 => "an IETF protocol address",
                198 when b[1] is 18 or 19 => "a benchmarking address",
                >= 224 => "a multicast or reserved address",
                _ => null,
            };
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            if (address.IsIPv6LinkLocal || address.IsIPv6SiteLocal)
            {
                return "a link-local address";
            }

            if (address.IsIPv6UniqueLocal)
            {
                return "a unique-local address";
            }

            if (address.IsIPv6Multicast)
            {
                return "a multicast address";
            }

            // ::a.b.c.d (IPv4-compatible, deprecated) and 64:ff9b::/96 (NAT64) reach IPv4 addresses: judge those.
            if (b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0
                || (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0))
            {
                return Describe(new IPAddress(b.AsSpan(12, 4)));
            }
        }

        return null;
    }
}

/// <summary>A webhook attempt that connected nowhere: every address of its target is refused.</summary>
internal sealed class WebhookTargetRefusedException(string message) : IOException(message);
