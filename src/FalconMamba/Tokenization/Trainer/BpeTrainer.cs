using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace FalconMamba.Tokenization.Trainer;

/// <summary>Options of <see cref="BpeTrainer"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>Final vocabulary size, special tokens and the 256 byte symbols included.</summary>
    public int VocabSize { get; init; } = 8192;
    /// <summary>A pair must occur at least this often to be merged.</summary>
    public int MinFrequency { get; init; } = 2;
    /// <summary>Special tokens, given ids 0.. in this order (eos first, then ChatML markers by default).</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    /// <summary>Worker threads for counting (0 = all cores).</summary>
    public int Threads { get; init; }
}

/// <summary>The trained vocabulary: tokens by id and merges in rank order.</summary>
public sealed record BpeModel(IReadOnlyList<string> Vocab, IReadOnlyList<(string Left, string Right)> Merges, IReadOnlyList<string> SpecialTokens);

/// <summary>
/// A byte-level BPE trainer with Falcon's pre-tokenization (tokenizer/README.md: Punctuation runs isolated, the GPT-2
/// regex, digit runs cut into groups of three). Words are counted in parallel; merges then proceed greedily by pair
/// frequency (ties broken by the pair's symbols in ordinal order, so training is deterministic), updating only the
/// words that contain the merged pair. Written by hand because no .NET library trains HF-compatible BPE.
/// </summary>
public static class BpeTrainer
{
    // The GPT-2 pre-tokenizer regex (openai/gpt-2 encoder.py), as HF ByteLevel uses it.
    static readonly Regex Gpt2 = new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled);
    // HF Punctuation pre-tokenizer: Unicode punctuation plus ASCII symbols $+<=>^`|~, contiguous runs isolated.
    static readonly Regex Punct = new(@"[\p{P}$+<=>^`|~]+", RegexOptions.Compiled);

    /// <summary>Trains on <paramref name="texts"/> (documents or lines), reporting progress in [0, 1].</summary>
    public static BpeModel Train(IEnumerable<string> texts, BpeTrainerOptions options, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        if (options.VocabSize < options.SpecialTokens.Count + 256)
            throw new ArgumentOutOfRangeException("--vocab-size", options.VocabSize, $"--vocab-size must be at least {options.SpecialTokens.Count + 256} (256 byte symbols + the special tokens)");
        if (options.VocabSize > 1 << 20) throw new ArgumentOutOfRangeException("--vocab-size", options.VocabSize, "--vocab-size must be at most 1048576");
        var counts = CountWords(texts, options, cancellationToken);
        progress?.Report(0.1);
        return Merge(counts, options, progress, cancellationToken);
    }

    /// <summary>Pre-tokenizes and counts byte-mapped words.</summary>
    public static Dictionary<string, long> CountWords(IEnumerable<string> texts, BpeTrainerOptions options, CancellationToken ct = default)
    {
        var specials = options.SpecialTokens.Where(s => s.Length > 0).ToArray();
        var total = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var po = new ParallelOptions { MaxDegreeOfParallelism = options.Threads > 0 ? options.Threads : Environment.ProcessorCount, CancellationToken = ct };
        Parallel.ForEach(texts, po, () => new Dictionary<string, long>(StringComparer.Ordinal), (text, _, local) =>
        {
            foreach (var piece in SplitSpecials(text, specials))
                foreach (var w in PreTokenize(piece))
                    local[w] = local.GetValueOrDefault(w) + 1;
            return local;
        }, local => { foreach (var kv in local) total.AddOrUpdate(kv.Key, kv.Value, (_, v) => v + kv.Value); });
        return new Dictionary<string, long>(total, StringComparer.Ordinal);
    }

    static IEnumerable<string> SplitSpecials(string text, string[] specials)
    {
        if (specials.Length == 0) { yield return text; yield break; }
        int start = 0;
        while (start < text.Length)
        {
            int best = -1, bestLen = 0;
            foreach (var s in specials)
            {
                int i = text.IndexOf(s, start, StringComparison.Ordinal);
                if (i >= 0 && (best < 0 || i < best)) { best = i; bestLen = s.Length; }
            }
            if (best < 0) { yield return text[start..]; yield break; }
            if (best > start) yield return text[start..best];
            start = best + bestLen;
        }
    }

    /// <summary>Falcon-style pre-tokenization of plain text into byte-mapped words.</summary>
    public static IEnumerable<string> PreTokenize(string text)
    {
        int pos = 0;
        foreach (Match p in Punct.Matches(text))
        {
            if (p.Index > pos) foreach (var w in Gpt2Words(text[pos..p.Index])) yield return w;
            foreach (var w in Gpt2Words(p.Value)) yield return w;
            pos = p.Index + p.Length;
        }
        if (pos < text.Length) foreach (var w in Gpt2Words(text[pos..])) yield return w;
    }

    static IEnumerable<string> Gpt2Words(string piece)
    {
        foreach (Match m in Gpt2.Matches(piece))
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(m.Value);
            var sb = new StringBuilder(bytes.Length);
            foreach (var b in bytes) sb.Append(ByteLevelTable.ByteToChar[b]);
            // Digits: isolate runs of ASCII digits, then cut each run into groups of three from the left.
            string mapped = sb.ToString();
            int i = 0;
            while (i < mapped.Length)
            {
                int j = i;
                bool digit = char.IsAsciiDigit(mapped[i]);
                while (j < mapped.Length && char.IsAsciiDigit(mapped[j]) == digit) j++;
                if (!digit) yield return mapped[i..j];
                else for (int k = i; k < j; k += 3) yield return mapped[k..Math.Min(j, k + 3)];
                i = j;
            }
        }
    }

    sealed class Word(int[] symbols, long count)
    {
        public int[] Symbols = symbols;
        public readonly long Count = count;
    }

    static BpeModel Merge(Dictionary<string, long> counts, BpeTrainerOptions o, IProgress<double>? progress, CancellationToken ct)
    {
        var vocab = new List<string>(o.SpecialTokens);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < vocab.Count; i++) ids[vocab[i]] = i;
        for (int b = 0; b < 256; b++)
        {
            string s = ByteLevelTable.ByteToChar[b].ToString();
            if (ids.TryAdd(s, vocab.Count)) vocab.Add(s);
        }
        // Words in a fixed order so training is deterministic whatever the counting threads did.
        var words = counts.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new Word(kv.Key.Select(c => ids[c.ToString()]).ToArray(), kv.Value)).ToList();

        var pairCount = new Dictionary<(int, int), long>();
        var pairWords = new Dictionary<(int, int), HashSet<int>>();
        for (int w = 0; w < words.Count; w++)
        {
            var s = words[w].Symbols;
            for (int i = 0; i + 1 < s.Length; i++)
            {
                var p = (s[i], s[i + 1]);
                pairCount[p] = pairCount.GetValueOrDefault(p) + words[w].Count;
                if (!pairWords.TryGetValue(p, out var set)) pairWords[p] = set = [];
                set.Add(w);
            }
        }
        // Max-heap by count (lazy: stale entries are skipped when their count no longer matches).
        var heap = new PriorityQueue<(int, int), (long, string, string)>(Comparer<(long Count, string L, string R)>.Create((a, b) =>
        {
            int c = b.Count.CompareTo(a.Count);
            if (c != 0) return c;
            c = string.CompareOrdinal(a.L, b.L);
            return c != 0 ? c : string.CompareOrdinal(a.R, b.R);
        }));
        foreach (var kv in pairCount) heap.Enqueue(kv.Key, (kv.Value, vocab[kv.Key.Item1], vocab[kv.Key.Item2]));

        var merges = new List<(string, string)>();
        int target = o.VocabSize;
        while (vocab.Count < target && heap.TryDequeue(out var pair, out var pri))
        {
            ct.ThrowIfCancellationRequested();
            if (!pairCount.TryGetValue(pair, out long cnt) || cnt != pri.Item1) continue;   // stale
            if (cnt < o.MinFrequency) break;
            string merged = vocab[pair.Item1] + vocab[pair.Item2];
            if (!ids.TryGetValue(merged, out int newId)) { newId = vocab.Count; vocab.Add(merged); ids[merged] = newId; }
            merges.Add((vocab[pair.Item1], vocab[pair.Item2]));
            var touched = new HashSet<(int, int)>();
            foreach (int w in pairWords[pair].ToArray())
            {
                var word = words[w];
                var s = word.Symbols;
                // remove this word's old pairs
                for (int i = 0; i + 1 < s.Length; i++)
                {
                    var p = (s[i], s[i + 1]);
                    pairCount[p] -= word.Count;
                    touched.Add(p);
                }
                // apply the merge left to right
                var ns = new List<int>(s.Length);
                for (int i = 0; i < s.Length; i++)
                {
                    if (i + 1 < s.Length && s[i] == pair.Item1 && s[i + 1] == pair.Item2) { ns.Add(newId); i++; }
                    else ns.Add(s[i]);
                }
                word.Symbols = ns.ToArray();
                for (int i = 0; i + 1 < word.Symbols.Length; i++)
                {
                    var p = (word.Symbols[i], word.Symbols[i + 1]);
                    pairCount[p] = pairCount.GetValueOrDefault(p) + word.Count;
                    if (!pairWords.TryGetValue(p, out var set)) pairWords[p] = set = [];
                    set.Add(w);
                    touched.Add(p);
                }
            }
            pairCount.Remove(pair);
            pairWords.Remove(pair);
            foreach (var p in touched)
                if (pairCount.TryGetValue(p, out long c) && c > 0 && p != pair) heap.Enqueue(p, (c, vocab[p.Item1], vocab[p.Item2]));
            if (merges.Count % 256 == 0) progress?.Report(0.1 + 0.9 * (vocab.Count / (double)target));
        }
        progress?.Report(1.0);
        return new BpeModel(vocab, merges, o.SpecialTokens);
    }

    /// <summary>
    /// Writes tokenizer.json (Falcon's pipeline: no normalizer, Punctuation → ByteLevel → Digits → 3-digit Split,
    /// ByteLevel decoder) and tokenizer_config.json (eos/pad = the first special token, ChatML chat template) to
    /// <paramref name="dir"/>, each through a temp file and rename.
    /// </summary>
    public static void Save(BpeModel model, string dir, string? chatTemplate = null)
    {
        Directory.CreateDirectory(dir);
        var added = new JsonArray();
        for (int i = 0; i < model.SpecialTokens.Count; i++) added.Add(AddedToken(i, model.SpecialTokens[i], special: true));
        WriteTokenizerJson(Path.Combine(dir, "tokenizer.json"), model.Vocab, model.Merges, added, "falcon");
        string eos = model.SpecialTokens.Count > 0 ? model.SpecialTokens[0] : "";
        var decoderMap = new JsonObject();
        foreach (var a in added) decoderMap[a!["id"]!.ToString()] = JsonNode.Parse(a.ToJsonString())!.AsObject().Also(o => o.Remove("id"));
        var cfg = new JsonObject
        {
            ["added_tokens_decoder"] = decoderMap,
            ["bos_token"] = null,
            ["eos_token"] = eos,
            ["pad_token"] = eos,
            ["unk_token"] = null,
            ["add_bos_token"] = false,
            ["add_eos_token"] = false,
            ["clean_up_tokenization_spaces"] = false,
            ["model_max_length"] = 1000000000000000019884624838656.0,
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["chat_template"] = chatTemplate ?? ChatMlTemplate,
        };
        WriteAtomic(Path.Combine(dir, "tokenizer_config.json"), cfg.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    static JsonObject AddedToken(int id, string content, bool special) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false,
        ["rstrip"] = false, ["normalized"] = false, ["special"] = special,
    };

    /// <summary>
    /// Writes a byte-level BPE tokenizer.json: vocabulary by id, merges in rank order, the added tokens, and the
    /// pre-tokenizer of <paramref name="pre"/> ("falcon": Punctuation → ByteLevel → Digits → 3-digit Split, as
    /// tokenizer/README.md describes; "gpt-2" and others: ByteLevel with the GPT-2 regex). Also used to turn a GGUF
    /// vocabulary (tokenizer.ggml.*) back into a Hugging Face tokenizer.json.
    /// </summary>
    public static void WriteTokenizerJson(string path, IReadOnlyList<string> vocabById, IEnumerable<(string Left, string Right)> merges,
        IEnumerable<(int Id, string Content, bool Special)> added, string pre)
    {
        var arr = new JsonArray();
        foreach (var a in added) arr.Add(AddedToken(a.Id, a.Content, a.Special));
        WriteTokenizerJson(path, vocabById, merges, arr, pre);
    }

    static void WriteTokenizerJson(string path, IReadOnlyList<string> vocabById, IEnumerable<(string Left, string Right)> merges, JsonArray added, string pre)
    {
        var vocab = new JsonObject();
        for (int i = 0; i < vocabById.Count; i++) vocab[vocabById[i]] = i;
        var byteLevel = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        JsonNode preTokenizer = pre == "falcon"
            ? new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Punctuation", ["behavior"] = "Contiguous" },
                    byteLevel,
                    new JsonObject { ["type"] = "Digits", ["individual_digits"] = false },
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = "[0-9][0-9][0-9]" }, ["behavior"] = "Isolated", ["invert"] = false }),
            }
            : byteLevel;
        var tok = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = null,
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m.Left, m.Right)).ToArray()),
            },
        };
        WriteAtomic(path, tok.ToJsonString(new JsonSerializerOptions { WriteIndented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    /// <summary>The ChatML template (the format the Falcon Mamba instruct blog shows, SPEC.md §8.3).</summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    static void WriteAtomic(string path, string text)
    {
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, text, new UTF8Encoding(false));
        File.Move(tmp, path, overwrite: true);
    }

    static JsonObject Also(this JsonObject o, Action<JsonObject> a) { a(o); return o; }
}
