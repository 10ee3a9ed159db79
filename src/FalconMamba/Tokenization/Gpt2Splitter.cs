namespace FalconMamba.Tokenization;

/// <summary>
/// Hand-written matcher for the GPT-2 pre-tokenizer regex used by HF ByteLevel
/// (<c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>, tokenizers
/// pre_tokenizers/byte_level.rs), on whole code points so that letters and digits outside the BMP still count.
/// Scalar reference: the same pattern through .NET Regex on BMP-only text (tested against each other).
/// </summary>
internal static class Gpt2Splitter
{
    /// <summary>The pattern as written in tokenizers (for the reference test and documentation).</summary>
    public const string Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>End (exclusive) of the match that starts at <paramref name="i"/>; every position starts a match.</summary>
    public static int Next(ReadOnlySpan<char> s, int i)
    {
        int len = s.Length;
        char c0 = s[i];
        if (c0 == '\'' && i + 1 < len)
        {
            char n = s[i + 1];
            if (n is 's' or 't' or 'm' or 'd') return i + 2;
            if (i + 2 < len)
            {
                char n2 = s[i + 2];
                if ((n == 'r' && n2 == 'e') || (n == 'v' && n2 == 'e') || (n == 'l' && n2 == 'l')) return i + 3;
            }
        }
        int start = i;
        if (c0 == ' ' && i + 1 < len)
        {
            int cp1 = UnicodeClasses.CodePointAt(s, i + 1, out _);
            if (!UnicodeClasses.IsWhiteSpace(cp1)) start = i + 1; // the optional leading space of the next three rules
        }
        int cp = UnicodeClasses.CodePointAt(s, start, out int w);
        if (UnicodeClasses.IsLetter(cp)) return Run(s, start + w, Kind.Letter);
        if (UnicodeClasses.IsNumber(cp)) return Run(s, start + w, Kind.Number);
        if (!UnicodeClasses.IsWhiteSpace(cp)) return Run(s, start + w, Kind.Other);

        // Whitespace at i: \s+(?!\S) takes the run, backing off one character when a non-space follows; \s+ otherwise.
        int j = Run(s, i + 1, Kind.Space);
        if (j == len) return j;
        return j - 1 > i ? j - 1 : j; // whitespace characters are all in the BMP, so "one character" is one unit
    }

    enum Kind { Letter, Number, Other, Space }

    static int Run(ReadOnlySpan<char> s, int j, Kind kind)
    {
        while (j < s.Length)
        {
            char c = s[j];
            if (c < 0x80)
            {
                // ASCII fast path.
                bool ok = kind switch
                {
                    Kind.Letter => char.IsAsciiLetter(c),
                    Kind.Number => char.IsAsciiDigit(c),
                    Kind.Space => c is ' ' or (>= '\t' and <= '\r'),
                    _ => !char.IsAsciiLetterOrDigit(c) && c is not (' ' or (>= '\t' and <= '\r')),
                };
                if (!ok) return j;
                j++;
                continue;
            }
            int cp = UnicodeClasses.CodePointAt(s, j, out int w);
            bool match = kind switch
            {
                Kind.Letter => UnicodeClasses.IsLetter(cp),
                Kind.Number => UnicodeClasses.IsNumber(cp),
                Kind.Space => UnicodeClasses.IsWhiteSpace(cp),
                _ => !UnicodeClasses.IsLetter(cp) && !UnicodeClasses.IsNumber(cp) && !UnicodeClasses.IsWhiteSpace(cp),
            };
            if (!match) return j;
            j += w;
        }
        return j;
    }
}
