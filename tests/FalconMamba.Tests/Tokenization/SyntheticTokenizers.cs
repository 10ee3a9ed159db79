using System.Text.Json;
using System.Text.Json.Nodes;

namespace FalconMamba.Tests.Tokenization;

/// <summary>
/// tokenizer.json files in other styles, built here (nothing trained): byte-level vocabularies from the first
/// merges of the Falcon file, SentencePiece-like ones from a word list merged left to right.
/// </summary>
internal static class SyntheticTokenizers
{
    static JsonObject Obj(params (string Key, JsonNode? Value)[] kv)
    {
        var o = new JsonObject();
        foreach (var (k, v) in kv) o[k] = v;
        return o;
    }

    static JsonObject Added(int id, string content, bool special, bool lstrip = false, bool rstrip = false, bool normalized = false, bool singleWord = false) =>
        Obj(("id", id), ("content", content), ("single_word", singleWord), ("lstrip", lstrip), ("rstrip", rstrip), ("normalized", normalized), ("special", special));

    /// <summary>
    /// GPT-NeoX style: ByteLevel pre-tokenizer (with prefix space), post-processor and decoder; the NFC normalizer of
    /// the real NeoX file when <paramref name="nfc"/> (needs ICU, see UnicodeNormalizer).
    /// </summary>
    public static string NeoXStyle(string falconJsonPath, bool nfc, int mergeCount = 3000)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(falconJsonPath));
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++) vocab[ByteChar(b)] = vocab.Count;
        var merges = new JsonArray();
        foreach (var m in doc.RootElement.GetProperty("model").GetProperty("merges").EnumerateArray())
        {
            string s = m.ValueKind == JsonValueKind.String ? m.GetString()! : m[0].GetString() + " " + m[1].GetString();
            int sp = s.IndexOf(' ');
            string a = s[..sp], c = s[(sp + 1)..];
            if (!vocab.ContainsKey(a) || !vocab.ContainsKey(c) || vocab.ContainsKey(a + c)) continue;
            vocab[a + c] = vocab.Count;
            // The list form here; the SentencePiece-style files use the legacy "a b" form (one file cannot mix them).
            merges.Add(new JsonArray(a, c));
            if (merges.Count == mergeCount) break;
        }
        int n = vocab.Count;
        var vocabObj = new JsonObject();
        foreach (var (k, v) in vocab) vocabObj[k] = v;
        var root = Obj(
            ("version", "1.0"), ("truncation", null), ("padding", null),
            ("added_tokens", new JsonArray(Added(n, "<|endoftext|>", true), Added(n + 1, "<mask>", true, lstrip: true),
                Added(n + 2, "Ångström", false, normalized: true), Added(n + 3, "foo", false, singleWord: true, rstrip: true))),
            ("normalizer", nfc ? Obj(("type", "NFC")) : null),
            ("pre_tokenizer", Obj(("type", "ByteLevel"), ("add_prefix_space", true), ("trim_offsets", true), ("use_regex", true))),
            ("post_processor", Obj(("type", "ByteLevel"), ("add_prefix_space", true), ("trim_offsets", true), ("use_regex", true))),
            ("decoder", Obj(("type", "ByteLevel"), ("add_prefix_space", true), ("trim_offsets", true), ("use_regex", true))),
            ("model", Obj(("type", "BPE"), ("dropout", null), ("unk_token", null), ("continuing_subword_prefix", null),
                ("end_of_word_suffix", null), ("fuse_unk", false), ("byte_fallback", false), ("ignore_merges", false),
                ("vocab", vocabObj), ("merges", merges))));
        return root.ToJsonString();
    }

    static string ByteChar(int b)
    {
        int n = 0;
        for (int x = 0; x < 256; x++)
        {
            bool printable = x is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            int c = printable ? x : 256 + n++;
            if (x == b) return ((char)c).ToString();
        }
        throw new ArgumentOutOfRangeException(nameof(b));
    }

    static readonly string[] SpmWords = ["▁the", "▁and", "▁hello", "▁Hello", "▁world", "ing", "▁to", "▁of", "▁a", "▁in", "tion", "er",
        "▁it", "▁is", "▁мир", "▁привет", "▁中文", "▁don", "'t", "'s", "▁▁", "▁▁▁▁", "12", "123", "▁café", "▁naïve", "▁über", "▁straße",
        "abab", "haha", "▁tokenizer", "▁camel", "Case", "▁iPhone", "ll", "▁😀", "😀😀", "ﬁ", "fi", "nance", "...", "!!", "▁İ", "σς", "ab", "ba"];

    /// <summary>SentencePiece-like vocabulary with byte fallback; <paramref name="variant"/> picks the pipeline.</summary>
    public static string SentencePieceStyle(string variant)
    {
        var vocab = new Dictionary<string, int> { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = vocab.Count;
        void Add(string t) { if (!vocab.ContainsKey(t)) vocab[t] = vocab.Count; }
        Add("▁");
        for (char c = '!'; c <= '~'; c++) Add(c.ToString());
        foreach (var w in SpmWords)
            for (int i = 0; i < w.Length;) { int len = char.IsHighSurrogate(w[i]) ? 2 : 1; Add(w.Substring(i, len)); i += len; }
        var merges = new JsonArray();
        var seen = new HashSet<string>();
        foreach (var w in SpmWords)
        {
            var chars = new List<string>();
            for (int i = 0; i < w.Length;) { int len = char.IsHighSurrogate(w[i]) ? 2 : 1; chars.Add(w.Substring(i, len)); i += len; }
            string cur = chars[0];
            for (int i = 1; i < chars.Count; i++)
            {
                string merged = cur + chars[i];
                if (seen.Add(cur + " " + chars[i])) { merges.Add(JsonValue.Create(cur + " " + chars[i])); Add(merged); }
                cur = merged;
            }
        }
        int n = vocab.Count;
        var vocabObj = new JsonObject();
        foreach (var (k, v) in vocab) vocabObj[k] = v;
        var added = new JsonArray(Added(0, "<unk>", true), Added(1, "<s>", true), Added(2, "</s>", true), Added(n, "<sep>", false, rstrip: true));

        JsonNode Metaspace(string scheme, bool split) => Obj(("type", "Metaspace"), ("replacement", "▁"), ("prepend_scheme", scheme), ("split", split));
        JsonNode Seq(string key, params JsonNode[] items) => Obj(("type", "Sequence"), (key, new JsonArray(items)));
        JsonNode Regex(string type, string pattern, string behavior, bool invert) =>
            Obj(("type", type), ("pattern", Obj(("Regex", pattern))), ("behavior", behavior), ("invert", invert));
        JsonNode Str(string type, string pattern, string behavior, bool invert) =>
            Obj(("type", type), ("pattern", Obj(("String", pattern))), ("behavior", behavior), ("invert", invert));
        JsonNode BfFuse = Seq("decoders", Obj(("type", "ByteFallback")), Obj(("type", "Fuse")));

        var seqA = Obj(("Sequence", Obj(("id", "A"), ("type_id", 0))));
        var bosItem = Obj(("SpecialToken", Obj(("id", "<s>"), ("type_id", 0))));
        var bosSpec = Obj(("id", "<s>"), ("ids", new JsonArray(1)), ("tokens", new JsonArray("<s>")));
        JsonNode template = Obj(("type", "TemplateProcessing"), ("single", new JsonArray(bosItem, seqA)),
            ("pair", new JsonArray()), ("special_tokens", Obj(("<s>", bosSpec))));
        (JsonNode? norm, JsonNode? pre, JsonNode? post, JsonNode? dec) = variant switch
        {
            "metaspace-always" => ((JsonNode?)null, Metaspace("always", true), template, Seq("decoders", Obj(("type", "ByteFallback")), Metaspace("always", true))),
            "metaspace-first" => (null, Metaspace("first", false), null, Seq("decoders", Obj(("type", "ByteFallback")), Metaspace("first", false))),
            "llama2-normalizer" => (Seq("normalizers", Obj(("type", "Prepend"), ("prepend", "▁")), Obj(("type", "Replace"), ("pattern", Obj(("String", " "))), ("content", "▁"))),
                null, null,
                Seq("decoders", Obj(("type", "Replace"), ("pattern", Obj(("String", "▁"))), ("content", " ")), Obj(("type", "ByteFallback")),
                    Obj(("type", "Fuse")), Obj(("type", "Strip"), ("content", " "), ("start", 1), ("stop", 0)))),
            "zoo-1" => (Seq("normalizers", Obj(("type", "NFKC")), Obj(("type", "Lowercase"))),
                Seq("pretokenizers", Obj(("type", "Whitespace")), Obj(("type", "Digits"), ("individual_digits", true)),
                    Obj(("type", "Punctuation"), ("behavior", "MergedWithPrevious"))),
                null, BfFuse),
            "zoo-2" => (Seq("normalizers", Obj(("type", "NFD")), Obj(("type", "Strip"), ("strip_left", true), ("strip_right", true)),
                    Obj(("type", "Replace"), ("pattern", Obj(("Regex", "[0-9]+"))), ("content", "#"))),
                Seq("pretokenizers", Obj(("type", "WhitespaceSplit")), Regex("Split", "[aeiou]", "MergedWithNext", false),
                    Str("Split", "-", "Contiguous", true), Obj(("type", "Punctuation"), ("behavior", "Removed"))),
                null, BfFuse),
            "zoo-3" => (Obj(("type", "NFKD")),
                Seq("pretokenizers", Regex("Split", @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", "Isolated", false),
                    Obj(("type", "Metaspace"), ("replacement", "▁"), ("prepend_scheme", "never"))),
                null, Seq("decoders", Obj(("type", "ByteFallback")), Obj(("type", "Metaspace"), ("replacement", "▁"), ("prepend_scheme", "never")))),
            _ => throw new ArgumentException(variant),
        };
        var root = Obj(
            ("version", "1.0"), ("truncation", null), ("padding", null), ("added_tokens", added),
            ("normalizer", norm), ("pre_tokenizer", pre), ("post_processor", post), ("decoder", dec),
            ("model", Obj(("type", "BPE"), ("dropout", null), ("unk_token", "<unk>"), ("continuing_subword_prefix", null),
                ("end_of_word_suffix", null), ("fuse_unk", true), ("byte_fallback", true), ("ignore_merges", false),
                ("vocab", vocabObj), ("merges", merges))));
        return root.ToJsonString();
    }

    static readonly string[] AffixWords = ["hello", "world", "the", "token", "tokenizer", "lower", "newest", "widest", "low", "ab", "aaa", "a", "café"];

    /// <summary>
    /// BPE with <c>continuing_subword_prefix</c> "##" (WordPiece-like) or <c>end_of_word_suffix</c> "&lt;/w&gt;" (CLIP-like),
    /// words split on whitespace; <paramref name="ignoreMerges"/> sets <c>ignore_merges</c>.
    /// </summary>
    public static string AffixStyle(bool prefix, bool ignoreMerges)
    {
        var vocab = new Dictionary<string, int> { ["[UNK]"] = 0 };
        void Add(string t) { if (!vocab.ContainsKey(t)) vocab[t] = vocab.Count; }
        string P(int i, int n) => prefix && i > 0 ? "##" : "";
        string S(int i, int n) => !prefix && i == n - 1 ? "</w>" : "";
        // Every ASCII printable character in every position form.
        for (char c = '!'; c <= '~'; c++) { Add(c.ToString()); Add(prefix ? "##" + c : c + "</w>"); }
        var merges = new JsonArray();
        var seen = new HashSet<string>();
        foreach (var w in AffixWords)
        {
            int n = w.Length;
            var sym = Enumerable.Range(0, n).Select(i => P(i, n) + w[i] + S(i, n)).ToList();
            foreach (var t in sym) Add(t);
            string cur = sym[0];
            for (int i = 1; i < n; i++)
            {
                string b = sym[i];
                string merged = cur + (prefix ? b[2..] : b);
                if (seen.Add(cur + " " + b)) merges.Add(JsonValue.Create(cur + " " + b));
                Add(merged);
                cur = merged;
            }
        }
        var vocabObj = new JsonObject();
        foreach (var (k, v) in vocab) vocabObj[k] = v;
        var root = Obj(
            ("version", "1.0"), ("truncation", null), ("padding", null), ("added_tokens", new JsonArray(Added(0, "[UNK]", true))),
            ("normalizer", null), ("pre_tokenizer", Obj(("type", "WhitespaceSplit"))), ("post_processor", null),
            ("decoder", Obj(("type", "Fuse"))),
            ("model", Obj(("type", "BPE"), ("dropout", null), ("unk_token", "[UNK]"), ("continuing_subword_prefix", prefix ? "##" : null),
                ("end_of_word_suffix", prefix ? null : "</w>"), ("fuse_unk", false), ("byte_fallback", false), ("ignore_merges", ignoreMerges),
                ("vocab", vocabObj), ("merges", merges))));
        return root.ToJsonString();
    }
}
