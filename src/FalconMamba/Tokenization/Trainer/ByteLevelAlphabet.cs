namespace FalconMamba.Tokenization.Trainer;

/// <summary>
/// GPT-2's byte ↔ printable-character table used by byte-level BPE (openai/gpt-2 encoder.py <c>bytes_to_unicode</c>,
/// HF tokenizers <c>ByteLevel</c>): printable Latin-1 bytes map to themselves, the other 68 to U+0100 upward.
/// </summary>
public static class ByteLevelAlphabet
{
    /// <summary>byte → character.</summary>
    public static readonly char[] ByteToChar = Build();

    static char[] Build()
    {
        var map = new char[256];
        var direct = new bool[256];
        for (int b = '!'; b <= '~'; b++) direct[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) direct[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) direct[b] = true;
        int next = 256;
        for (int b = 0; b < 256; b++) map[b] = direct[b] ? (char)b : (char)next++;
        return map;
    }
}
