using Microsoft.AspNetCore.Http.HttpResults;

namespace SampleTenantApp;

internal sealed record PasswordChange(string? CurrentPassword, string? NewPassword);

internal sealed record CredentialsInfo(bool PasswordSet, DateTimeOffset? PasswordChangedAt);

/// <summary>
/// The <c>forbidden</c> route class of the demo: the gateway must never let a support user reach it.
/// No real security here, and no password is stored or echoed, only when it last changed.
/// </summary>
internal sealed class CredentialsState
{
    private long _changedAtTicks;

    public DateTimeOffset? PasswordChangedAt =>
        Interlocked.Read(ref _changedAtTicks) is var ticks and not 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    public void PasswordChanged(DateTimeOffset at) => Interlocked.Exchange(ref _changedAtTicks, at.UtcTicks);
}

internal static class Credentials
{
    public static IEndpointRouteBuilder MapCredentials(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/credentials");
        group.MapGet("/", Info);
        group.MapPost("/password", ChangePasswordAsync);
        return routes;
    }

    private static Ok<CredentialsInfo> Info(CredentialsState state) =>
        TypedResults.Ok(new CredentialsInfo(PasswordSet: true, state.PasswordChangedAt));

    private static async Task<Results<NoContent, ProblemHttpResult>> ChangePasswordAsync(
        HttpRequest request, CredentialsState state, TimeProvider time, CancellationToken cancellationToken)
    {
        var input = await JsonBody.ReadAsync(request, SampleJsonContext.Default.PasswordChange, cancellationToken);
        if (string.IsNullOrEmpty(input?.CurrentPassword) || string.IsNullOrEmpty(input.NewPassword))
        {
            return Problems.BadRequest(
                "invalid_password_change",
                """Expected a JSON object {"currentPassword": string, "newPassword": string}.""");
        }

        state.PasswordChanged(time.GetUtcNow());
        return TypedResults.NoContent();
    }
}
