using System.Runtime.InteropServices;

namespace FalconMamba.Tokenization;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> tokenizer (byte-pair encoding) that gives the same ids as the Rust
/// <c>tokenizers</c> library: added/special tokens → normalizer → pre-tokenizer → BPE → post-processor; decoding runs
/// the decoder chain. Immutable and thread-safe; each thread encodes with its own scratch memory.
/// </summary>
/// <remarks>
/// Pipeline per <c>encode</c> (tokenizers tokenizer/mod.rs <c>encode_single_sequence</c>): split out added tokens on the
/// raw text, normalize each remaining part, split out normalized added tokens, pre-tokenize, run the model on each
/// pre-token, then post-process. <c>truncation</c> and <c>padding</c> in tokenizer.json are ignored (they are call
/// options in transformers, not part of the vocabulary).
/// </remarks>
public sealed class Tokenizer
{
    readonly BpeModel _model;
    readonly AddedTokenMatcher _rawMatcher, _normalizedMatcher;
    readonly Normalizer? _normalizer;
    readonly PreTokenizer? _preTokenizer;
    readonly PostProcessor? _postProcessor;
    readonly Decoder? _decoder;
    readonly string?[] _idToToken;
    readonly bool[] _isSpecial;
    readonly byte[]?[]? _idBytes; // decoder is exactly ByteLevel: the bytes of each token
    readonly Dictionary<string, int> _addedByContent;
    readonly Func<int, string?> _idToTokenFunc;

    /// <summary>The added tokens (special and user-added), in file order.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }
    /// <summary>The tokenizer_config.json settings (defaults when there was none).</summary>
    public TokenizerConfig Config { get; }
    /// <summary>Number of ids: one more than the largest id of the vocabulary and the added tokens.</summary>
    public int VocabSize { get; }
    /// <summary>The BOS token string from tokenizer_config.json (or GGUF), if any.</summary>
    public string? BosToken => Config.BosToken;
    /// <summary>The EOS token string, if any.</summary>
    public string? EosToken => Config.EosToken;
    /// <summary>The padding token string, if any.</summary>
    public string? PadToken => Config.PadToken;
    /// <summary>The unknown token string, if any (tokenizer_config.json, else the model's unk_token).</summary>
    public string? UnkToken => Config.UnkToken ?? _model.UnkToken;
    /// <summary>Id of <see cref="BosToken"/>, or null.</summary>
    public int? BosTokenId => Id(BosToken);
    /// <summary>Id of <see cref="EosToken"/>, or null.</summary>
    public int? EosTokenId => Id(EosToken);
    /// <summary>Id of <see cref="PadToken"/>, or null.</summary>
    public int? PadTokenId => Id(PadToken);
    /// <summary>Id of <see cref="UnkToken"/>, or null.</summary>
    public int? UnkTokenId => Id(UnkToken);
    /// <summary>The default chat template (Jinja source), or null.</summary>
    public string? ChatTemplate => Config.ChatTemplate;
    /// <summary>All named chat templates.</summary>
    public IReadOnlyDictionary<string, string> ChatTemplates => Config.ChatTemplates;

    int? Id(string? token) => token == null ? null : TokenToId(token);

