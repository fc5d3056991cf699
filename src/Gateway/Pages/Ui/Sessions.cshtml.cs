using Gateway.Auditing;
using Gateway.Management;
using Gateway.Sessions;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Pages.Ui;

/// <summary>Words for a session's end reason.</summary>
internal static class SessionWords
{
    public static string End(SessionView s) => s.EndReason switch
    {
        null => "live",
        SessionEndReasons.Logout => "signed out",
        SessionEndReasons.Expired => "expired",
        SessionEndReasons.Idle => "idle",
        SessionEndReasons.EndedByAdmin => s.EndedBy is null ? "ended by an admin" : $"ended by {s.EndedBy}",
        SessionEndReasons.GrantsEnded => "support access ended",
        SessionEndReasons.CredentialsChanged => "credentials changed",
        var other => other,
    };

    public static long Denials(SessionView s) => s.Denials.Values.Sum();
}

/// <summary>
/// <c>/_gateway/ui/sessions</c> (tenant admins): the tenant's support sessions, newest first, as the
/// session list endpoint reads them from <see cref="ISessionStore"/>. The list refreshes itself
/// every 5 s (<c>live-refresh.js</c>).
/// </summary>
internal sealed class SessionsModel(ISessionStore store) : UiPageModel
{
    public IReadOnlyList<SessionView>? Sessions { get; private set; }

    public async Task<IActionResult> OnGetAsync()
    {
        if (await AdmitAsync(ManagementAccessRequirement.TenantAdmin) is { } refused)
        {
            return refused;
        }

        var page = await TryStoreAsync(ct => store.ListAsync(new SessionQuery(Tenant, false, null, null, null, null, SessionEndpoints.DefaultLimit), ct));
        Sessions = page is null ? null : [.. page.Sessions.Select(SessionView.From)];
        return Page();
    }
}

/// <summary>
/// <c>/_gateway/ui/sessions/{id}</c> (tenant admins): one session with its calls from the audit, and
/// "End session now" for a live one, through the same code as <c>DELETE …/sessions/{id}</c>.
/// </summary>
internal sealed class SessionModel(ISessionStore store, ISessionCallSource calls, SessionTracker sessions, IAuditSink audit, TimeProvider time) : UiPageModel
{
    public const int CallsShown = 200;

    public SessionView? Session { get; private set; }

    public SessionCallPage? Calls { get; private set; }

    public string? CallsUnavailable { get; private set; }

    public async Task<IActionResult> OnGetAsync(string id, string? done)
    {
        if (await AdmitAsync(ManagementAccessRequirement.TenantAdmin) is { } refused)
        {
            return refused;
        }

        Done = done switch
        {
            "ended" => "The session is ended: the support engineer's next request is refused.",
            "pending" => "The session is refused on this gateway now; the store records the end as soon as it answers.",
            _ => null,
        };
        return await LoadAsync(id);
    }

    public async Task<IActionResult> OnPostEndAsync(string id)
    {
        if (await AdmitAsync(ManagementAccessRequirement.TenantAdmin) is { } refused)
        {
            return refused;
        }

        if (!await ValidFormAsync())
        {
            var page = await LoadAsync(id);
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return page;
        }

        var result = await SessionEndpoints.EndNowAsync(Tenant!, id, Caller, store, sessions, audit, time, HttpContext.RequestAborted);
        return result == SessionEndNow.NotFound
            ? NotFoundPage()
            : SeeOther($"{PageSignIn.BasePath}/sessions/{Uri.EscapeDataString(id)}?done={(result == SessionEndNow.Pending ? "pending" : "ended")}");
    }

    private async Task<IActionResult> LoadAsync(string id)
    {
        if (!SessionEndpoints.IsSessionId(id))
        {
            return NotFoundPage();
        }

        var record = await TryStoreAsync(ct => store.GetAsync(Tenant!, id, ct));
        if (record is null)
        {
            return Failure is null ? NotFoundPage() : Page();
        }

        Session = SessionView.From(record);
        try
        {
            Calls = await calls.ReadAsync(Tenant!, id, 0, CallsShown, HttpContext.RequestAborted);
        }
        catch (SessionCallsUnavailableException ex)
        {
            // The record stands on its own; only the call list waits for the audit to answer.
            CallsUnavailable = ex.Message;
        }

        return Page();
    }

    private IActionResult NotFoundPage() =>
        Refused(StatusCodes.Status404NotFound, new PageMessage("No such session", $"{Tenant} has no support session with this id.", Problems.ProblemCode.SessionNotFound.Value));
}
