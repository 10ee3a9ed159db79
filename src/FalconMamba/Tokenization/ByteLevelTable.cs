namespace FalconMamba.Tokenization;

/// <summary>
/// GPT-2's reversible byte → printable character table (openai/gpt-2 encoder.py <c>bytes_to_unicode</c>, used by HF
/// ByteLevel): printable Latin-1 bytes <c>!</c>..<c>~</c>, <c>¡</c>..<c>¬</c>, <c>®</c>..<c>ÿ</c> map to themselves;
/// the other 68 bytes map to U+0100, U+0101, … in byte order (space → <c>Ġ</c>, newline → <c>Ċ</c>).
/// </summary>
internal static class ByteLevelTable
{
    /// <summary>Byte → character.</summary>
    public static readonly char[] ByteToChar = Build();

    /// <summary>Character → byte, or -1 when the character is not in the table (U+0000..U+0143 range checked).</summary>
    public static readonly short[] CharToByte = BuildInverse();

    static char[] Build()
    {
        var t = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            t[b] = printable ? (char)b : (char)(256 + n++);
        }
        return t;
    }

    static short[] BuildInverse()
    {
        var inv = new short[0x144];
        Array.Fill(inv, (short)-1);
        for (int b = 0; b < 256; b++) inv[ByteToChar[b]] = (short)b;
        return inv;
    }

    /// <summary>The byte for a table character, or -1.</summary>
    public static int ToByte(char c) => c < CharToByte.Length ? CharToByte[c] : -1;
}