    Tokenizer(BpeModel model, List<AddedToken> added, Normalizer? normalizer, PreTokenizer? preTokenizer, PostProcessor? postProcessor,
        Decoder? decoder, TokenizerConfig config)
    {
        _model = model;
        AddedTokens = added;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _decoder = decoder;
        Config = config;

        int max = -1;
        foreach (var (_, id) in model.Vocab) max = Math.Max(max, id);
        foreach (var t in added) max = Math.Max(max, t.Id);
        VocabSize = max + 1;
        _idToToken = new string?[VocabSize];
        foreach (var (tok, id) in model.Vocab) _idToToken[id] = tok;
        _isSpecial = new bool[VocabSize];
        _addedByContent = new Dictionary<string, int>();
        foreach (var t in added)
        {
            _idToToken[t.Id] = t.Content;
            _isSpecial[t.Id] |= t.Special;
            _addedByContent.TryAdd(t.Content, t.Id);
        }
        _idToTokenFunc = IdToToken;

        // Non-normalized tokens are found in the raw text; normalized ones after the normalizer, by their normalized form.
        _rawMatcher = new AddedTokenMatcher(added.Where(t => !t.Normalized || normalizer == null), t => t.Content);
        _normalizedMatcher = new AddedTokenMatcher(added.Where(t => t.Normalized && normalizer != null), t => NormalizeString(t.Content));

        if (postProcessor == null && (config.AddBosToken == true || config.AddEosToken == true))
        {
            int bos = config.AddBosToken == true ? Id(config.BosToken) ?? throw new ModelFormatException($"tokenizer_config.json: add_bos_token is true but bos_token '{config.BosToken}' is not a token") : -1;
            int eos = config.AddEosToken == true ? Id(config.EosToken) ?? throw new ModelFormatException($"tokenizer_config.json: add_eos_token is true but eos_token '{config.EosToken}' is not a token") : -1;
            postProcessor = new BosEosPostProcessor(bos, eos);
        }
        _postProcessor = postProcessor;

        if (decoder is ByteLevelDecoder)
        {
            _idBytes = new byte[]?[VocabSize];
            var tmp = new List<byte>();
            for (int id = 0; id < VocabSize; id++)
            {
                if (_idToToken[id] is not { } tok) continue;
                tmp.Clear();
                ByteLevelDecoder.AppendTokenBytes(tok, tmp);
                _idBytes[id] = tmp.ToArray();
            }
        }
    }

