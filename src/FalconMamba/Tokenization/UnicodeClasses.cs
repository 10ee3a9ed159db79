using System.Globalization;
using System.Runtime.CompilerServices;

namespace FalconMamba.Tokenization;

/// <summary>
/// Character classes on whole code points, as the Rust tokenizers and Oniguruma see them. .NET regex and
/// <see cref="char"/> helpers look at UTF-16 units, so a letter outside the BMP (a surrogate pair) would not count
/// as a letter; everything here takes an <see cref="int"/> code point instead.
/// </summary>
internal static class UnicodeClasses
{
    // Per-category bit masks (UnicodeCategory enum values).
    const int LetterMask = (1 << (int)UnicodeCategory.UppercaseLetter) | (1 << (int)UnicodeCategory.LowercaseLetter)
        | (1 << (int)UnicodeCategory.TitlecaseLetter) | (1 << (int)UnicodeCategory.ModifierLetter) | (1 << (int)UnicodeCategory.OtherLetter);
    const int NumberMask = (1 << (int)UnicodeCategory.DecimalDigitNumber) | (1 << (int)UnicodeCategory.LetterNumber)
        | (1 << (int)UnicodeCategory.OtherNumber);
    const int PunctuationMask = (1 << (int)UnicodeCategory.ConnectorPunctuation) | (1 << (int)UnicodeCategory.DashPunctuation)
        | (1 << (int)UnicodeCategory.OpenPunctuation) | (1 << (int)UnicodeCategory.ClosePunctuation)
        | (1 << (int)UnicodeCategory.InitialQuotePunctuation) | (1 << (int)UnicodeCategory.FinalQuotePunctuation)
        | (1 << (int)UnicodeCategory.OtherPunctuation);
    const int MarkMask = (1 << (int)UnicodeCategory.NonSpacingMark) | (1 << (int)UnicodeCategory.SpacingCombiningMark)
        | (1 << (int)UnicodeCategory.EnclosingMark);

    // Class bits for the BMP, computed once: 1 letter, 2 number, 4 whitespace, 8 punctuation (Rust is_punc), 16 mark.
    const byte L = 1, N = 2, S = 4, P = 8, M = 16;
    static readonly byte[] Bmp = BuildBmp();

    static byte[] BuildBmp()
    {
        var t = new byte[0x10000];
        for (int c = 0; c < 0x10000; c++)
        {
            if (c is >= 0xD800 and <= 0xDFFF) continue;
            t[c] = Compute(c);
        }
        return t;
    }

    static byte Compute(int cp)
    {
        int bit = 1 << (int)CharUnicodeInfo.GetUnicodeCategory(cp);
        byte r = 0;
        if ((bit & LetterMask) != 0) r |= L;
        if ((bit & NumberMask) != 0) r |= N;
        if ((bit & MarkMask) != 0) r |= M;
        if (IsWhiteSpaceProperty(cp)) r |= S;
        // Rust pre_tokenizers::punctuation::is_punc: char::is_ascii_punctuation || Unicode P* categories.
        if ((bit & PunctuationMask) != 0 || (cp < 0x80 && char.IsAsciiLetterOrDigit((char)cp) == false && cp > 0x20 && cp < 0x7F)) r |= P;
        return r;
    }

    /// <summary>The Unicode White_Space property (Rust <c>char::is_whitespace</c>, Oniguruma/Rust-regex <c>\s</c>).</summary>
    static bool IsWhiteSpaceProperty(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D => true,
        0x20 or 0x85 or 0xA0 or 0x1680 or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        >= 0x2000 and <= 0x200A => true,
        _ => false,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static byte Classes(int cp) => cp < 0x10000 ? Bmp[cp] : Compute(cp);

    /// <summary><c>\p{L}</c>.</summary>
    public static bool IsLetter(int cp) => (Classes(cp) & L) != 0;
    /// <summary><c>\p{N}</c> (Rust <c>char::is_numeric</c>: Nd, Nl, No).</summary>
    public static bool IsNumber(int cp) => (Classes(cp) & N) != 0;
    /// <summary>White_Space (<c>\s</c>).</summary>
    public static bool IsWhiteSpace(int cp) => (Classes(cp) & S) != 0;
    /// <summary>Rust tokenizers' <c>is_punc</c>: ASCII punctuation or a Unicode P* category.</summary>
    public static bool IsPunctuation(int cp) => (Classes(cp) & P) != 0;

    /// <summary>
    /// Rust regex <c>\w</c> (Unicode): Alphabetic, marks, Nd, Pc, Join_Control. Alphabetic = L + Nl + Other_Alphabetic;
    /// Other_Alphabetic outside the marks is approximated by the circled/squared Latin letters (So) that carry it.
    /// </summary>
    public static bool IsWordChar(int cp)
    {
        byte c = Classes(cp);
        if ((c & (L | M)) != 0) return true;
        var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.ConnectorPunctuation
            || cp is 0x200C or 0x200D or (>= 0x24B6 and <= 0x24E9) or (>= 0x1F130 and <= 0x1F149) or (>= 0x1F150 and <= 0x1F169) or (>= 0x1F170 and <= 0x1F189);
    }

    /// <summary>Rust <c>char::is_alphanumeric</c> (used for added-token single_word boundaries).</summary>
    public static bool IsAlphanumeric(int cp) => (Classes(cp) & (L | N)) != 0;

    /// <summary>Reads the code point at <paramref name="i"/>; a lone surrogate reads as U+FFFD (what UTF-8 conversion makes of it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CodePointAt(ReadOnlySpan<char> s, int i, out int width)
    {
        char c = s[i];
        if (!char.IsSurrogate(c)) { width = 1; return c; }
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        width = 1;
        return 0xFFFD;
    }
}
