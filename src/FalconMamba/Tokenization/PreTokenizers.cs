namespace FalconMamba.Tokenization;

/// <summary>
/// A pre-tokenizer stage: refines the pieces of a <see cref="TextBuffer"/> (pieces with a fixed token id, i.e. added
/// tokens, pass through untouched). Stages that change the text (ByteLevel, Metaspace) rebuild the buffer.
/// Semantics follow tokenizers' <c>pre_tokenizers/*.rs</c>; each class names its source.
/// </summary>
internal abstract class PreTokenizer
{
    /// <summary>Runs the stage over every free piece of <paramref name="buf"/>.</summary>
    public abstract void PreTokenize(TextBuffer buf, EncodeScratch scratch);

    /// <summary>Splits each free piece into parts with <paramref name="findParts"/> and applies the behavior.</summary>
    protected static void SplitEach(TextBuffer buf, EncodeScratch scratch, SplitBehavior behavior, Action<TextBuffer, int, int, List<(int, int, bool)>> findParts)
    {
        var output = scratch.Pieces;
        output.Clear();
        foreach (var piece in buf.Pieces)
        {
            if (piece.Id >= 0) { output.Add(piece); continue; }
            scratch.Parts.Clear();
            findParts(buf, piece.Start, piece.End, scratch.Parts);
            SplitParts.Emit(scratch.Parts, behavior, output);
        }
        (buf.Pieces, scratch.Pieces) = (output, buf.Pieces);
    }

    /// <summary>Parts from a per-code-point predicate: each matching code point is its own matched part (pattern.rs, <c>impl Pattern for Fn(char)</c>).</summary>
    protected static void PredicateParts(TextBuffer buf, int start, int end, List<(int, int, bool)> parts, Func<int, bool> isMatch)
    {
        ReadOnlySpan<char> s = buf.Chars.AsSpan(0, end);
        int last = start;
        for (int i = start; i < end;)
        {
            int cp = UnicodeClasses.CodePointAt(s, i, out int w);
            if (isMatch(cp))
            {
                if (last < i) parts.Add((last, i, false));
                parts.Add((i, i + w, true));
                last = i + w;
            }
            i += w;
        }
        if (last < end) parts.Add((last, end, false));
    }
}

/// <summary>Runs stages in order (<c>Sequence</c>).</summary>
internal sealed class SequencePreTokenizer(PreTokenizer[] stages) : PreTokenizer
{
    public PreTokenizer[] Stages { get; } = stages;

    public override void PreTokenize(TextBuffer buf, EncodeScratch scratch)
    {
        foreach (var s in Stages) s.PreTokenize(buf, scratch);
    }
}

/// <summary>Splits off punctuation (<c>Punctuation</c>, punctuation.rs: ASCII punctuation or Unicode P*).</summary>
internal sealed class PunctuationPreTokenizer(SplitBehavior behavior) : PreTokenizer
{
    static readonly Func<int, bool> IsPunc = UnicodeClasses.IsPunctuation;

    public override void PreTokenize(TextBuffer buf, EncodeScratch scratch) =>
        SplitEach(buf, scratch, behavior, (b, s, e, parts) => PredicateParts(b, s, e, parts, IsPunc));
}

/// <summary>Splits off numeric characters (<c>Digits</c>, digits.rs: Isolated when individual_digits, else Contiguous).</summary>
internal sealed class DigitsPreTokenizer(bool individualDigits) : PreTokenizer
{
    static readonly Func<int, bool> IsNum = UnicodeClasses.IsNumber;

    public override void PreTokenize(TextBuffer buf, EncodeScratch scratch) =>
        SplitEach(buf, scratch, individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous,
            (b, s, e, parts) => PredicateParts(b, s, e, parts, IsNum));
}

/// <summary>Splits on whitespace and drops it (<c>WhitespaceSplit</c>, whitespace.rs).</summary>
internal sealed class WhitespaceSplitPreTokenizer : PreTokenizer
{
    static readonly Func<int, bool> IsSpace = UnicodeClasses.IsWhiteSpace;

    public override void PreTokenize(TextBuffer buf, EncodeScratch scratch) =>
        SplitEach(buf, scratch, SplitBehavior.Removed, (b, s, e, parts) => PredicateParts(b, s, e, parts, IsSpace));
}

/// <summary>
/// <c>Whitespace</c> (whitespace.rs): keeps the matches of <c>\w+|[^\w\s]+</c> and drops the rest, with Rust-regex
/// Unicode <c>\w</c> (<see cref="UnicodeClasses.IsWordChar"/>).
/// </summary>
internal sealed class WhitespacePreTokenizer : PreTokenizer
{
    public override void PreTokenize(TextBuffer buf, EncodeScratch scratch) =>
        SplitEach(buf, scratch, SplitBehavior.Removed, static (b, start, end, parts) =>
        {
            ReadOnlySpan<char> s = b.Chars.AsSpan(0, end);
            int i = start, last = start;
            while (i < end)
            {
                int cp = UnicodeClasses.CodePointAt(s, i, out int w);
                if (UnicodeClasses.IsWhiteSpace(cp)) { i += w; continue; }
                bool word = UnicodeClasses.IsWordChar(cp);
                int j = i + w;
                while (j < end)
                {
                    int cp2 = UnicodeClasses.CodePointAt(s, j, out int w2);
                    if (UnicodeClasses.IsWhiteSpace(cp2) || UnicodeClasses.IsWordChar(cp2) != word) break;
                    j += w2;
                }
                // The regex matches are the kept (unmatched after inversion) parts; the gaps are removed.
                if (last < i) parts.Add((last, i, true));
                parts.Add((i, j, false));
                last = i = j;
            }
            if (last < end) parts.Add((last, end, true));
        });
}

/// <summary>
/// <c>Split</c> (split.rs): splits on a literal string or an Oniguruma regex (translated to .NET by
/// <see cref="OnigurumaRegex"/>), with a behavior and optional inversion.
/// </summary>
internal sealed class SplitPreTokenizer(OnigurumaRegex regex, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override void PreTokenize(TextBuffer buf, EncodeScratch scratch)
    {
        var output = scratch.Pieces;
        output.Clear();
        var parts = scratch.Parts;
        var matches = scratch.Matches;
        foreach (var piece in buf.Pieces)
        {
            if (piece.Id >= 0) { output.Add(piece); continue; }
            int start = piece.Start, end = piece.End, last = start;
            parts.Clear();
            matches.Clear();
            regex.FindMatches(buf.Chars.AsSpan(start, end - start), matches, scratch);
            foreach (var (ms, me) in matches)
            {
                if (last < start + ms) parts.Add((last, start + ms, invert));
                parts.Add((start + ms, start + me, !invert));
                last = start + me;
            }
            if (last < end) parts.Add((last, end, invert));
            SplitParts.Emit(parts, behavior, output);
        }
        (buf.Pieces, scratch.Pieces) = (output, buf.Pieces);
    }
}
