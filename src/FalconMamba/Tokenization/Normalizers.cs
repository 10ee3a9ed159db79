using System.Text;

namespace FalconMamba.Tokenization;

/// <summary>
/// A normalizer: rewrites the text of one buffer into another, keeping for every output
/// character the original range it came from (tokenizers normalizers/*.rs; alignments as in NormalizedString).
/// </summary>
internal abstract class Normalizer
{
    /// <summary>Writes the normalized text of <paramref name="src"/> into the cleared <paramref name="dst"/>.</summary>
    public abstract void Normalize(TextBuffer src, TextBuffer dst);
}

/// <summary>Applies normalizers in order.</summary>
internal sealed class SequenceNormalizer(Normalizer[] items) : Normalizer
{
    public override void Normalize(TextBuffer src, TextBuffer dst)
    {
        // Ping-pong between dst and a private spare; the result must end in dst.
        var a = new TextBuffer();
        a.Reserve(src.Length);
        src.Chars.AsSpan(0, src.Length).CopyTo(a.Chars);
        src.Start.AsSpan(0, src.Length).CopyTo(a.Start);
        src.End.AsSpan(0, src.Length).CopyTo(a.End);
        a.Length = src.Length;
        var b = new TextBuffer();
        foreach (var n in items)
        {
            b.Clear();
            n.Normalize(a, b);
            (a, b) = (b, a);
        }
        dst.Clear();
        dst.Reserve(a.Length);
        for (int i = 0; i < a.Length; i++) dst.Append(a.Chars[i], a.Start[i], a.End[i]);
    }
}

/// <summary>
/// Unicode normalization forms (NFC, NFD, NFKC, NFKD) by <see cref="UnicodeNormalization"/> (generated tables: .NET's
/// own <see cref="string.Normalize(NormalizationForm)"/> is a no-op under InvariantGlobalization). The text is
/// normalized in clusters that start at an ASCII character (which never composes with what precedes it, and which
/// normalization leaves as is), so the result equals normalizing the whole string while each output character keeps
/// the range of its cluster.
/// </summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : Normalizer
{
    public NormalizationForm Form { get; } = form;

    public override void Normalize(TextBuffer src, TextBuffer dst)
    {
        int n = src.Length;
        int i = 0;
        while (i < n)
        {
            char c = src.Chars[i];
            int j = i + 1;
            while (j < n && src.Chars[j] >= 0x80) j++;
            if (j == i + 1 && c < 0x80) { dst.Append(c, src.Start[i], src.End[i]); i = j; continue; }
            string norm = UnicodeNormalization.Normalize(src.Chars.AsSpan(i, j - i), Form);
            int os = src.Start[i], oe = src.End[j - 1];
            foreach (char ch in norm) dst.Append(ch, os, oe);
            i = j;
        }
    }
}

/// <summary>
/// <c>Lowercase</c> (normalizers/utils.rs → NormalizedString::lowercase): each code point through Rust
/// <c>char::to_lowercase</c>, without context, so word-final Σ becomes σ (not ς); only İ expands (to i + U+0307).
/// </summary>
internal sealed class LowercaseNormalizer : Normalizer
{
    public override void Normalize(TextBuffer src, TextBuffer dst)
    {
        var s = src.Chars.AsSpan(0, src.Length);
        Span<char> tmp = stackalloc char[2];
        for (int i = 0; i < s.Length;)
        {
            int cp = UnicodeClasses.CodePointAt(s, i, out int w);
            int os = src.Start[i], oe = src.End[i + w - 1];
            if (cp == 0x130) { dst.Append('i', os, oe); dst.Append('\u0307', os, oe); }
            else if (w == 1) dst.Append(char.ToLowerInvariant(s[i]), os, oe);
            else
            {
                var r = System.Text.Rune.ToLowerInvariant(new System.Text.Rune(cp));
                int k = r.EncodeToUtf16(tmp);
                for (int t = 0; t < k; t++) dst.Append(tmp[t], os, oe);
            }
            i += w;
        }
    }
}

/// <summary><c>Replace</c>: every match of a literal or regex pattern becomes <c>content</c> (normalizers/replace.rs).</summary>
internal sealed class ReplaceNormalizer(OnigurumaRegex pattern, string content) : Normalizer
{
    public override void Normalize(TextBuffer src, TextBuffer dst)
    {
        var matches = new List<(int, int)>();
        pattern.FindMatches(src.Chars.AsSpan(0, src.Length), matches, EncodeScratch.Current);
        int last = 0;
        foreach (var (ms, me) in matches)
        {
            for (int i = last; i < ms; i++) dst.Append(src.Chars[i], src.Start[i], src.End[i]);
            if (me > ms)
            {
                // The replacement takes the range of the text it replaces.
                int os = src.Start[ms], oe = src.End[me - 1];
                foreach (char ch in content) dst.Append(ch, os, oe);
            }
            last = me;
        }
        for (int i = last; i < src.Length; i++) dst.Append(src.Chars[i], src.Start[i], src.End[i]);
    }
}

/// <summary><c>Prepend</c>: puts a string before non-empty text (normalizers/prepend.rs).</summary>
internal sealed class PrependNormalizer(string prepend) : Normalizer
{
    public override void Normalize(TextBuffer src, TextBuffer dst)
    {
        if (src.Length > 0)
            foreach (char ch in prepend) dst.Append(ch, src.Start[0], src.Start[0]);
        for (int i = 0; i < src.Length; i++) dst.Append(src.Chars[i], src.Start[i], src.End[i]);
    }
}

/// <summary><c>Strip</c>: removes leading and/or trailing whitespace (normalizers/strip.rs).</summary>
internal sealed class StripNormalizer(bool left, bool right) : Normalizer
{
    public override void Normalize(TextBuffer src, TextBuffer dst)
    {
        var s = src.Chars.AsSpan(0, src.Length);
        int a = 0, b = s.Length;
        if (left) while (a < b && UnicodeClasses.IsWhiteSpace(UnicodeClasses.CodePointAt(s, a, out int w))) a += w;
        if (right) while (b > a && UnicodeClasses.IsWhiteSpace(s[b - 1])) b--;
        for (int i = a; i < b; i++) dst.Append(src.Chars[i], src.Start[i], src.End[i]);
    }
}
