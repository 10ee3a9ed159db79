using System.Text.Json;

namespace FalconMamba.Formats.Gguf;

/// <summary>
/// The tokenizer as GGUF stores it (<c>tokenizer.ggml.*</c> keys written by llama.cpp's converter, SPEC.md §4.2):
/// a BPE vocabulary (<c>model = "gpt2"</c>, byte-level), token types, merges, special ids and the chat template.
/// Token types follow llama.cpp: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
/// </summary>
public sealed record GgufTokenizerMetadata
{
    /// <summary><c>tokenizer.ggml.model</c>: "gpt2" for byte-level BPE (Falcon), "none" for no vocabulary.</summary>
    public string Model { get; init; } = "gpt2";
    /// <summary><c>tokenizer.ggml.pre</c>: pre-tokenizer name ("falcon" for Falcon Mamba).</summary>
    public string? Pre { get; init; }
    /// <summary><c>tokenizer.ggml.tokens</c>: token text by id.</summary>
    public string[] Tokens { get; init; } = [];
    /// <summary><c>tokenizer.ggml.token_type</c>, one per token.</summary>
    public int[]? TokenTypes { get; init; }
    /// <summary><c>tokenizer.ggml.merges</c>: "left right" pairs in rank order.</summary>
    public string[]? Merges { get; init; }
    /// <summary><c>tokenizer.ggml.bos_token_id</c>.</summary>
    public int? BosTokenId { get; init; }
    /// <summary><c>tokenizer.ggml.eos_token_id</c>.</summary>
    public int? EosTokenId { get; init; }
    /// <summary><c>tokenizer.ggml.padding_token_id</c>.</summary>
    public int? PaddingTokenId { get; init; }
    /// <summary><c>tokenizer.ggml.unknown_token_id</c>.</summary>
    public int? UnknownTokenId { get; init; }
    /// <summary><c>tokenizer.ggml.add_bos_token</c>.</summary>
    public bool? AddBosToken { get; init; }
    /// <summary><c>tokenizer.ggml.add_eos_token</c>.</summary>
    public bool? AddEosToken { get; init; }
    /// <summary><c>tokenizer.chat_template</c> (Jinja source).</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Reads the tokenizer keys of a GGUF file; null when it has no <c>tokenizer.ggml.model</c>.</summary>
    public static GgufTokenizerMetadata? FromFile(GgufFile f)
    {
        string? model = f.GetStringOrNull("tokenizer.ggml.model");
        if (model == null) return null;
        var tokens = f.GetArrayOrNull<string>("tokenizer.ggml.tokens") ?? [];
        var types = f.GetArrayOrNull<int>("tokenizer.ggml.token_type");
        if (types != null && types.Length != tokens.Length)
            throw new ModelFormatException($"{f.Path}: key 'tokenizer.ggml.token_type' has {types.Length} entries but 'tokenizer.ggml.tokens' has {tokens.Length}");
        int? Id(string key)
        {
            long? v = f.GetIntegerOrNull(key);
            if (v is null) return null;
            if (v < 0 || v >= Math.Max(tokens.Length, 1)) throw new ModelFormatException($"{f.Path}: key '{key}' = {v} is outside the vocabulary of {tokens.Length} tokens");
            return (int)v;
        }
        return new GgufTokenizerMetadata
        {
            Model = model,
            Pre = f.GetStringOrNull("tokenizer.ggml.pre"),
            Tokens = tokens,
            TokenTypes = types,
            Merges = f.GetArrayOrNull<string>("tokenizer.ggml.merges"),
            BosTokenId = Id("tokenizer.ggml.bos_token_id"),
            EosTokenId = Id("tokenizer.ggml.eos_token_id"),
            PaddingTokenId = Id("tokenizer.ggml.padding_token_id"),
            UnknownTokenId = Id("tokenizer.ggml.unknown_token_id"),
            AddBosToken = f.GetBoolOrNull("tokenizer.ggml.add_bos_token"),
            AddEosToken = f.GetBoolOrNull("tokenizer.ggml.add_eos_token"),
            ChatTemplate = f.GetStringOrNull("tokenizer.chat_template"),
        };
    }

    /// <summary>A tokenizer built from these keys (gpt2-style byte-level BPE only).</summary>
    public Tokenization.Tokenizer ToTokenizer() =>
        Tokenization.Tokenizer.FromGgufVocab(Tokens, TokenTypes, Merges ?? [], Pre, BosTokenId, EosTokenId, PaddingTokenId, AddBosToken ?? false, ChatTemplate, Model);

