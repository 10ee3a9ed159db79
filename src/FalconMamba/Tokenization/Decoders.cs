using System.Text;

namespace FalconMamba.Tokenization;

/// <summary>
/// A decoder: turns token strings back into text pieces (tokenizers decoders/*.rs <c>decode_chain</c>); the final
/// text is the concatenation of the pieces.
/// </summary>
internal abstract class Decoder
{
    /// <summary>Transforms the token strings.</summary>
    public abstract List<string> DecodeChain(List<string> tokens);
}

/// <summary>Runs decoders in order.</summary>
internal sealed class SequenceDecoder(Decoder[] items) : Decoder
{
    public Decoder[] Items { get; } = items;

    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var d in Items) tokens = d.DecodeChain(tokens);
        return tokens;
    }
}

/// <summary>
/// <c>ByteLevel</c> decoder: every character of every token back to its byte (a token with a character outside the
/// table contributes its own UTF-8), then one lossy UTF-8 decode of all bytes.
/// </summary>
internal sealed class ByteLevelDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens) AppendTokenBytes(t, bytes);
        return [Utf8Lossy.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes))];
    }

    /// <summary>The bytes a token stands for.</summary>
    public static void AppendTokenBytes(string token, List<byte> bytes)
    {
        foreach (char c in token)
            if (ByteLevelTable.ToByte(c) < 0) { bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(token)); return; }
        foreach (char c in token) bytes.Add((byte)ByteLevelTable.ToByte(c));
    }
}

/// <summary><c>Metaspace</c> decoder: the replacement character becomes a space; in the first token it is dropped (unless prepend_scheme is never).</summary>
internal sealed class MetaspaceDecoder(char replacement, PrependScheme prepend) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        var sb = new StringBuilder();
        for (int i = 0; i < tokens.Count; i++)
        {
            sb.Clear();
            foreach (char c in tokens[i])
            {
                if (c != replacement) sb.Append(c);
                else if (!(i == 0 && prepend != PrependScheme.Never)) sb.Append(' ');
            }
            r.Add(sb.ToString());
        }
        return r;
    }
}

/// <summary><c>Replace</c> decoder: replaces a literal or regex pattern in each token.</summary>
internal sealed class ReplaceDecoder(OnigurumaRegex pattern, string content) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        var matches = new List<(int, int)>();
        var sb = new StringBuilder();
        foreach (var t in tokens)
        {
            matches.Clear();
            pattern.FindMatches(t, matches, EncodeScratch.Current);
            if (matches.Count == 0) { r.Add(t); continue; }
            sb.Clear();
            int last = 0;
            foreach (var (s, e) in matches) { sb.Append(t, last, s - last).Append(content); last = e; }
            sb.Append(t, last, t.Length - last);
            r.Add(sb.ToString());
        }
        return r;
    }
}

/// <summary><c>Fuse</c>: joins all tokens into one.</summary>
internal sealed class FuseDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary><c>Strip</c>: removes up to <c>start</c> leading and <c>stop</c> trailing copies of a character from each token.</summary>
internal sealed class StripDecoder(string content, int start, int stop) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        foreach (var t in tokens)
        {
            // Work on code points, as Rust's chars().
            var cps = new List<string>();
            for (int i = 0; i < t.Length;) { UnicodeClasses.CodePointAt(t, i, out int w); cps.Add(t.Substring(i, w)); i += w; }
            int a = 0;
            for (int i = 0; i < Math.Min(start, cps.Count); i++) { if (cps[i] == content) a = i + 1; else break; }
            int b = cps.Count;
            for (int i = 0; i < stop && cps.Count - i - 1 >= 0; i++)
            {
                int idx = cps.Count - i - 1;
                if (cps[idx] == content) b = idx; else break;
            }
            r.Add(b > a ? string.Concat(cps.GetRange(a, b - a)) : "");
        }
        return r;
    }
}

/// <summary>
/// <c>ByteFallback</c>: runs of <c>&lt;0xXX&gt;</c> tokens become the text of their bytes, or one U+FFFD per byte
/// when the run is not valid UTF-8 (decoders/byte_fallback.rs).
/// </summary>
internal sealed class ByteFallbackDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (var t in tokens)
        {
            if (TryByte(t, out byte b)) { pending.Add(b); continue; }
            Flush(pending, r);
            r.Add(t);
        }
        Flush(pending, r);
        return r;
    }

    static void Flush(List<byte> pending, List<string> r)
    {
        if (pending.Count == 0) return;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pending);
        if (System.Text.Unicode.Utf8.IsValid(span)) r.Add(System.Text.Encoding.UTF8.GetString(span));
        else for (int i = 0; i < pending.Count; i++) r.Add("\uFFFD");
        pending.Clear();
    }

    /// <summary>True for a token of the form <c>&lt;0xXX&gt;</c>.</summary>
    public static bool TryByte(string t, out byte b)
    {
        b = 0;
        return t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>'
            && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out b);
    }
}

/// <summary>Rust <c>String::from_utf8_lossy</c>: each maximal invalid subsequence becomes one U+FFFD (.NET's decoder follows the same rule).</summary>
internal static class Utf8Lossy
{
    static readonly UTF8Encoding Lossy = new(false, false);

    public static string Decode(ReadOnlySpan<byte> bytes) => Lossy.GetString(bytes);
}
