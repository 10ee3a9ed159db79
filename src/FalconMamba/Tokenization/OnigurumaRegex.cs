using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace FalconMamba.Tokenization;

/// <summary>
/// A tokenizer.json regex (written for Oniguruma, which tokenizers uses for <c>Split</c>) run by .NET Regex.
/// The syntaxes agree on what tokenizers use (<c>\p{L}</c>, <c>(?i:…)</c>, lookahead, <c>\s</c> = White_Space);
/// <c>\x{HHHH}</c> and <c>\h</c> are translated, possessive quantifiers and <c>\p{^X}</c> are rejected or rewritten.
/// .NET matches UTF-16 units, so a character outside the BMP would not match <c>\p{L}</c>: when the pattern uses
/// Unicode classes, such characters are replaced while matching by a BMP stand-in of the same general category
/// (one unit for two), and match offsets are mapped back.
/// </summary>
internal sealed class OnigurumaRegex
{
    readonly Regex _regex;
    readonly bool _usesClasses;

    /// <summary>The pattern as written in the file.</summary>
    public string Source { get; }

    OnigurumaRegex(string source, Regex regex, bool usesClasses) { Source = source; _regex = regex; _usesClasses = usesClasses; }

    /// <summary>Compiles an Oniguruma pattern; <paramref name="where"/> names the file and field for errors.</summary>
    public static OnigurumaRegex Compile(string pattern, string where)
    {
        string translated = Translate(pattern, where, out bool usesClasses);
        try
        {
            return new OnigurumaRegex(pattern, new Regex(translated, RegexOptions.CultureInvariant | RegexOptions.Compiled), usesClasses);
        }
        catch (ArgumentException e)
        {
            throw new ModelFormatException($"{where}: regex '{pattern}' is not supported ({e.Message})", e);
        }
    }

    /// <summary>A literal string pattern (HF <c>{"String": ...}</c>).</summary>
    public static OnigurumaRegex Literal(string text) =>
        new(text, new Regex(Regex.Escape(text), RegexOptions.CultureInvariant | RegexOptions.Compiled), false);

    internal static string Translate(string p, string where, out bool usesClasses)
    {
        usesClasses = false;
        var sb = new StringBuilder(p.Length + 8);
        bool inClass = false;
        for (int i = 0; i < p.Length; i++)
        {
            char c = p[i];
            if (c == '[') inClass = true;
            else if (c == ']') inClass = false;
            if (c == '\\' && i + 1 < p.Length)
            {
                char n = p[i + 1];
                if (n is 'p' or 'P' or 'w' or 'W' or 'd' or 'D' or 'b' or 'B') usesClasses = true;
                if (n == 'x' && i + 2 < p.Length && p[i + 2] == '{')
                {
                    int close = p.IndexOf('}', i + 3);
                    if (close < 0 || !int.TryParse(p.AsSpan(i + 3, close - i - 3), NumberStyles.HexNumber, null, out int cp) || cp > 0x10FFFF)
                        throw new ModelFormatException($"{where}: bad \\x{{…}} escape in regex '{p}'");
                    foreach (char u in char.ConvertFromUtf32(cp)) sb.Append($"\\u{(int)u:X4}");
                    i = close;
                    continue;
                }
                if (n == 'h') { sb.Append("[0-9a-fA-F]"); i++; continue; }
                if (n == 'H') { sb.Append("[^0-9a-fA-F]"); i++; continue; }
                if ((n == 'p' || n == 'P') && i + 3 < p.Length && p[i + 2] == '{' && p[i + 3] == '^')
                {
                    sb.Append(n == 'p' ? "\\P{" : "\\p{");
                    i += 3;
                    continue;
                }
                sb.Append(c).Append(n);
                i++;
                continue;
            }
            if (!inClass && c == '+' && i > 0 && p[i - 1] is '*' or '+' or '?' && !(i >= 2 && p[i - 2] == '\\'))
                throw new ModelFormatException($"{where}: regex '{p}' uses a possessive quantifier, which .NET Regex does not support");
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Appends the <c>[start, end)</c> of every match in <paramref name="text"/> (leftmost, non-overlapping, as Oniguruma's search loop).</summary>
    public void FindMatches(ReadOnlySpan<char> text, List<(int, int)> matches, EncodeScratch scratch)
    {
        if (!_usesClasses || text.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            foreach (var m in _regex.EnumerateMatches(text)) matches.Add((m.Index, m.Index + m.Length));
            return;
        }
        // Stand-ins for astral characters; map[k] = index in text of stand-in text position k (plus the end).
        var buf = scratch.RegexChars;
        var map = scratch.RegexMap;
        if (buf.Length < text.Length + 1) { buf = scratch.RegexChars = new char[text.Length * 2 + 1]; map = scratch.RegexMap = new int[text.Length * 2 + 2]; }
        int n = 0;
        for (int i = 0; i < text.Length;)
        {
            int cp = UnicodeClasses.CodePointAt(text, i, out int w);
            map[n] = i;
            buf[n++] = cp < 0x10000 ? text[i] : StandIn(cp);
            i += w;
        }
        map[n] = text.Length;
        foreach (var m in _regex.EnumerateMatches(buf.AsSpan(0, n))) matches.Add((map[m.Index], map[m.Index + m.Length]));
    }

    static readonly char[] StandIns = BuildStandIns();

    static char StandIn(int cp) => StandIns[(int)CharUnicodeInfo.GetUnicodeCategory(cp)];

    static char[] BuildStandIns()
    {
        // For each general category, a BMP character of that category (searching from U+2C00 so that common
        // Latin letters a pattern might name literally are not picked).
        var t = new char[32];
        var found = new bool[32];
        for (int pass = 0; pass < 2; pass++)
            for (int c = pass == 0 ? 0x2C00 : 0x100; c < (pass == 0 ? 0x10000 : 0x2C00); c++)
            {
                if (c is >= 0xD800 and <= 0xDFFF) continue;
                int cat = (int)CharUnicodeInfo.GetUnicodeCategory(c);
                if (!found[cat]) { found[cat] = true; t[cat] = (char)c; }
            }
        return t;
    }
}
