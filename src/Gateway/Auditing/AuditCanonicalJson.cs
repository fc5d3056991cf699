using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Gateway.Auditing;

/// <summary>
/// The canonical bytes of an audit document, which the hash chain covers (docs/audit.md,
/// "Integrity"). They depend only on the document's JSON data, never on how it was written, so
/// the spool's bytes, Elasticsearch's <c>_source</c> and a <c>jq -c</c> re-serialization of it
/// all give the same bytes:
/// <list type="bullet">
/// <item>the member <c>chain</c> of the top-level member <c>gateway</c> is left out (it holds the
/// hash itself), and <c>gateway</c> too when nothing else is in it;</item>
/// <item>no whitespace; object members sorted by the UTF-8 bytes of their unescaped names
/// (members with equal names keep their order); arrays in order;</item>
/// <item>strings: UTF-8, with only <c>"</c> and <c>\</c> escaped (<c>\"</c>, <c>\\</c>) and
/// U+0000–U+001F (<c>\b \t \n \f \r</c>, else <c>\u00xx</c> in lowercase hex);</item>
/// <item>numbers: an integral value as plain decimal digits (<c>1.5e3</c> becomes <c>1500</c>,
/// <c>-0</c> becomes <c>0</c>); any other as the shortest round-trip form of the double;</item>
/// <item><c>true</c>, <c>false</c>, <c>null</c> as themselves.</item>
/// </list>
/// One instance serves one thread (the spool writer, or a verifier) and reuses its buffers, so a
/// document costs no allocation once they have grown.
/// </summary>
internal sealed class AuditCanonicalJson
{
    private const byte KindObject = 1;
    private const byte KindArray = 2;
    private const byte KindString = 3;
    private const byte KindNumber = 4;
    private const byte KindTrue = 5;
    private const byte KindFalse = 6;
    private const byte KindNull = 7;
    private const byte KindName = 8;

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64 };

    // One entry per token: kind, where its (unescaped) text is, and for containers the index of
    // the token after the container's last one.
    private byte[] _kind = new byte[128];
    private int[] _start = new int[128];
    private int[] _length = new int[128];
    private bool[] _unescaped = new bool[128];
    private int[] _next = new int[128];
    private int _count;

    private readonly ArrayBufferWriter<byte> _text = new(256);
    private readonly List<int> _members = new(64);
    private readonly Comparison<int> _byName;
    private byte[] _source = [];

    public AuditCanonicalJson()
    {
        _byName = CompareNames;
    }

    /// <summary>Writes the canonical bytes of <paramref name="json"/> (one JSON object) to <paramref name="output"/>.</summary>
    /// <exception cref="JsonException">The input is not one well-formed JSON object.</exception>
    public void Write(ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        Tokenize(json);
        if (_count == 0 || _kind[0] != KindObject)
        {
            throw new JsonException("an audit document is a JSON object");
        }

        WriteValue(0, output, topLevel: true);
    }

    /// <summary>The canonical bytes as a new array (for tests and tools).</summary>
    public byte[] ToArray(ReadOnlySpan<byte> json)
    {
        var output = new ArrayBufferWriter<byte>(json.Length);
        Write(json, output);
        return output.WrittenSpan.ToArray();
    }

    private void Tokenize(ReadOnlySpan<byte> json)
    {
        _count = 0;
        _text.ResetWrittenCount();
        if (_source.Length < json.Length)
        {
            _source = new byte[Math.Max(json.Length, _source.Length * 2)];
        }

        // The token positions below point into this copy (or into _text for unescaped strings).
        json.CopyTo(_source);
        var reader = new Utf8JsonReader(json, ReaderOptions);
        Span<int> open = stackalloc int[65];
        var depth = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    open[depth++] = Add(reader.TokenType == JsonTokenType.StartObject ? KindObject : KindArray, 0, 0, false);
                    break;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    _next[open[--depth]] = _count;
                    break;
                case JsonTokenType.PropertyName:
                case JsonTokenType.String:
                    AddString(ref reader, reader.TokenType == JsonTokenType.PropertyName ? KindName : KindString);
                    break;
                case JsonTokenType.Number:
                    Add(KindNumber, (int)reader.TokenStartIndex, reader.ValueSpan.Length, false);
                    break;
                case JsonTokenType.True:
                    Add(KindTrue, 0, 0, false);
                    break;
                case JsonTokenType.False:
                    Add(KindFalse, 0, 0, false);
                    break;
                case JsonTokenType.Null:
                    Add(KindNull, 0, 0, false);
                    break;
                default:
                    throw new JsonException($"unexpected {reader.TokenType}");
            }

            if (depth == 0)
            {
                // One document: anything after it is not part of it.
                if (reader.Read())
                {
                    throw new JsonException("more than one JSON value");
                }

                return;
            }
        }

        throw new JsonException("the document ends early");
    }

    private void AddString(ref Utf8JsonReader reader, byte kind)
    {
        if (!reader.ValueIsEscaped)
        {
            Add(kind, (int)reader.TokenStartIndex + 1, reader.ValueSpan.Length, false);
            return;
        }

        var destination = _text.GetSpan(reader.ValueSpan.Length);
        var written = reader.CopyString(destination);
        Add(kind, _text.WrittenCount, written, true);
        _text.Advance(written);
    }

    private int Add(byte kind, int start, int length, bool unescaped)
    {
        if (_count == _kind.Length)
        {
            var size = _kind.Length * 2;
            Array.Resize(ref _kind, size);
            Array.Resize(ref _start, size);
            Array.Resize(ref _length, size);
            Array.Resize(ref _unescaped, size);
            Array.Resize(ref _next, size);
        }

        _kind[_count] = kind;
        _start[_count] = start;
        _length[_count] = length;
        _unescaped[_count] = unescaped;
        _next[_count] = _count + 1;
        return _count++;
    }

    private ReadOnlySpan<byte> Text(int token) =>
        _unescaped[token] ? _text.WrittenSpan.Slice(_start[token], _length[token]) : _source.AsSpan(_start[token], _length[token]);

    /// <summary>Writes the value at <paramref name="token"/> (for the top-level object and its <c>gateway</c>, without the chain).</summary>
    private void WriteValue(int token, IBufferWriter<byte> output, bool topLevel = false, bool dropChain = false)
    {
        switch (_kind[token])
        {
            case KindObject:
                WriteObject(token, output, topLevel, dropChain);
                break;
            case KindArray:
                output.Write("["u8);
                for (var i = token + 1; i < _next[token]; i = _next[i])
                {
                    if (i != token + 1)
                    {
                        output.Write(","u8);
                    }

                    WriteValue(i, output);
                }

                output.Write("]"u8);
                break;
            case KindString:
                WriteString(Text(token), output);
                break;
            case KindNumber:
                WriteNumber(Text(token), output);
                break;
            case KindTrue:
                output.Write("true"u8);
                break;
            case KindFalse:
                output.Write("false"u8);
                break;
            default:
                output.Write("null"u8);
                break;
        }
    }

    private void WriteObject(int token, IBufferWriter<byte> output, bool topLevel, bool dropChain)
    {
        // Members of this object go on the shared stack above whatever the callers put there.
        var first = _members.Count;
        for (var i = token + 1; i < _next[token]; i = _next[i + 1])
        {
            var name = Text(i);
            if (dropChain && name.SequenceEqual("chain"u8))
            {
                continue;
            }

            if (topLevel && name.SequenceEqual("gateway"u8) && IsOnlyChain(i + 1))
            {
                continue;
            }

            _members.Add(i);
        }

        var members = CollectionsMarshal.AsSpan(_members)[first..];
        members.Sort(_byName);
        output.Write("{"u8);
        for (var m = first; m < _members.Count; m++)
        {
            var name = _members[m];
            if (m != first)
            {
                output.Write(","u8);
            }

            WriteString(Text(name), output);
            output.Write(":"u8);
            WriteValue(name + 1, output, dropChain: topLevel && _kind[name + 1] == KindObject && Text(name).SequenceEqual("gateway"u8));
        }

        output.Write("}"u8);
        _members.RemoveRange(first, _members.Count - first);
    }

    /// <summary>True when the object at <paramref name="token"/> has no member but <c>chain</c> (or none at all).</summary>
    private bool IsOnlyChain(int token)
    {
        if (_kind[token] != KindObject)
        {
            return false;
        }

        for (var i = token + 1; i < _next[token]; i = _next[i + 1])
        {
            if (!Text(i).SequenceEqual("chain"u8))
            {
                return false;
            }
        }

        return true;
    }

    private int CompareNames(int a, int b)
    {
        var order = Text(a).SequenceCompareTo(Text(b));
        return order != 0 ? order : a.CompareTo(b);
    }

    private static void WriteString(ReadOnlySpan<byte> text, IBufferWriter<byte> output)
    {
        output.Write("\""u8);
        var start = 0;
        while (start < text.Length)
        {
            // Most strings need no escape at all: find the next byte that does, vectorized.
            var next = text[start..].IndexOfAny(MustEscape);
            if (next < 0)
            {
                break;
            }

            var i = start + next;
            var b = text[i];
            output.Write(text[start..i]);
            switch (b)
            {
                case (byte)'"':
                    output.Write("\\\""u8);
                    break;
                case (byte)'\\':
                    output.Write("\\\\"u8);
                    break;
                case (byte)'\b':
                    output.Write("\\b"u8);
                    break;
                case (byte)'\t':
                    output.Write("\\t"u8);
                    break;
                case (byte)'\n':
                    output.Write("\\n"u8);
                    break;
                case (byte)'\f':
                    output.Write("\\f"u8);
                    break;
                case (byte)'\r':
                    output.Write("\\r"u8);
                    break;
                default:
                    var escape = output.GetSpan(6);
                    "\\u00"u8.CopyTo(escape);
                    escape[4] = Hex(b >> 4);
                    escape[5] = Hex(b & 0xF);
                    output.Advance(6);
                    break;
            }

            start = i + 1;
        }

        output.Write(text[start..]);
        output.Write("\""u8);
    }

    private static readonly SearchValues<byte> MustEscape = SearchValues.Create([.. Enumerable.Range(0, 0x20).Select(b => (byte)b), (byte)'"', (byte)'\\']);

    private static byte Hex(int nibble) => (byte)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);

    private static void WriteNumber(ReadOnlySpan<byte> literal, IBufferWriter<byte> output)
    {
        // The common case: an integer literal, canonical already (JSON has no leading zeros).
        if (literal.IndexOfAnyExcept("-0123456789"u8) < 0 && Utf8Parser.TryParse(literal, out long integer, out var used) && used == literal.Length)
        {
            WriteLong(integer, output);
            return;
        }

        if (Utf8Parser.TryParse(literal, out decimal exact, out used) && used == literal.Length && exact == decimal.Truncate(exact)
            && exact >= long.MinValue && exact <= long.MaxValue)
        {
            WriteLong((long)exact, output);
            return;
        }

        if (!Utf8Parser.TryParse(literal, out double value, out used) || used != literal.Length || !double.IsFinite(value))
        {
            throw new JsonException("a number out of range");
        }

        if (value == Math.Floor(value) && Math.Abs(value) < 9.2e18)
        {
            WriteLong((long)value, output);
            return;
        }

        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var span = output.GetSpan(text.Length);
        var written = System.Text.Encoding.ASCII.GetBytes(text, span);
        output.Advance(written);
    }

    private static void WriteLong(long value, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var written);
        output.Advance(written);
    }
}
