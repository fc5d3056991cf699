using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Serialization;

namespace Gateway.Sessions;

/// <summary>A support session as the management API shows it.</summary>
internal sealed record SessionView(
    string Id,
    string Tenant,
    string Status,
    string SupportUser,
    string TargetUser,
    string Credential,
    DateTimeOffset StartedAt,
    DateTimeOffset LastActivityAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? EndedAt,
    string? EndReason,
    string? EndedBy,
    string? Isolation,
    IReadOnlyList<string>? Scope,
    IReadOnlyList<string> AdmittedUnder,
    IReadOnlyList<string> ClientAddresses,
    string? UserAgent,
    long Calls,
    long Writes,
    long RequestBytes,
    long ResponseBytes,
    IReadOnlyDictionary<string, long> Denials,
    IReadOnlyDictionary<string, long> Routes,
    DateTimeOffset? FirstWriteAt)
{
    public static SessionView From(SupportSessionRecord r) => new(
        r.Id, r.Tenant, r.IsActive ? "active" : "ended", r.SupportUser, r.TargetUser, r.Credential, r.StartedAt, r.LastActivityAt,
        r.ExpiresAt, r.End?.At, r.End?.Reason, r.End?.By, r.Isolation, r.Scope, r.AdmittedUnder, r.ClientAddresses, r.UserAgent,
        r.Calls, r.Writes, r.RequestBytes, r.ResponseBytes, r.Denials, r.Routes, r.FirstWriteAt);
}

internal sealed record SessionListView(IReadOnlyList<SessionView> Sessions, string? NextCursor);

/// <summary>One session with every allowed write it recorded and a page of its calls from the audit.</summary>
internal sealed record SessionDetailView(
    SessionView Session,
    IReadOnlyList<SessionWrite> RecordedWrites,
    bool WritesTruncated,
    SessionCallPage? Calls,
    string? CallsUnavailable);

internal sealed record SessionEndedView(string Id, string Tenant, string Status, string? EndReason, bool Pending);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(SessionListView))]
[JsonSerializable(typeof(SessionDetailView))]
[JsonSerializable(typeof(SessionEndedView))]
[JsonSerializable(typeof(SessionReport))]
internal sealed partial class SessionsJsonContext : JsonSerializerContext;

/// <summary>The post-session report as plain text (e-mail) and as an HTML fragment (pages, e-mail).</summary>
internal static class SessionReportText
{
    public static string Text(SessionReport r)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Support session {r.SessionId} in tenant {r.Tenant}");
        text.AppendLine(CultureInfo.InvariantCulture, $"Support user: {r.SupportUser}, acting as: {r.TargetUser}");
        text.AppendLine(CultureInfo.InvariantCulture, $"From {Time(r.StartedAt)} to {Time(r.EndedAt)} ({Duration(r.Duration)}), ended: {r.EndReason}");
        text.AppendLine(CultureInfo.InvariantCulture, $"Calls: {r.Calls}, allowed writes: {r.Writes}");
        text.AppendLine();
        text.AppendLine(r.AllowedWrites.Count == 0 ? "No allowed writes." : "Allowed writes:");
        foreach (var w in r.AllowedWrites)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {Time(w.At)}  {w.Method} {w.Path} -> {w.Status}");
        }

        if (r.WritesTruncated)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  ... {r.Writes - r.AllowedWrites.Count} more writes (the full list is in the audit trail)");
        }

        text.AppendLine();
        text.AppendLine(r.Denials.Count == 0 ? "No denied calls." : "Denied calls:");
        foreach (var (code, count) in r.Denials.OrderByDescending(d => d.Value))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {code}: {count}");
        }

        text.AppendLine();
        text.AppendLine(r.RoutesTouched.Count == 0 ? "No routes touched." : "Routes touched:");
        foreach (var (route, count) in r.RoutesTouched.OrderByDescending(d => d.Value))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {route}: {count}");
        }

        return text.ToString();
    }

    /// <summary>A self-contained HTML document; every value is encoded.</summary>
    public static string Html(SessionReport r)
    {
        static string E(string? value) => WebUtility.HtmlEncode(value ?? "");
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Support session report</title></head><body>");
        html.Append(CultureInfo.InvariantCulture, $"<h1>Support session {E(r.SessionId)}</h1>");
        html.Append("<dl>");
        html.Append(CultureInfo.InvariantCulture, $"<dt>Tenant</dt><dd>{E(r.Tenant)}</dd>");
        html.Append(CultureInfo.InvariantCulture, $"<dt>Support user</dt><dd>{E(r.SupportUser)}</dd>");
        html.Append(CultureInfo.InvariantCulture, $"<dt>Acting as</dt><dd>{E(r.TargetUser)}</dd>");
        html.Append(CultureInfo.InvariantCulture, $"<dt>Started</dt><dd><time datetime=\"{E(r.StartedAt.ToString("O", CultureInfo.InvariantCulture))}\">{E(Time(r.StartedAt))}</time></dd>");
        html.Append(CultureInfo.InvariantCulture, $"<dt>Ended</dt><dd><time datetime=\"{E(r.EndedAt.ToString("O", CultureInfo.InvariantCulture))}\">{E(Time(r.EndedAt))}</time> ({E(r.EndReason)})</dd>");
        html.Append(CultureInfo.InvariantCulture, $"<dt>Duration</dt><dd>{E(Duration(r.Duration))}</dd>");
        html.Append(CultureInfo.InvariantCulture, $"<dt>Calls</dt><dd>{r.Calls}</dd><dt>Allowed writes</dt><dd>{r.Writes}</dd>");
        html.Append("</dl>");
        html.Append("<h2>Allowed writes</h2>");
        if (r.AllowedWrites.Count == 0)
        {
            html.Append("<p>None.</p>");
        }
        else
        {
            html.Append("<table><thead><tr><th>Time</th><th>Method</th><th>Path</th><th>Status</th></tr></thead><tbody>");
            foreach (var w in r.AllowedWrites)
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(Time(w.At))}</td><td>{E(w.Method)}</td><td>{E(w.Path)}</td><td>{w.Status}</td></tr>");
            }

            html.Append("</tbody></table>");
            if (r.WritesTruncated)
            {
                html.Append(CultureInfo.InvariantCulture, $"<p>… and {r.Writes - r.AllowedWrites.Count} more (the full list is in the audit trail).</p>");
            }
        }

        Counts(html, "Denied calls", r.Denials, E);
        Counts(html, "Routes touched", r.RoutesTouched, E);
        html.Append("</body></html>");
        return html.ToString();
    }

    private static void Counts(StringBuilder html, string title, IReadOnlyDictionary<string, long> counts, Func<string?, string> encode)
    {
        html.Append(CultureInfo.InvariantCulture, $"<h2>{title}</h2>");
        if (counts.Count == 0)
        {
            html.Append("<p>None.</p>");
            return;
        }

        html.Append("<ul>");
        foreach (var (key, count) in counts.OrderByDescending(c => c.Value))
        {
            html.Append(CultureInfo.InvariantCulture, $"<li>{encode(key)}: {count}</li>");
        }

        html.Append("</ul>");
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private static string Duration(TimeSpan d) =>
        d.TotalHours >= 1 ? $"{(int)d.TotalHours} h {d.Minutes} min" : d.TotalMinutes >= 1 ? $"{(int)d.TotalMinutes} min {d.Seconds} s" : $"{d.Seconds} s";
}
