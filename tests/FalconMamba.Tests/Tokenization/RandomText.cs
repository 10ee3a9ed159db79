using System.Text;

namespace FalconMamba.Tests.Tokenization;

/// <summary>
/// Seeded random strings that stress a tokenizer: mixed scripts, digits of several systems, every kind of
/// whitespace, punctuation runs, contractions, emoji (surrogate pairs, ZWJ sequences), letters outside the BMP,
/// combining marks, special tokens inside text and long runs.
/// </summary>
internal sealed class RandomText(int seed, string[] specials)
{
    readonly Random _rng = new(seed);

    static readonly string[] Words = ["the", "Hello", "world", "it", "don", "tokenizer", "HTTPServer", "camelCase", "iPhone", "a", "I",
        "naïve", "café", "Ångström", "straße", "über", "façade", "ИСПЫТАНИЕ", "мир", "привет", "中文", "日本語", "한국어", "ไทย", "עברית",
        "العربية", "नमस्ते", "Ωμέγα", "ελληνικά", "ﬁnance", "Ⅻ", "x²", "ǅ", "ŉ", "İstanbul", "ΣΊΣΥΦΟΣ"];
    static readonly string[] Spaces = [" ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\u00A0", "\u3000", "\u0085", "\u2009", "\u200B",
        "\u000B", "\u000C", "\u001C", "\u2028", "\u202F", "\u1680", "\u0000", " \n ", "   \t"];
    static readonly string[] Puncts = ["!", "!!!", "?", ".", "...", ",", ";", ":", "'", "\"", "(", ")", "[", "]", "{", "}", "-", "--", "—",
        "…", "«", "»", "“", "”", "¿", "¡", "$", "+", "<", "=", ">", "^", "`", "|", "~", "@", "#", "%", "&", "*", "/", "\\", "_", "。", "、",
        "،", "·", "•", "€", "£", "©", "®", "°", "±", "×", "→"];
    static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "n't", "'x"];
    static readonly string[] Numbers = ["0", "7", "42", "123", "1234", "1234567", "3.14159", "1,000,000", "2024-01-01", "½", "¼", "¾",
        "٣٤٥", "१२३", "๑๒๓", "⑦", "²³", "0x1F", "1e-9", "10%", "$5.00", "９９"];
    static readonly string[] Emoji = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "❤️", "✅", "🇫🇷", "🦀", "🤖", "🧑🏾‍🚀", "☕"];
    static readonly string[] Astral = ["𝐀𝐁𝐂", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀀𠀁", "𝟙𝟚𝟛", "𐍈", "𓀀", "𒀀"];
    static readonly string[] Marks = ["e\u0301", "a\u0308", "A\u030A", "n\u0303", "\u0301", "o\u0302\u0323", "\u093F"];

    public string Next()
    {
        var sb = new StringBuilder();
        int parts = _rng.Next(1, 18);
        for (int p = 0; p < parts; p++)
        {
            int k = _rng.Next(100);
            string piece = k switch
            {
                < 22 => Pick(Words),
                < 36 => Pick(Spaces),
                < 46 => Pick(Puncts),
                < 52 => Pick(Contractions),
                < 62 => Pick(Numbers),
                < 68 => Pick(Emoji),
                < 72 => Pick(Astral),
                < 77 => Pick(Marks),
                < 81 => specials.Length > 0 ? Pick(specials) : "x",
                < 83 => new string(Pick(["a", " ", "\n", "!", "1", "é", "中"])[0], _rng.Next(20, 400)),
                < 85 => Repeat(Pick(["ab", "😀", "ha", " a", "12", "-="]), _rng.Next(10, 120)),
                < 87 => Pick(["\uFFFD", "\u00AD", "\u2060", "\uFEFF"]),
                < 95 => RandomChars(_rng.Next(1, 8)),
                _ => " " + Pick(Words),
            };
            sb.Append(piece);
        }
        return sb.ToString();
    }

    string Pick(string[] a) => a[_rng.Next(a.Length)];

    static string Repeat(string s, int n) => string.Concat(Enumerable.Repeat(s, n));

    string RandomChars(int n)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++)
        {
            int cp = _rng.Next(4) switch
            {
                0 => _rng.Next(0x20, 0x7F),
                1 => _rng.Next(0xA0, 0x800),
                2 => _rng.Next(0x800, 0xD800),
                _ => _rng.Next(0x10000, 0x2FFFF),
            };
            if (cp is >= 0xD800 and <= 0xDFFF) cp = 'x';
            sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }
}
