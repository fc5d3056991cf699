using System.Globalization;
using Gateway.Tenancy;
using Microsoft.Extensions.Options;

namespace Gateway.Pages.Ui;

/// <summary>Times on the pages: in the tenant's configured zone, and in UTC beside it.</summary>
internal static class PageTime
{
    public static TimeZoneInfo Zone(IServiceProvider services, string? tenant)
    {
        var zoneId = tenant is not null && services.GetRequiredService<IOptions<TenancyOptions>>().Value.Tenants.TryGetValue(tenant, out var options)
            ? options.TimeZone
            : "UTC";
        return TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out var zone) ? zone : TimeZoneInfo.Utc;
    }

    public static string Format(IServiceProvider services, string? tenant, DateTimeOffset at)
    {
        var zone = Zone(services, tenant);
        var utc = at.ToUniversalTime();
        if (zone == TimeZoneInfo.Utc || zone.Id == "UTC" || zone.Id == "Etc/UTC")
        {
            return utc.ToString("ddd d MMM yyyy, HH:mm", CultureInfo.InvariantCulture) + " UTC";
        }

        var local = TimeZoneInfo.ConvertTime(at, zone);
        return local.ToString("ddd d MMM yyyy, HH:mm", CultureInfo.InvariantCulture) + $" ({zone.Id}) · " + utc.ToString("HH:mm", CultureInfo.InvariantCulture) + " UTC";
    }
}
