using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Auditing;

/// <summary>One audit document to verify, with where it came from (<c>line 17</c>, <c>000000000003.seg@5120</c>).</summary>
internal sealed record AuditVerifyInput(string Where, string Json);

/// <summary>A finding that makes the trail fail verification. <see cref="Seq"/> is the first sequence number it concerns.</summary>
internal sealed record AuditProblem(string Kind, string? Instance, long? Seq, string Detail, string? Where)
{
    public override string ToString() =>
        $"{Kind}: instance {Instance ?? "?"}{(Seq is { } s ? $", seq {s}" : "")}: {Detail}{(Where is null ? "" : $" ({Where})")}";
}

/// <summary>What was verified of one instance's chain.</summary>
internal sealed record AuditInstanceReport(
    string Instance,
    long Events,
    long FirstSeq,
    long LastSeq,
    int Digests,
    long? VerifiedFrom,
    long? VerifiedThrough,
    long TailEvents);

/// <summary>The outcome of <see cref="AuditVerifier.Verify"/>: clean when there is no problem (warnings do not count).</summary>
internal sealed record AuditVerification(long Events, IReadOnlyList<AuditInstanceReport> Instances, IReadOnlyList<AuditProblem> Problems, IReadOnlyList<string> Warnings)
{
    public bool Clean => Problems.Count == 0;

    /// <summary>The lowest sequence number any problem concerns.</summary>
    public long? FirstBadSeq => Problems.Where(p => p.Seq is not null).Select(p => p.Seq).Min();
}

/// <summary>
/// Public keys that digests are checked against: a JWKS (by <c>kid</c>) or one PEM key (whatever
/// <c>kid</c> a digest names).
/// </summary>
internal sealed class AuditVerificationKeys : IDisposable
{
    private readonly Dictionary<string, ECDsa> _byKid;
    private readonly ECDsa? _single;

    private AuditVerificationKeys(Dictionary<string, ECDsa> byKid, ECDsa? single)
    {
        _byKid = byKid;
        _single = single;
    }

    public string Description => _single is not null ? "the given PEM key" : $"JWKS key(s) {string.Join(", ", _byKid.Keys)}";

    /// <summary>The EC P-256 keys of a JWKS document (others are ignored).</summary>
    /// <exception cref="FormatException">Not a JWKS, or no usable key in it.</exception>
    public static AuditVerificationKeys FromJwks(string json)
    {
        var keys = new Dictionary<string, ECDsa>(StringComparer.Ordinal);
        try
        {
            using var document = JsonDocument.Parse(json);
            foreach (var key in document.RootElement.GetProperty("keys").EnumerateArray())
            {
                if (Text(key, "kty") != "EC" || Text(key, "crv") != "P-256" || Text(key, "kid") is not { } kid
                    || Text(key, "x") is not { } x || Text(key, "y") is not { } y)
                {
                    continue;
                }

                keys[kid] = ECDsa.Create(new ECParameters
                {
                    Curve = ECCurve.NamedCurves.nistP256,
                    Q = new ECPoint { X = Base64UrlEncoder.DecodeBytes(x), Y = Base64UrlEncoder.DecodeBytes(y) },
                });
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or CryptographicException or FormatException or ArgumentException)
        {
            throw new FormatException($"not a JWKS document: {ex.Message}", ex);
        }

        return keys.Count == 0 ? throw new FormatException("the JWKS holds no EC P-256 key with a kid") : new AuditVerificationKeys(keys, null);
    }

    /// <summary>One key in PEM (public, or a private key whose public half is used).</summary>
    /// <exception cref="FormatException">Not a PEM EC P-256 key.</exception>
    public static AuditVerificationKeys FromPem(string pem)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new FormatException($"not a PEM EC key: {ex.Message}", ex);
        }

        if (key.KeySize != 256)
        {
            key.Dispose();
            throw new FormatException("not an EC P-256 key");
        }

