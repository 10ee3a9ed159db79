namespace FalconMamba.Tokenization;

/// <summary>When Metaspace prepends its replacement character (HF <c>PrependScheme</c>).</summary>
internal enum PrependScheme { Always, First, Never }

/// <summary>
/// <c>Metaspace</c> pre-tokenizer (tokenizers pre_tokenizers/metaspace.rs, SentencePiece style): spaces become the
/// replacement character (default <c>▁</c>), which is prepended per piece (<c>always</c>) or only to the piece at the
/// start of the input (<c>first</c>), then each piece is split before every replacement character (MergedWithNext).
/// </summary>
internal sealed class MetaspacePreTokenizer(char replacement, PrependScheme prepend, bool split) : PreTokenizer
{
    public char Replacement { get; } = replacement;
    public PrependScheme Prepend { get; } = prepend;

    public override void PreTokenize(TextBuffer buf, EncodeScratch scratch)
    {
        var dst = scratch.Spare;
        dst.Clear();
        dst.Reserve(buf.Length + buf.Pieces.Count);
        var parts = scratch.Parts;
        foreach (var piece in buf.Pieces)
        {
            int s = piece.Start, e = piece.End;
            int at = dst.Length;
            if (piece.Id >= 0)
            {
                for (int i = s; i < e; i++) dst.Append(buf.Chars[i], buf.Start[i], buf.End[i]);
                dst.Pieces.Add((at, dst.Length, piece.Id));
                continue;
            }
            char first = buf.Chars[s] == ' ' ? Replacement : buf.Chars[s];
            bool add = first != Replacement && (Prepend == PrependScheme.Always || (Prepend == PrependScheme.First && buf.Start[s] == 0));
            if (add) dst.Append(Replacement, buf.Start[s], buf.Start[s]);
            for (int i = s; i < e; i++) dst.Append(buf.Chars[i] == ' ' ? Replacement : buf.Chars[i], buf.Start[i], buf.End[i]);
            if (!split) { dst.Pieces.Add((at, dst.Length, -1)); continue; }
            parts.Clear();
            int last = at;
            for (int i = at; i < dst.Length; i++)
                if (dst.Chars[i] == Replacement)
                {
                    if (last < i) parts.Add((last, i, false));
                    parts.Add((i, i + 1, true));
                    last = i + 1;
                }
            if (last < dst.Length) parts.Add((last, dst.Length, false));
            SplitParts.Emit(parts, SplitBehavior.MergedWithNext, dst.Pieces);
        }
        buf.SwapWith(dst);
    }
}
