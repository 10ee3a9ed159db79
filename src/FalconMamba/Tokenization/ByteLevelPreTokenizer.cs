namespace FalconMamba.Tokenization;

/// <summary>
/// <c>ByteLevel</c> pre-tokenizer (tokenizers pre_tokenizers/byte_level.rs): per piece, optionally prepend a space,
/// split with the GPT-2 regex (<see cref="Gpt2Splitter"/>), then replace every UTF-8 byte by its printable stand-in
/// (<see cref="ByteLevelTable"/>). Later stages see the byte characters (all in the BMP), each carrying the original
/// range of the character it came from.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    public bool AddPrefixSpace { get; } = addPrefixSpace;
    public bool UseRegex { get; } = useRegex;

    public override void PreTokenize(TextBuffer buf, EncodeScratch scratch)
    {
        var dst = scratch.Spare;
        dst.Clear();
        dst.Reserve(buf.Length * 3 + buf.Pieces.Count + 4);
        foreach (var piece in buf.Pieces)
        {
            int s = piece.Start, e = piece.End;
            if (piece.Id >= 0)
            {
                // An added token: keep its text and offsets as they are.
                int at = dst.Length;
                for (int i = s; i < e; i++) dst.Append(buf.Chars[i], buf.Start[i], buf.End[i]);
                dst.Pieces.Add((at, dst.Length, piece.Id));
                continue;
            }
            bool prefix = AddPrefixSpace && buf.Chars[s] != ' ';
            if (!UseRegex)
            {
                int at = dst.Length;
                if (prefix) AppendByte(dst, (byte)' ', buf.Start[s], buf.Start[s]);
                AppendBytes(buf, s, e, dst);
                dst.Pieces.Add((at, dst.Length, -1));
                continue;
            }
            if (prefix)
            {
                // Rare path: scan " " + piece in a scratch copy; index k in it is buffer index s + k - 1.
                var tmp = scratch.PrefixChars;
                if (tmp.Length < e - s + 1) tmp = scratch.PrefixChars = new char[(e - s + 1) * 2];
                tmp[0] = ' ';
                buf.Chars.AsSpan(s, e - s).CopyTo(tmp.AsSpan(1));
                ReadOnlySpan<char> text = tmp.AsSpan(0, e - s + 1);
                for (int i = 0; i < text.Length;)
                {
                    int j = Gpt2Splitter.Next(text, i);
                    int at = dst.Length;
                    int from = i;
                    if (i == 0) { AppendByte(dst, (byte)' ', buf.Start[s], buf.Start[s]); from = 1; }
                    AppendBytes(buf, s + from - 1, s + j - 1, dst);
                    dst.Pieces.Add((at, dst.Length, -1));
                    i = j;
                }
                continue;
            }
            {
                ReadOnlySpan<char> text = buf.Chars.AsSpan(0, e);
                for (int i = s; i < e;)
                {
                    int j = Gpt2Splitter.Next(text, i);
                    int at = dst.Length;
                    AppendBytes(buf, i, j, dst);
                    dst.Pieces.Add((at, dst.Length, -1));
                    i = j;
                }
            }
        }
        buf.SwapWith(dst);
    }

    static void AppendByte(TextBuffer dst, byte b, int start, int end) => dst.Append(ByteLevelTable.ByteToChar[b], start, end);

    /// <summary>Writes the byte characters of <c>buf.Chars[s..e)</c>, each byte with the range of its code point.</summary>
    static void AppendBytes(TextBuffer buf, int s, int e, TextBuffer dst)
    {
        dst.Reserve((e - s) * 3);
        var map = ByteLevelTable.ByteToChar;
        char[] chars = dst.Chars; int[] st = dst.Start, en = dst.End;
        int n = dst.Length;
        for (int i = s; i < e;)
        {
            char c = buf.Chars[i];
            int os = buf.Start[i];
            if (c < 0x80) { chars[n] = map[c]; st[n] = os; en[n] = buf.End[i]; n++; i++; continue; }
            int cp = UnicodeClasses.CodePointAt(buf.Chars.AsSpan(0, e), i, out int w);
            int oe = buf.End[i + w - 1];
            if (cp < 0x800)
            {
                chars[n] = map[0xC0 | (cp >> 6)]; st[n] = os; en[n++] = oe;
                chars[n] = map[0x80 | (cp & 0x3F)]; st[n] = os; en[n++] = oe;
            }
            else if (cp < 0x10000)
            {
                chars[n] = map[0xE0 | (cp >> 12)]; st[n] = os; en[n++] = oe;
                chars[n] = map[0x80 | ((cp >> 6) & 0x3F)]; st[n] = os; en[n++] = oe;
                chars[n] = map[0x80 | (cp & 0x3F)]; st[n] = os; en[n++] = oe;
            }
            else
            {
                chars[n] = map[0xF0 | (cp >> 18)]; st[n] = os; en[n++] = oe;
                chars[n] = map[0x80 | ((cp >> 12) & 0x3F)]; st[n] = os; en[n++] = oe;
                chars[n] = map[0x80 | ((cp >> 6) & 0x3F)]; st[n] = os; en[n++] = oe;
                chars[n] = map[0x80 | (cp & 0x3F)]; st[n] = os; en[n++] = oe;
            }
            i += w;
        }
        dst.Length = n;
    }
}
