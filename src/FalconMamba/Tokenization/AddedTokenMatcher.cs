namespace FalconMamba.Tokenization;

/// <summary>
/// Finds added tokens in text: leftmost-longest, non-overlapping (tokenizers added_vocabulary.rs, which uses an
/// Aho-Corasick automaton in LeftmostLongest mode), then applies single_word, lstrip and rstrip.
/// </summary>
internal sealed class AddedTokenMatcher
{
    readonly Dictionary<char, AddedToken[]> _byFirstChar = new(); // candidates, longest first
    readonly bool[] _isFirst = new bool[0x10000];

    public bool IsEmpty => _byFirstChar.Count == 0;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens, Func<AddedToken, string> contentOf)
    {
        foreach (var g in tokens.Where(t => contentOf(t).Length > 0).GroupBy(t => contentOf(t)[0]))
        {
            // Several entries with the same content: the first one listed wins.
            var list = g.GroupBy(contentOf).Select(x => x.First()).OrderByDescending(t => contentOf(t).Length).ToArray();
            _byFirstChar[g.Key] = list;
            _isFirst[g.Key] = true;
        }
        _contentOf = contentOf;
    }

    readonly Func<AddedToken, string> _contentOf;

    /// <summary>
    /// Splits <paramref name="text"/> into segments (relative to it): <c>Id = -1</c> for plain text, else the token.
    /// Special tokens are skipped (left as text) when <paramref name="parseSpecial"/> is false.
    /// </summary>
    public void Split(ReadOnlySpan<char> text, bool parseSpecial, List<(int Start, int End, int Id)> segments)
    {
        int startOffset = 0;
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (!_isFirst[c]) { i++; continue; }
            AddedToken? found = null;
            foreach (var t in _byFirstChar[c])
                if (text[i..].StartsWith(_contentOf(t), StringComparison.Ordinal)) { found = t; break; }
            if (found == null) { i++; continue; }
            int start = i, stop = i + _contentOf(found).Length;
            i = stop; // the automaton consumed this match even if it is discarded below
            if (found.Special && !parseSpecial) continue;
            if (found.SingleWord)
            {
                bool startOk = start == 0 || !EndsWithWordChar(text[..start]);
                bool stopOk = stop == text.Length || !StartsWithWordChar(text[stop..]);
                if (!startOk || !stopOk) continue;
            }
            if (found.LStrip)
            {
                int s = start;
                while (s > 0 && UnicodeClasses.IsWhiteSpace(PrevCodePoint(text, s, out int w))) s -= w;
                start = Math.Max(s, startOffset);
            }
            if (found.RStrip)
            {
                while (stop < text.Length && UnicodeClasses.IsWhiteSpace(UnicodeClasses.CodePointAt(text, stop, out int w))) stop += w;
                i = stop;
            }
            if (startOffset < start) segments.Add((startOffset, start, -1));
            segments.Add((start, stop, found.Id));
            startOffset = stop;
        }
        if (startOffset < text.Length) segments.Add((startOffset, text.Length, -1));
    }

    static int PrevCodePoint(ReadOnlySpan<char> s, int end, out int width)
    {
        if (end >= 2 && char.IsLowSurrogate(s[end - 1]) && char.IsHighSurrogate(s[end - 2]))
        {
            width = 2;
            return char.ConvertToUtf32(s[end - 2], s[end - 1]);
        }
        width = 1;
        return char.IsSurrogate(s[end - 1]) ? 0xFFFD : s[end - 1];
    }

    static bool EndsWithWordChar(ReadOnlySpan<char> s) => s.Length > 0 && IsWord(PrevCodePoint(s, s.Length, out _));
    static bool StartsWithWordChar(ReadOnlySpan<char> s) => s.Length > 0 && IsWord(UnicodeClasses.CodePointAt(s, 0, out _));
    static bool IsWord(int cp) => UnicodeClasses.IsWordChar(cp);
}