    /// <summary>Adds the keys to <paramref name="w"/> (ids as UINT32, as gguf-py writes them).</summary>
    public void WriteTo(GgufWriter w)
    {
        w.Add("tokenizer.ggml.model", GgufValue.Of(Model));
        if (Pre != null) w.Add("tokenizer.ggml.pre", GgufValue.Of(Pre));
        w.Add("tokenizer.ggml.tokens", GgufValue.Of(Tokens));
        if (TokenTypes != null) w.Add("tokenizer.ggml.token_type", GgufValue.Of(TokenTypes));
        if (Merges != null) w.Add("tokenizer.ggml.merges", GgufValue.Of(Merges));
        if (BosTokenId is int b) w.Add("tokenizer.ggml.bos_token_id", GgufValue.Of((uint)b));
        if (EosTokenId is int e) w.Add("tokenizer.ggml.eos_token_id", GgufValue.Of((uint)e));
        if (UnknownTokenId is int u) w.Add("tokenizer.ggml.unknown_token_id", GgufValue.Of((uint)u));
        if (PaddingTokenId is int p) w.Add("tokenizer.ggml.padding_token_id", GgufValue.Of((uint)p));
        if (AddBosToken is bool ab) w.Add("tokenizer.ggml.add_bos_token", GgufValue.Of(ab));
        if (AddEosToken is bool ae) w.Add("tokenizer.ggml.add_eos_token", GgufValue.Of(ae));
        if (ChatTemplate != null) w.Add("tokenizer.chat_template", GgufValue.Of(ChatTemplate));
    }

    /// <summary>
    /// Builds the metadata from a Hugging Face folder's tokenizer.json (BPE model: vocab, merges, added_tokens) and
    /// tokenizer_config.json (chat_template, add_bos_token, bos/eos/pad tokens), as llama.cpp's <c>_set_vocab_gpt2</c>
    /// does: ids missing from the vocab become "[PAD{id}]" unused entries up to <paramref name="vocabSize"/>; special added
    /// tokens are control tokens, other added tokens user-defined. Null when there is no tokenizer.json.
    /// </summary>
    public static GgufTokenizerMetadata? FromHuggingFace(string folder, int vocabSize, string pre = "falcon")
    {
        string tj = Path.Combine(folder, "tokenizer.json");
        if (!File.Exists(tj)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(tj));
            var root = doc.RootElement;
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException($"{tj}: missing object 'model'");
            string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "BPE";
            if (type != "BPE") throw new ModelFormatException($"{tj}: tokenizer model type '{type}' is not supported for GGUF export (only BPE)");
            var tokens = new string?[vocabSize];
            var types = new int[vocabSize];
            if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException($"{tj}: missing object 'model.vocab'");
            foreach (var kv in vocab.EnumerateObject())
            {
                int id = kv.Value.GetInt32();
                if (id < 0 || id >= vocabSize) throw new ModelFormatException($"{tj}: token '{kv.Name}' has id {id}, outside vocab_size {vocabSize}");
                tokens[id] = kv.Name;
                types[id] = 1;
            }
            var specials = new Dictionary<string, int>();
            if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
                foreach (var a in added.EnumerateArray())
                {
                    int id = a.GetProperty("id").GetInt32();
                    string content = a.GetProperty("content").GetString() ?? "";
                    if (id < 0 || id >= vocabSize) throw new ModelFormatException($"{tj}: added token '{content}' has id {id}, outside vocab_size {vocabSize}");
                    bool special = a.TryGetProperty("special", out var sp) && sp.ValueKind == JsonValueKind.True;
                    tokens[id] = content;
                    types[id] = special ? 3 : 4;
                    specials[content] = id;
                }
            for (int i = 0; i < vocabSize; i++)
                if (tokens[i] == null) { tokens[i] = $"[PAD{i}]"; types[i] = 5; }
            var merges = new List<string>();
            if (model.TryGetProperty("merges", out var m) && m.ValueKind == JsonValueKind.Array)
                foreach (var e in m.EnumerateArray())
                    merges.Add(e.ValueKind == JsonValueKind.Array ? $"{e[0].GetString()} {e[1].GetString()}" : e.GetString()!);

            string? chat = null;
            bool? addBos = null;
            int? bos = null, eos = null, pad = null, unk = null;
            string tc = Path.Combine(folder, "tokenizer_config.json");
            if (File.Exists(tc))
            {
                using var cdoc = JsonDocument.Parse(File.ReadAllBytes(tc));
                var c = cdoc.RootElement;
                if (c.TryGetProperty("chat_template", out var ct) && ct.ValueKind == JsonValueKind.String) chat = ct.GetString();
                if (c.TryGetProperty("add_bos_token", out var ab) && ab.ValueKind is JsonValueKind.True or JsonValueKind.False) addBos = ab.GetBoolean();
                int? Special(string key)
                {
                    if (!c.TryGetProperty(key, out var v)) return null;
                    string? s = v.ValueKind == JsonValueKind.String ? v.GetString() : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var cc) ? cc.GetString() : null;
                    if (s == null) return null;
                    if (specials.TryGetValue(s, out int id)) return id;
                    int idx = Array.IndexOf(tokens, s);
                    return idx >= 0 ? idx : null;
                }
                bos = Special("bos_token"); eos = Special("eos_token"); pad = Special("pad_token"); unk = Special("unk_token");
            }
            return new GgufTokenizerMetadata
            {
                Model = "gpt2", Pre = pre, Tokens = tokens!, TokenTypes = types, Merges = merges.ToArray(),
                BosTokenId = bos, EosTokenId = eos, PaddingTokenId = pad, UnknownTokenId = unk,
                AddBosToken = addBos, ChatTemplate = chat,
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException($"{tj}: cannot read the tokenizer for GGUF export ({e.Message})", e);
        }
    }
}
