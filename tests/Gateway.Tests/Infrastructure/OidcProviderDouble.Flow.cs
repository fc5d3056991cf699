using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The authorization code flow with PKCE: <c>authorize</c> (GET, checks the client, the
/// redirect URI, <c>response_type=code</c> and an S256 challenge, and answers with a code for
/// <see cref="NextUser"/>) and <c>token</c> (POST form, checks the code, redirect URI, client and
/// the verifier against the challenge, and mints the id_token with the request's nonce).
/// </summary>
internal sealed partial class OidcProviderDouble
{
    private readonly ConcurrentDictionary<string, PendingCode> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _flowLog = new();
    private int _challenges;
    private int _verifiers;

    /// <summary>The client the flow accepts (the gateway's <c>PagesClientId</c>).</summary>
    public string ClientId { get; set; } = "gateway-pages";

    /// <summary>The claims of the next user who "signs in" at <c>authorize</c> (<c>sub</c> and the rest).</summary>
    public JsonObject NextUser { get; set; } = new() { ["sub"] = "nobody" };

    /// <summary>When set, the id_token carries another nonce than the one the authorize request sent.</summary>
    public bool WrongNonce { get; set; }

    /// <summary>The S256 challenges received at <c>authorize</c>, and the verifiers at <c>token</c> that matched one.</summary>
    public int ChallengesReceived => Volatile.Read(ref _challenges);

    public int VerifiersMatched => Volatile.Read(ref _verifiers);

    /// <summary>Why the provider refused a flow request (empty when none was refused).</summary>
    public IReadOnlyCollection<string> FlowRefusals => _flowLog;

    public string AuthorizeAddress => $"{Authority.AbsoluteUri.TrimEnd('/')}/protocol/openid-connect/auth";

    public string TokenAddress => $"{Authority.AbsoluteUri.TrimEnd('/')}/protocol/openid-connect/token";

    partial void MapFlowEndpoints(RouteGroupBuilder endpoints)
    {
        endpoints.MapGet("/protocol/openid-connect/auth", (Func<HttpContext, IResult>)Authorize);
        endpoints.MapPost("/protocol/openid-connect/token", (Func<HttpContext, Task<IResult>>)TokenAsync);
    }

    partial void AddFlowMetadata(JsonObject document)
    {
        document["authorization_endpoint"] = AuthorizeAddress;
        document["token_endpoint"] = TokenAddress;
        document["code_challenge_methods_supported"] = new JsonArray("S256");
        document["grant_types_supported"] = new JsonArray("authorization_code");
    }

    private IResult Authorize(HttpContext context)
    {
        var q = context.Request.Query;
        string? refusal =
            q["client_id"] != ClientId ? "client_id"
            : string.IsNullOrEmpty(q["redirect_uri"]) || !Uri.TryCreate(q["redirect_uri"], UriKind.Absolute, out _) ? "redirect_uri"
            : q["response_type"] != "code" ? "response_type"
            : q["code_challenge_method"] != "S256" || string.IsNullOrEmpty(q["code_challenge"]) ? "code_challenge"
            : string.IsNullOrEmpty(q["state"]) ? "state"
            : null;
        if (refusal is not null)
        {
            _flowLog.Enqueue("authorize: " + refusal);
            return Results.BadRequest(new { error = "invalid_request", error_description = refusal });
        }

        Interlocked.Increment(ref _challenges);
        var code = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(24));
        _codes[code] = new PendingCode(q["redirect_uri"]!, q["code_challenge"]!, q["nonce"].ToString(), (JsonObject)NextUser.DeepClone());
        return Results.Redirect($"{q["redirect_uri"]}?code={Uri.EscapeDataString(code)}&state={Uri.EscapeDataString(q["state"]!)}");
    }

    private async Task<IResult> TokenAsync(HttpContext context)
    {
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var clientId = form["client_id"].ToString();
        _codes.TryRemove(form["code"].ToString(), out var pending);
        string? refusal =
            form["grant_type"] != "authorization_code" ? "grant_type"
            : pending is null ? "code"
            : form["redirect_uri"] != pending.RedirectUri ? "redirect_uri"
            : clientId != ClientId ? "client_id"
            : Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != pending.Challenge ? "code_verifier"
            : null;
        if (refusal is not null)
        {
            _flowLog.Enqueue("token: " + refusal);
            return Results.BadRequest(new { error = "invalid_grant", error_description = refusal });
        }

        Interlocked.Increment(ref _verifiers);
        var claims = (JsonObject)pending!.User.DeepClone();
        claims["nonce"] = WrongNonce ? "not-" + pending.Nonce : pending.Nonce;
        return Results.Json(new
        {
            id_token = Mint(claims, ClientId),
            access_token = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(24)),
            token_type = "Bearer",
            expires_in = 300,
        });
    }

    private sealed record PendingCode(string RedirectUri, string Challenge, string Nonce, JsonObject User);
}