    /// <summary>
    /// Loads <c>tokenizer.json</c> (a folder holding it, or the file itself) and the <c>tokenizer_config.json</c> beside it
    /// when present. Errors name the file and the field at fault.
    /// </summary>
    public static Tokenizer Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        if (!File.Exists(file)) throw new FalconMambaException($"{file}: tokenizer.json not found");
        var parts = TokenizerJson.Parse(File.ReadAllBytes(file), file);
        string cfgPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, "tokenizer_config.json");
        var config = File.Exists(cfgPath) ? TokenizerConfig.Load(cfgPath) : new TokenizerConfig();
        return new Tokenizer(parts.Model, parts.AddedTokens, parts.Normalizer, parts.PreTokenizer, parts.PostProcessor, parts.Decoder, config);
    }

    /// <summary>Builds a tokenizer from tokenizer.json text (for tests and embedded tokenizers).</summary>
    public static Tokenizer FromJson(string json, TokenizerConfig? config = null, string name = "tokenizer.json")
    {
        var parts = TokenizerJson.Parse(System.Text.Encoding.UTF8.GetBytes(json), name);
        return new Tokenizer(parts.Model, parts.AddedTokens, parts.Normalizer, parts.PreTokenizer, parts.PostProcessor, parts.Decoder, config ?? new TokenizerConfig());
    }

    // ----------------------------------------------------------------------------------------------------------------
    // Encoding

    /// <summary>Encodes text: ids, token strings and offsets.</summary>
    /// <param name="text">The input.</param>
    /// <param name="addSpecialTokens">Let the post-processor add BOS/EOS-style tokens.</param>
    /// <param name="parseSpecialTokens">Recognise special tokens written in the text; false treats them as plain text
    /// (HF <c>split_special_tokens</c>, llama.cpp <c>parse_special=false</c>) for untrusted input.</param>
    public Encoding Encode(string text, bool addSpecialTokens = true, bool parseSpecialTokens = true)
    {
        var sc = EncodeCore(text, addSpecialTokens, parseSpecialTokens);
        int[] ids = sc.Ids.ToArray();
        var tokens = new string[ids.Length];
        for (int i = 0; i < ids.Length; i++) tokens[i] = _idToToken[ids[i]] ?? "";
        return new Encoding(ids, tokens, sc.Offsets.ToArray());
    }

    /// <summary>Encodes text to ids only (the fast path: no token strings, no offsets array).</summary>
    public int[] EncodeToIds(string text, bool addSpecialTokens = true, bool parseSpecialTokens = true) =>
        EncodeCore(text, addSpecialTokens, parseSpecialTokens).Ids.ToArray();

    /// <summary>Encodes many texts in parallel across cores; results are in input order.</summary>
    public Encoding[] EncodeBatch(IReadOnlyList<string> texts, bool addSpecialTokens = true, bool parseSpecialTokens = true)
    {
        var result = new Encoding[texts.Count];
        Parallel.For(0, texts.Count, i => result[i] = Encode(texts[i], addSpecialTokens, parseSpecialTokens));
        return result;
    }

    /// <summary>Encodes many texts in parallel to ids only.</summary>
    public int[][] EncodeBatchToIds(IReadOnlyList<string> texts, bool addSpecialTokens = true, bool parseSpecialTokens = true)
    {
        var result = new int[texts.Count][];
        // Chunks of consecutive texts per task keep the per-item overhead low for short lines.
        int chunk = Math.Max(1, texts.Count / (Environment.ProcessorCount * 8));
        Parallel.For(0, (texts.Count + chunk - 1) / chunk, c =>
        {
            int end = Math.Min(texts.Count, (c + 1) * chunk);
            for (int i = c * chunk; i < end; i++) result[i] = EncodeToIds(texts[i], addSpecialTokens, parseSpecialTokens);
        });
        return result;
    }

    EncodeScratch EncodeCore(string text, bool addSpecialTokens, bool parseSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sc = EncodeScratch.Current;
        var buf = sc.Buffer;
        buf.Clear();
        var segments = sc.Segments;
        segments.Clear();
        if (_rawMatcher.IsEmpty) { if (text.Length > 0) segments.Add((0, text.Length, -1)); }
        else _rawMatcher.Split(text, parseSpecialTokens, segments);

        buf.Reserve(text.Length);
        foreach (var (s, e, id) in segments)
        {
            int at = buf.Length;
            if (id >= 0)
            {
                buf.AppendIdentity(text.AsSpan(s, e - s), s);
                buf.Pieces.Add((at, buf.Length, id));
                continue;
            }
            if (_normalizer == null) buf.AppendIdentity(text.AsSpan(s, e - s), s);
            else
            {
                var seg = sc.Segment; seg.Clear();
                seg.AppendIdentity(text.AsSpan(s, e - s), s);
                var norm = sc.SegmentSpare; norm.Clear();
                _normalizer.Normalize(seg, norm);
                buf.Reserve(norm.Length);
                norm.Chars.AsSpan(0, norm.Length).CopyTo(buf.Chars.AsSpan(at));
                norm.Start.AsSpan(0, norm.Length).CopyTo(buf.Start.AsSpan(at));
                norm.End.AsSpan(0, norm.Length).CopyTo(buf.End.AsSpan(at));
                buf.Length += norm.Length;
            }
            if (buf.Length == at) continue;
            if (_normalizedMatcher.IsEmpty) { buf.Pieces.Add((at, buf.Length, -1)); continue; }
            var inner = new List<(int Start, int End, int Id)>();
            _normalizedMatcher.Split(buf.Chars.AsSpan(at, buf.Length - at), parseSpecialTokens, inner);
            foreach (var (ps, pe, pid) in inner) buf.Pieces.Add((at + ps, at + pe, pid));
        }

        _preTokenizer?.PreTokenize(buf, sc);

        var ids = sc.Ids; ids.Clear();
        var offsets = sc.Offsets; offsets.Clear();
        foreach (var (s, e, id) in buf.Pieces)
        {
            if (id >= 0) { ids.Add(id); offsets.Add((buf.Start[s], buf.End[e - 1])); continue; }
            int n = _model.EncodeWord(buf.Chars.AsSpan(s, e - s), sc, out int[] tids, out int[] ends);
            int prev = 0;
            for (int k = 0; k < n; k++)
            {
                ids.Add(tids[k]);
                int a = s + prev, b = s + ends[k];
                offsets.Add(b > a ? (buf.Start[a], buf.End[b - 1]) : (buf.Start[Math.Min(a, e - 1)], buf.Start[Math.Min(a, e - 1)]));
                prev = ends[k];
            }
        }
        _postProcessor?.Process(ids, offsets, addSpecialTokens, _idToTokenFunc);
        return sc;
    }

    string NormalizeString(string s)
    {
        if (_normalizer == null) return s;
        var src = new TextBuffer();
        src.AppendIdentity(s, 0);
        var dst = new TextBuffer();
        _normalizer.Normalize(src, dst);
        return new string(dst.Chars, 0, dst.Length);
    }

    // ----------------------------------------------------------------------------------------------------------------
    // Vocabulary

    /// <summary>The token string of an id (added tokens first, then the model), or null when the id is unused.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>The id of a token string (added tokens first, then the model), or null.</summary>
    public int? TokenToId(string token)
    {
        if (_addedByContent.TryGetValue(token, out int a)) return a;
        int id = _model.TokenToId(token);
        return id >= 0 ? id : null;
    }

    /// <summary>True when the id is a special added token (dropped by <c>skipSpecialTokens</c>).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_isSpecial.Length && _isSpecial[id];

    // ----------------------------------------------------------------------------------------------------------------
    // Decoding

    /// <summary>Decodes ids to text.</summary>
    /// <param name="ids">Token ids; an id outside the vocabulary is an error naming it.</param>
    /// <param name="skipSpecialTokens">Leave out special tokens.</param>
    /// <param name="cleanUpTokenizationSpaces">Apply transformers' <c>clean_up_tokenization</c> (null: tokenizer_config.json).</param>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false, bool? cleanUpTokenizationSpaces = null)
    {
        string text = DecodeRaw(ids, skipSpecialTokens);
        return cleanUpTokenizationSpaces ?? Config.CleanUpTokenizationSpaces ? CleanUpTokenizationSpaces(text) : text;
    }

    /// <inheritdoc cref="Decode(ReadOnlySpan{int}, bool, bool?)"/>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false, bool? cleanUpTokenizationSpaces = null) =>
        Decode(ids.ToArray().AsSpan(), skipSpecialTokens, cleanUpTokenizationSpaces);

    string DecodeRaw(ReadOnlySpan<int> ids, bool skipSpecialTokens)
    {
        if (_idBytes != null)
        {
            var bytes = new List<byte>(ids.Length * 4);
            foreach (int id in ids)
            {
                CheckId(id);
                if (skipSpecialTokens && _isSpecial[id]) continue;
                bytes.AddRange(_idBytes[id]!);
            }
            return Utf8Lossy.Decode(CollectionsMarshal.AsSpan(bytes));
        }
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            CheckId(id);
            if (skipSpecialTokens && _isSpecial[id]) continue;
            tokens.Add(_idToToken[id]!);
        }
        return _decoder == null ? string.Join(" ", tokens) : string.Concat(_decoder.DecodeChain(tokens));
    }

    void CheckId(int id)
    {
        if ((uint)id >= (uint)_idToToken.Length || _idToToken[id] == null)
            throw new FalconMambaException($"token id {id} is not in the vocabulary (size {VocabSize})");
    }

    /// <summary>True when decoding is "token bytes, concatenated, then UTF-8" (the streaming decoder can work on bytes).</summary>
    internal bool DecodesToBytes => _idBytes != null;

    /// <summary>The bytes of one token under a ByteLevel decoder (empty for a skipped special token).</summary>
    internal ReadOnlySpan<byte> TokenBytes(int id, bool skipSpecialTokens)
    {
        CheckId(id);
        return skipSpecialTokens && _isSpecial[id] ? default : _idBytes![id];
    }

    /// <summary>
    /// transformers' <c>clean_up_tokenization</c> (tokenization_utils_base.py): removes the space before
    /// <c>. ? ! ,</c>, around a lone <c>'</c>, and before <c>n't 'm 's 've 're</c>, in that order.
    /// </summary>
    public static string CleanUpTokenizationSpaces(string text) => text
        .Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
        .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s").Replace(" 've", "'ve").Replace(" 're", "'re");

    /// <summary>A new incremental decoder over this tokenizer (clean-up: null = tokenizer_config.json, as <see cref="Decode(ReadOnlySpan{int}, bool, bool?)"/>).</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false, bool? cleanUpTokenizationSpaces = null) =>
        new(this, skipSpecialTokens, cleanUpTokenizationSpaces);

    // ----------------------------------------------------------------------------------------------------------------
    // From GGUF metadata

    /// <summary>
    /// Builds a tokenizer from GGUF <c>tokenizer.ggml.*</c> metadata for a GPT-2-style byte-level BPE vocabulary
    /// (<c>tokenizer.ggml.model = "gpt2"</c>). <paramref name="pre"/> is <c>tokenizer.ggml.pre</c>: "falcon" gives
    /// Falcon's pre-tokenizer (Punctuation, ByteLevel, Digits, 3-digit split); "gpt-2"/"gpt2"/"default" give plain
    /// ByteLevel. Control tokens (type 3) become special added tokens, user-defined ones (type 4) plain added tokens.
    /// </summary>
    /// <param name="tokens">tokenizer.ggml.tokens, indexed by id.</param>
    /// <param name="tokenTypes">tokenizer.ggml.token_type (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), or null.</param>
    /// <param name="merges">tokenizer.ggml.merges ("a b").</param>
    /// <param name="pre">tokenizer.ggml.pre.</param>
    /// <param name="bos">tokenizer.ggml.bos_token_id.</param>
    /// <param name="eos">tokenizer.ggml.eos_token_id.</param>
    /// <param name="pad">tokenizer.ggml.padding_token_id.</param>
    /// <param name="addBos">tokenizer.ggml.add_bos_token.</param>
    /// <param name="chatTemplate">tokenizer.chat_template.</param>
    /// <param name="model">tokenizer.ggml.model; only "gpt2" is supported.</param>
    public static Tokenizer FromGgufVocab(IReadOnlyList<string> tokens, IReadOnlyList<int>? tokenTypes, IReadOnlyList<string> merges,
        string? pre, int? bos, int? eos, int? pad, bool addBos, string? chatTemplate, string model = "gpt2")
    {
        const string where = "GGUF tokenizer.ggml";
        if (model != "gpt2") throw new ModelFormatException($"{where}.model '{model}' is not supported (only gpt2-style byte-level BPE)");
        if (tokenTypes != null && tokenTypes.Count != tokens.Count)
            throw new ModelFormatException($"{where}.token_type has {tokenTypes.Count} entries but tokenizer.ggml.tokens has {tokens.Count}");
        var vocab = new Dictionary<string, int>(tokens.Count);
        var added = new List<AddedToken>();
        for (int i = 0; i < tokens.Count; i++)
        {
            vocab.TryAdd(tokens[i], i);
            int type = tokenTypes?[i] ?? 1;
            if (type == 3) added.Add(new AddedToken(i, tokens[i], Special: true));
            else if (type == 4) added.Add(new AddedToken(i, tokens[i], Special: false));
        }
        var pairs = new List<(string, string)>(merges.Count);
        for (int r = 0; r < merges.Count; r++)
        {
            int sp = merges[r].IndexOf(' ');
            if (sp < 0) throw new ModelFormatException($"{where}.merges[{r}] '{merges[r]}' must be two tokens separated by a space");
            pairs.Add((merges[r][..sp], merges[r][(sp + 1)..]));
        }
        var bpe = new BpeModel(vocab, pairs, null, false, false, false, null, null, where);
        PreTokenizer preTok = (pre ?? "default") switch
        {
            "falcon" => new SequencePreTokenizer([
                new PunctuationPreTokenizer(SplitBehavior.Contiguous),
                new ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: true),
                new DigitsPreTokenizer(individualDigits: false),
                new SplitPreTokenizer(OnigurumaRegex.Compile("[0-9][0-9][0-9]", where + ".pre"), SplitBehavior.Isolated, invert: false),
            ]),
            "gpt-2" or "gpt2" or "default" => new ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: true),
            _ => throw new ModelFormatException($"{where}.pre '{pre}' is not supported (falcon, gpt-2)"),
        };
        string? Tok(int? id, string key) => id is null or < 0 ? null
            : id < tokens.Count ? tokens[id.Value] : throw new ModelFormatException($"{where}.{key} {id} is outside the vocabulary ({tokens.Count} tokens)");
        var config = new TokenizerConfig
        {
            BosToken = Tok(bos, "bos_token_id"),
            EosToken = Tok(eos, "eos_token_id"),
            PadToken = Tok(pad, "padding_token_id"),
            AddBosToken = addBos,
            ChatTemplate = chatTemplate,
            ChatTemplates = chatTemplate != null ? new Dictionary<string, string> { ["default"] = chatTemplate } : new Dictionary<string, string>(),
        };
        return new Tokenizer(bpe, added, null, preTok, null, new ByteLevelDecoder(), config);
    }
}