        return new AuditVerificationKeys([], key);
    }

    public ECDsa? Find(string kid) => _single ?? _byKid.GetValueOrDefault(kid);

    public void Dispose()
    {
        _single?.Dispose();
        foreach (var key in _byKid.Values)
        {
            key.Dispose();
        }
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>
/// Verifies an audit trail — a spool directory, or NDJSON (one ECS document per line, as
/// <c>audit export</c> writes it and as an Elasticsearch export of <c>_source</c> gives it) —
/// against the hash chain and the signed digests (docs/audit.md, "Integrity" and "Verifying").
/// Per instance it reports the range verified and every problem: a gap, events out of order, a
/// modified event, an inserted one (two events claiming one sequence number, or an event without
/// chain fields), a missing or invalid digest, a digest signed by a key that is not published.
/// Events after the last digest are an "unverified tail" (a warning: the trail may simply have
/// been cut there, or the gateway is still writing), never tampering. Events are expected in
/// chain order per instance (the spool's order; exports sort by instance and sequence number).
/// </summary>
internal static class AuditVerifier
{
    /// <summary>Exit codes of <c>audit verify</c>: clean (an unverified tail is only a warning), problems, bad usage or input.</summary>
    public const int ExitClean = 0;
    public const int ExitProblems = 1;
    public const int ExitUsage = 2;

    public static AuditVerification Verify(IEnumerable<AuditVerifyInput> input, AuditVerificationKeys? keys, CancellationToken cancellationToken = default)
    {
        var problems = new List<AuditProblem>();
        var warnings = new List<string>();
        var chains = new Dictionary<string, Chain>(StringComparer.Ordinal);
        using var hasher = new AuditChainHasher();
        Span<byte> content = stackalloc byte[AuditChainHasher.HashBytes];
        Span<byte> stated = stackalloc byte[AuditChainHasher.HashBytes];
        var order = 0;
        var events = 0L;
        (string Instance, long Seq)? previous = null;
        foreach (var item in input)
        {
            cancellationToken.ThrowIfCancellationRequested();
            events++;
            Facts? facts;
            try
            {
                var bytes = Encoding.UTF8.GetBytes(item.Json);
                facts = Facts.Read(bytes);
                hasher.ContentHash(bytes, content);
            }
            catch (JsonException ex)
            {
                problems.Add(new AuditProblem("unreadable", previous?.Instance, previous?.Seq + 1, $"not a JSON document: {ex.Message}", item.Where));
                continue;
            }

            if (facts.Instance is null || facts.Seq is not { } seq || !AuditChainHasher.TryParseHex(facts.Hash, stated))
            {
                problems.Add(new AuditProblem("inserted", previous?.Instance, previous?.Seq + 1,
                    $"event {facts.EventId ?? "(no event.id)"} carries no gateway.chain (instance, seq, hash){(previous is { } p ? $"; it comes after seq {p.Seq}" : "")}", item.Where));
                continue;
            }

            if (!chains.TryGetValue(facts.Instance, out var chain))
            {
                chains[facts.Instance] = chain = new Chain(facts.Instance);
            }

            chain.Entries.Add(new Entry(seq, order++, ToHash(stated), ToHash(content), facts.Digest is null ? -1 : chain.Digests.Count, item.Where, facts.EventId));
            if (facts.Digest is { } digest)
            {
                chain.Digests.Add(digest);
            }

            previous = (facts.Instance, seq);
        }

        var reports = new List<AuditInstanceReport>();
        foreach (var chain in chains.Values.OrderBy(c => c.Instance, StringComparer.Ordinal))
        {
            reports.Add(chain.Verify(hasher, keys, problems, warnings));
        }

        if (keys is null && chains.Values.Any(c => c.Digests.Count > 0))
        {
            warnings.Add("digest signatures were not checked (give --jwks or --key): the chain alone proves nothing against someone who can rewrite it whole");
        }

        if (events == 0)
        {
            warnings.Add("no events to verify");
        }

        return new AuditVerification(events, reports, [.. problems.OrderBy(p => p.Seq ?? long.MaxValue)], warnings);
    }

    /// <summary>The records of a spool directory, oldest first; bytes that are not whole records are reported.</summary>
    public static IEnumerable<AuditVerifyInput> ReadSpool(string directory, List<string> notes) =>
        AuditSpoolReader.ReadEntries(directory, onSkipped: s => notes.Add($"{SpoolFormat.SegmentFileName(s.Segment)}@{s.Offset}: {s.Bytes} byte(s) are not a whole record (torn or corrupt)"))
            .Select(e => new AuditVerifyInput($"{SpoolFormat.SegmentFileName(e.Segment)}@{e.Offset}", e.Json));

    /// <summary>NDJSON lines (empty lines skipped).</summary>
    public static IEnumerable<AuditVerifyInput> ReadNdjson(TextReader reader)
    {
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (line.Length > 0)
            {
                yield return new AuditVerifyInput($"line {number}", line);
            }
        }
    }

    /// <summary>
    /// <c>audit verify</c> (<see cref="Cli.AuditVerifyCommand"/>): one of <paramref name="spool"/> or
    /// <paramref name="export"/> (<c>-</c>: <paramref name="input"/>), keys from at most one of
    /// <paramref name="jwks"/> (file or URL) and <paramref name="pem"/>; prints the report; exit
    /// <see cref="ExitClean"/>, <see cref="ExitProblems"/> or <see cref="ExitUsage"/>.
    /// </summary>
    public static async Task<int> RunAsync(string? spool, string? export, string? jwks, string? pem, TextReader input, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if ((spool is null) == (export is null) || (jwks is not null && pem is not null))
        {
            return await UsageAsync(error, "give one of --spool-dir or --export, and at most one of --jwks or --key");
        }

        AuditVerificationKeys? keys;
        try
        {
            keys = jwks is not null ? AuditVerificationKeys.FromJwks(await ReadTextAsync(jwks, cancellationToken))
                : pem is not null ? AuditVerificationKeys.FromPem(await File.ReadAllTextAsync(pem, cancellationToken))
                : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or HttpRequestException or TaskCanceledException)
        {
            await error.WriteLineAsync($"audit verify: cannot read the keys ({jwks ?? pem}): {ex.Message}");
            return ExitUsage;
        }

        using (keys)
        {
            var notes = new List<string>();
            AuditVerification result;
            try
            {
                if (spool is not null)
                {
                    if (!Directory.Exists(spool))
                    {
                        await error.WriteLineAsync($"audit verify: no spool at '{Path.GetFullPath(spool)}'.");
                        return ExitUsage;
                    }

                    result = Verify(ReadSpool(spool, notes), keys, cancellationToken);
                }
                else
                {
                    using var reader = export == "-" ? null : new StreamReader(export!, Encoding.UTF8);
                    result = Verify(ReadNdjson(reader ?? input), keys, cancellationToken);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"audit verify: cannot read {spool ?? export}: {ex.Message}");
                return ExitUsage;
            }

            await WriteReportAsync(output, result, notes, keys);
            return result.Clean ? ExitClean : ExitProblems;
        }
    }

    private static async Task WriteReportAsync(TextWriter output, AuditVerification result, List<string> notes, AuditVerificationKeys? keys)
    {
        await output.WriteLineAsync($"audit verify: {result.Events} event(s), {result.Instances.Count} instance(s); digests checked against {keys?.Description ?? "no key"}");
        foreach (var i in result.Instances)
        {
            var verified = i.VerifiedThrough is { } through ? $"verified seq {i.VerifiedFrom}..{through}" : "nothing verified (no valid digest)";
            var tail = i.TailEvents > 0 ? $"; unverified tail: {i.TailEvents} event(s) after the last digest" : "";
            await output.WriteLineAsync($"instance {i.Instance}: seq {i.FirstSeq}..{i.LastSeq}, {i.Events} event(s), {i.Digests} digest(s); {verified}{tail}");
        }

        foreach (var note in notes)
        {
            await output.WriteLineAsync("NOTE " + note);
        }

        foreach (var warning in result.Warnings)
        {
            await output.WriteLineAsync("WARNING " + warning);
        }

        foreach (var problem in result.Problems)
        {
            await output.WriteLineAsync("PROBLEM " + problem);
        }

        await output.WriteLineAsync(result.Clean
            ? "result: clean"
            : $"result: {result.Problems.Count} problem(s); first bad seq {result.FirstBadSeq?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}");
    }

    private static async Task<string> ReadTextAsync(string fileOrUrl, CancellationToken cancellationToken)
    {
        if (Uri.TryCreate(fileOrUrl, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp))
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            return await client.GetStringAsync(uri, cancellationToken);
        }

        return await File.ReadAllTextAsync(fileOrUrl, cancellationToken);
    }

    private static async Task<int> UsageAsync(TextWriter error, string problem)
    {
        await error.WriteLineAsync($"audit verify: {problem}");
        await error.WriteLineAsync("Run 'Gateway audit verify --help' for usage.");
        return ExitUsage;
    }

    private static UInt128 High(ReadOnlySpan<byte> hash) => System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(hash);

    private static Hash32 ToHash(ReadOnlySpan<byte> hash) => new(High(hash), High(hash[16..]));

    /// <summary>32 bytes held in two words (a list of a million of these is 32 MB, not a million arrays).</summary>
    private readonly record struct Hash32(UInt128 A, UInt128 B)
    {
        public static Hash32 Zero => default;

        public void CopyTo(Span<byte> destination)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(destination, A);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(destination[16..], B);
        }

        public static bool TryParse(string? hex, out Hash32 hash)
        {
            Span<byte> bytes = stackalloc byte[AuditChainHasher.HashBytes];
            hash = default;
            if (!AuditChainHasher.TryParseHex(hex, bytes))
            {
                return false;
            }

            hash = ToHash(bytes);
            return true;
        }
    }

    private readonly record struct Entry(long Seq, int Order, Hash32 Stated, Hash32 Content, int Digest, string Where, string? EventId);

    /// <summary>The <c>gateway.digest</c> fields of a digest event.</summary>
    private sealed record DigestFacts(long FirstSeq, long LastSeq, string? ChainHead, string? PreviousDigest, string? KeyId, string? Jws);

    private sealed record Facts(string? EventId, string? Instance, long? Seq, string? Hash, DigestFacts? Digest)
    {
        public static Facts Read(byte[] json)
        {
            using var document = JsonDocument.Parse(json);
            var e = document.RootElement;
            if (e.ValueKind != JsonValueKind.Object)
            {
                throw new JsonException("not a JSON object");
            }

            DigestFacts? digest = null;
            if (Element(e, "gateway", "digest") is { ValueKind: JsonValueKind.Object } d)
            {
                digest = new DigestFacts(
                    Long(d, "first_seq") ?? -1,
                    Long(d, "last_seq") ?? -1,
                    Text(d, "chain_head"),
                    Text(d, "prev_digest"),
                    Text(d, "key_id"),
                    Text(d, "jws"));
            }

            var chain = Element(e, "gateway", "chain");
            return new Facts(
                Element(e, "event", "id") is { ValueKind: JsonValueKind.String } id ? id.GetString() : null,
                chain is { } c ? Text(c, "instance") : null,
                chain is { } s ? Long(s, "seq") : null,
                chain is { } h ? Text(h, "hash") : null,
                digest);
        }

        private static JsonElement? Element(JsonElement e, params string[] path)
        {
            foreach (var part in path)
            {
                if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(part, out e))
                {
                    return null;
                }
            }

            return e;
        }

        private static string? Text(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        private static long? Long(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;
    }

    /// <summary>One instance's events as read, verified in sequence order.</summary>
    private sealed class Chain(string instance)
    {
        public string Instance { get; } = instance;

        public List<Entry> Entries { get; } = [];

        public List<DigestFacts> Digests { get; } = [];

        public AuditInstanceReport Verify(AuditChainHasher hasher, AuditVerificationKeys? keys, List<AuditProblem> problems, List<string> warnings)
        {
            // Out of order as read: each step back names the event that came late.
            for (var i = 1; i < Entries.Count; i++)
            {
                if (Entries[i].Seq < Entries[i - 1].Seq)
                {
                    Problem(problems, "reordered", Entries[i].Seq, $"comes after seq {Entries[i - 1].Seq}", Entries[i].Where);
                }
            }

            var sorted = Entries.OrderBy(e => e.Seq).ThenBy(e => e.Order).ToList();
            Span<byte> previous = stackalloc byte[AuditChainHasher.HashBytes];
            Span<byte> content = stackalloc byte[AuditChainHasher.HashBytes];
            Span<byte> computed = stackalloc byte[AuditChainHasher.HashBytes];
            long? prevSeq = null;
            long? verifiedFrom = null, verifiedThrough = null;
            (long Seq, string Jws)? lastDigest = null;
            var digests = 0;
            var firstSeq = sorted.Count > 0 ? sorted[0].Seq : 0;

            for (var i = 0; i < sorted.Count; i++)
            {
                // Several events claiming one sequence number: keep the one that links, report the rest.
                var group = 1;
                while (i + group < sorted.Count && sorted[i + group].Seq == sorted[i].Seq)
                {
                    group++;
                }

                var entry = sorted[i];
                if (group > 1)
                {
                    entry = Choose(sorted.GetRange(i, group), hasher, prevSeq, previous, problems);
                    i += group - 1;
                }

                var seq = entry.Seq;
                entry.Content.CopyTo(content);
                bool linked;
                if (seq == 1)
                {
                    hasher.Link(new byte[AuditChainHasher.HashBytes], content, computed);
                    linked = true;
                }
                else if (prevSeq == seq - 1)
                {
                    hasher.Link(previous, content, computed);
                    linked = true;
                }
                else
                {
                    if (prevSeq is { } before)
                    {
                        Problem(problems, "gap", before + 1, before + 1 == seq - 1 ? $"seq {before + 1} is missing" : $"seq {before + 1}..{seq - 1} are missing", entry.Where);
                    }

                    linked = false;
                }

                var digest = entry.Digest >= 0 ? Digests[entry.Digest] : null;
                if (!linked && digest is not null && Hash32.TryParse(digest.ChainHead, out var signedHead))
                {
                    // What precedes this digest is not here, but the digest says (and signs) what it ended in.
                    signedHead.CopyTo(previous);
                    hasher.Link(previous, content, computed);
                    linked = true;
                }

                var stated = entry.Stated;
                if (linked && ToHash(computed) != stated)
                {
                    Problem(problems, "modified", seq, $"event {entry.EventId ?? "?"} does not match its chain hash (its content, or the event before it, was changed)", entry.Where);
                }
                else if (!linked && prevSeq is null && seq > 1)
                {
                    warnings.Add($"instance {Instance}: seq {seq} is the first event here and neither its predecessor nor a digest before it is: its own content cannot be checked (the events after it are)");
                }

                if (digest is not null)
                {
                    if (CheckDigest(entry, digest, keys, sorted, lastDigest, firstSeq, problems))
                    {
                        digests++;
                        verifiedFrom ??= firstSeq == 1 || sorted[0].Digest >= 0 ? firstSeq : firstSeq + 1;
                        verifiedThrough = seq;
                    }

                    lastDigest = (seq, digest.Jws ?? "");
                }

                stated.CopyTo(previous);
                prevSeq = seq;
            }

            var lastSeq = sorted.Count > 0 ? sorted[^1].Seq : 0;
            var tail = verifiedThrough is { } v ? sorted.Count(e => e.Seq > v) : sorted.Count;
            if (tail > 0)
            {
                var from = verifiedThrough + 1 ?? firstSeq;
                warnings.Add($"instance {Instance}: unverified tail: {tail} event(s), seq {from}..{lastSeq}, come after the last valid digest (cut off here, or written since); not evidence of tampering, but not proven either");
            }

            return new AuditInstanceReport(Instance, Entries.Count, firstSeq, lastSeq, digests, verifiedThrough is null ? null : verifiedFrom, verifiedThrough, tail);
        }

        /// <summary>Of events sharing a sequence number, the one whose link checks (else the first read); the others are reported.</summary>
        private Entry Choose(List<Entry> candidates, AuditChainHasher hasher, long? prevSeq, ReadOnlySpan<byte> previous, List<AuditProblem> problems)
        {
            var seq = candidates[0].Seq;
            var chosen = candidates[0];
            if (prevSeq == seq - 1 || seq == 1)
            {
                Span<byte> content = stackalloc byte[AuditChainHasher.HashBytes];
                Span<byte> computed = stackalloc byte[AuditChainHasher.HashBytes];
                foreach (var candidate in candidates)
                {
                    candidate.Content.CopyTo(content);
                    hasher.Link(seq == 1 ? new byte[AuditChainHasher.HashBytes] : previous, content, computed);
                    if (ToHash(computed) == candidate.Stated)
                    {
                        chosen = candidate;
                        break;
                    }
                }
            }

            foreach (var other in candidates.Where(c => c.Order != chosen.Order))
            {
                var same = other.Content == chosen.Content && other.Stated == chosen.Stated;
                Problem(problems, same ? "duplicate" : "inserted", seq,
                    same ? $"event {other.EventId ?? "?"} appears twice" : $"event {other.EventId ?? "?"} claims seq {seq}, which event {chosen.EventId ?? "?"} holds", other.Where);
            }

            return chosen;
        }

        /// <summary>Checks one digest: signature, the facts it signs, the chain head it names, its link to the digest before. True when valid.</summary>
        private bool CheckDigest(Entry entry, DigestFacts digest, AuditVerificationKeys? keys, List<Entry> sorted, (long Seq, string Jws)? lastDigest, long firstSeq, List<AuditProblem> problems)
        {
            var seq = entry.Seq;
            var valid = true;
            void Bad(string kind, string detail)
            {
                Problem(problems, kind, seq, detail, entry.Where);
                valid = false;
            }

            if (digest.Jws is null || digest.ChainHead is null || digest.KeyId is null)
            {
                Bad("digest-invalid", "the digest lacks its jws, chain_head or key_id");
                return false;
            }

            var parts = digest.Jws.Split('.');
            JsonElement header, payload;
            try
            {
                if (parts.Length != 3)
                {
                    throw new FormatException("not a compact JWS");
                }

                header = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(parts[0])).RootElement;
                payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(parts[1])).RootElement;
            }
            catch (Exception ex) when (ex is FormatException or JsonException or ArgumentException)
            {
                Bad("digest-invalid", $"the jws is unreadable: {ex.Message}");
                return false;
            }

            var kid = header.TryGetProperty("kid", out var k) ? k.GetString() : null;
            if (header.TryGetProperty("alg", out var alg) ? alg.GetString() != "ES256" : true)
            {
                Bad("digest-invalid", "the jws is not ES256");
            }
            else if (!header.TryGetProperty("typ", out var typ) || typ.GetString() != AuditDigest.JwsType)
            {
                Bad("digest-invalid", $"the jws is not a {AuditDigest.JwsType}");
            }
            else if (kid != digest.KeyId)
            {
                Bad("digest-invalid", $"the jws names key '{kid}', the event '{digest.KeyId}'");
            }
            else if (keys is not null)
            {
                var key = keys.Find(kid!);
                if (key is null)
                {
                    Bad("digest-unknown-key", $"signed with key '{kid}', which is not among the published keys");
                }
                else
                {
                    byte[] signature;
                    try
                    {
                        signature = Base64UrlEncoder.DecodeBytes(parts[2]);
                    }
                    catch (FormatException)
                    {
                        signature = [];
                    }

                    if (!key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256))
                    {
                        Bad("digest-invalid", $"the signature does not verify with key '{kid}' (signed by another key, or altered)");
                    }
                }
            }

            // The signed facts are the ones in the clear, and fit where the digest sits.
            string? P(string name) => payload.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            long? N(string name) => payload.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;
            if (P("instance") != Instance || N("first_seq") != digest.FirstSeq || N("last_seq") != digest.LastSeq
                || P("chain_head") != digest.ChainHead || P("prev_digest") != digest.PreviousDigest)
            {
                Bad("digest-invalid", "the fields in the clear differ from what the jws signs");
            }

            if (digest.LastSeq != seq - 1)
            {
                Bad("digest-invalid", $"covers up to seq {digest.LastSeq} but sits at seq {seq}");
            }

            var last = sorted.FindLast(e => e.Seq == digest.LastSeq);
            if (last.Where is not null && Hash32.TryParse(digest.ChainHead, out var head) && head != last.Stated)
            {
                Bad("digest-mismatch", $"the chain up to seq {digest.LastSeq} does not end in the hash this digest signs: events of seq {digest.FirstSeq}..{digest.LastSeq} were changed, inserted or removed");
            }

            if (lastDigest is { } before)
            {
                if (digest.FirstSeq != before.Seq || digest.PreviousDigest != AuditDigest.HashOf(before.Jws))
                {
                    Problem(problems, "digest-missing", Math.Min(digest.FirstSeq, seq), $"does not follow the digest at seq {before.Seq} (first_seq {digest.FirstSeq}, prev_digest {digest.PreviousDigest ?? "none"}): a digest between them is missing or replaced", entry.Where);
                    valid = false;
                }
            }
            else if (digest.FirstSeq > firstSeq && digest.PreviousDigest is not null)
            {
                Problem(problems, "digest-missing", digest.FirstSeq, $"names a previous digest at seq {digest.FirstSeq}, which is missing here", entry.Where);
                valid = false;
            }

            return valid;
        }

        private void Problem(List<AuditProblem> problems, string kind, long seq, string detail, string where) =>
            problems.Add(new AuditProblem(kind, Instance, seq, detail, where));
    }
}
