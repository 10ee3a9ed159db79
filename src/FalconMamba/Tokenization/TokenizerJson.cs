using System.Text;
using System.Text.Json;

namespace FalconMamba.Tokenization;

/// <summary>
/// Reads Hugging Face <c>tokenizer.json</c> (tokenizers serialization format) into pipeline components. Every
/// component type not implemented here is a clear error naming the type and where it is, never a silent stand-in.
/// </summary>
internal static class TokenizerJson
{
    internal sealed record Parts(BpeModel Model, List<AddedToken> AddedTokens, Normalizer? Normalizer, PreTokenizer? PreTokenizer,
        PostProcessor? PostProcessor, Decoder? Decoder);

    public static Parts Parse(byte[] json, string file)
    {
        CheckUtf8(json, file);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException e) { throw new ModelFormatException($"{file}: invalid JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException($"{file}: expected a JSON object at the top level");
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException($"{file}: missing \"model\" object");
            var added = ParseAddedTokens(root, file);
            var bpe = ParseModel(model, file);
            return new Parts(bpe, added,
                Opt(root, "normalizer") is { } n ? ParseNormalizer(n, file, "normalizer") : null,
                Opt(root, "pre_tokenizer") is { } p ? ParsePreTokenizer(p, file, "pre_tokenizer") : null,
                Opt(root, "post_processor") is { } pp ? ParsePostProcessor(pp, file, "post_processor", bpe, added) : null,
                Opt(root, "decoder") is { } d ? ParseDecoder(d, file, "decoder") : null);
        }
    }

    /// <summary>System.Text.Json checks UTF-8 inside strings only when they are read; check up front to name the line.</summary>
    internal static void CheckUtf8(byte[] bytes, string file)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return;
        var status = System.Text.Unicode.Utf8.ToUtf16(bytes, new char[bytes.Length], out int consumed, out _, replaceInvalidSequences: false);
        int line = 1 + bytes.AsSpan(0, consumed).Count((byte)'\n');
        throw new ModelFormatException($"{file}: invalid JSON: invalid UTF-8 at line {line}, byte offset {consumed} ({status})");
    }

    static JsonElement? Opt(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    static string TypeOf(JsonElement e, string file, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()! : throw new ModelFormatException($"{file}: {where} has no \"type\"");

    static bool Bool(JsonElement e, string key, bool def, string file, string where)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return def;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFormatException($"{file}: {where}.{key} must be true or false"),
        };
    }

    static string? Str(JsonElement e, string key, string file, string where)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new ModelFormatException($"{file}: {where}.{key} must be a string");
    }

    static int Int(JsonElement e, string key, int def, string file, string where)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return def;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw new ModelFormatException($"{file}: {where}.{key} must be an integer");
    }

    static JsonElement[] Array(JsonElement e, string key, string file, string where) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().ToArray()
            : throw new ModelFormatException($"{file}: {where}.{key} must be a list");

    static List<AddedToken> ParseAddedTokens(JsonElement root, string file)
    {
        var list = new List<AddedToken>();
        if (Opt(root, "added_tokens") is not { } arr) return list;
        if (arr.ValueKind != JsonValueKind.Array) throw new ModelFormatException($"{file}: added_tokens must be a list");
        int i = 0;
        foreach (var t in arr.EnumerateArray())
        {
            string where = $"added_tokens[{i++}]";
            int id = Int(t, "id", -1, file, where);
            string content = Str(t, "content", file, where) ?? throw new ModelFormatException($"{file}: {where} has no content");
            if (id < 0) throw new ModelFormatException($"{file}: {where} ('{content}') has no valid id");
            bool special = Bool(t, "special", false, file, where);
            list.Add(new AddedToken(id, content, special, Bool(t, "lstrip", false, file, where), Bool(t, "rstrip", false, file, where),
                Bool(t, "single_word", false, file, where), Bool(t, "normalized", !special, file, where)));
        }
        return list;
    }

    static BpeModel ParseModel(JsonElement m, string file)
    {
        string type = m.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()!
            : m.TryGetProperty("merges", out _) ? "BPE" : "(none)";
        if (type != "BPE")
            throw new ModelFormatException($"{file}: model type '{type}' is not supported (only BPE is implemented)");
        if (m.TryGetProperty("dropout", out var dr) && dr.ValueKind != JsonValueKind.Null)
            throw new ModelFormatException($"{file}: model.dropout must be null (BPE dropout is random and not supported), found {dr.GetRawText()}");
        if (!m.TryGetProperty("vocab", out var v) || v.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException($"{file}: model.vocab must be an object of token → id");
        var vocab = new Dictionary<string, int>();
        foreach (var p in v.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw new ModelFormatException($"{file}: model.vocab['{p.Name}'] must be a non-negative integer id");
            vocab[p.Name] = id;
        }
        var merges = new List<(string, string)>();
        int r = 0;
        foreach (var e in Array(m, "merges", file, "model"))
        {
            if (e.ValueKind == JsonValueKind.String)
            {
                string s = e.GetString()!;
                int sp = s.IndexOf(' ');
                if (sp < 0) throw new ModelFormatException($"{file}: model.merges[{r}] '{s}' must be two tokens separated by a space");
                merges.Add((s[..sp], s[(sp + 1)..]));
            }
            else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2 && e[0].ValueKind == JsonValueKind.String && e[1].ValueKind == JsonValueKind.String)
                merges.Add((e[0].GetString()!, e[1].GetString()!));
            else throw new ModelFormatException($"{file}: model.merges[{r}] must be \"a b\" or [\"a\", \"b\"]");
            r++;
        }
        return new BpeModel(vocab, merges, Str(m, "unk_token", file, "model"), Bool(m, "byte_fallback", false, file, "model"),
            Bool(m, "fuse_unk", false, file, "model"), Bool(m, "ignore_merges", false, file, "model"),
            Str(m, "continuing_subword_prefix", file, "model"), Str(m, "end_of_word_suffix", file, "model"), file);
    }

    static OnigurumaRegex Pattern(JsonElement e, string file, string where)
    {
        if (!e.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException($"{file}: {where}.pattern must be {{\"String\": …}} or {{\"Regex\": …}}");
        if (p.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String) return OnigurumaRegex.Literal(s.GetString()!);
        if (p.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String) return OnigurumaRegex.Compile(r.GetString()!, $"{file}: {where}.pattern");
        throw new ModelFormatException($"{file}: {where}.pattern must be {{\"String\": …}} or {{\"Regex\": …}}");
    }

    static Normalizer ParseNormalizer(JsonElement e, string file, string where)
    {
        string type = TypeOf(e, file, where);
        return type switch
        {
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "Lowercase" => new LowercaseNormalizer(),
            "Replace" => new ReplaceNormalizer(Pattern(e, file, where), Str(e, "content", file, where) ?? ""),
            "Prepend" => new PrependNormalizer(Str(e, "prepend", file, where) ?? ""),
            "Strip" => new StripNormalizer(Bool(e, "strip_left", true, file, where), Bool(e, "strip_right", true, file, where)),
            "Sequence" => new SequenceNormalizer(Array(e, "normalizers", file, where).Select((x, i) => ParseNormalizer(x, file, $"{where}.normalizers[{i}]")).ToArray()),
            _ => throw new ModelFormatException($"{file}: {where}: normalizer type '{type}' is not supported"),
        };
    }

    static PrependScheme Prepend(JsonElement e, string file, string where)
    {
        string? scheme = Str(e, "prepend_scheme", file, where);
        if (scheme != null)
            return scheme switch
            {
                "always" => PrependScheme.Always,
                "first" => PrependScheme.First,
                "never" => PrependScheme.Never,
                _ => throw new ModelFormatException($"{file}: {where}.prepend_scheme '{scheme}' (expected always, first or never)"),
            };
        return Bool(e, "add_prefix_space", true, file, where) ? PrependScheme.Always : PrependScheme.Never;
    }

    static char Replacement(JsonElement e, string file, string where)
    {
        string r = Str(e, "replacement", file, where) ?? "\u2581";
        if (r.Length != 1) throw new ModelFormatException($"{file}: {where}.replacement must be one BMP character, got '{r}'");
        return r[0];
    }

    static PreTokenizer ParsePreTokenizer(JsonElement e, string file, string where)
    {
        string type = TypeOf(e, file, where);
        return type switch
        {
            "ByteLevel" => new ByteLevelPreTokenizer(Bool(e, "add_prefix_space", true, file, where), Bool(e, "use_regex", true, file, where)),
            "Split" => new SplitPreTokenizer(Pattern(e, file, where), SplitParts.Parse(Str(e, "behavior", file, where), $"{file}: {where}.behavior"),
                Bool(e, "invert", false, file, where)),
            "Punctuation" => new PunctuationPreTokenizer(SplitParts.Parse(Str(e, "behavior", file, where) ?? "Isolated", $"{file}: {where}.behavior")),
            "Digits" => new DigitsPreTokenizer(Bool(e, "individual_digits", false, file, where)),
            "Whitespace" => new WhitespacePreTokenizer(),
            "WhitespaceSplit" => new WhitespaceSplitPreTokenizer(),
            "Metaspace" => new MetaspacePreTokenizer(Replacement(e, file, where), Prepend(e, file, where), Bool(e, "split", true, file, where)),
            "Sequence" => new SequencePreTokenizer(Array(e, "pretokenizers", file, where).Select((x, i) => ParsePreTokenizer(x, file, $"{where}.pretokenizers[{i}]")).ToArray()),
            _ => throw new ModelFormatException($"{file}: {where}: pre-tokenizer type '{type}' is not supported"),
        };
    }

    static PostProcessor ParsePostProcessor(JsonElement e, string file, string where, BpeModel model, List<AddedToken> added)
    {
        string type = TypeOf(e, file, where);
        switch (type)
        {
            case "ByteLevel":
                return new ByteLevelPostProcessor(Bool(e, "trim_offsets", true, file, where), Bool(e, "add_prefix_space", true, file, where));
            case "Sequence":
                return new SequencePostProcessor(Array(e, "processors", file, where).Select((x, i) => ParsePostProcessor(x, file, $"{where}.processors[{i}]", model, added)).ToArray());
            case "TemplateProcessing":
            {
                var specials = new Dictionary<string, int[]>();
                if (e.TryGetProperty("special_tokens", out var st) && st.ValueKind == JsonValueKind.Object)
                    foreach (var p in st.EnumerateObject())
                        specials[p.Name] = Array(p.Value, "ids", file, $"{where}.special_tokens['{p.Name}']")
                            .Select(x => x.TryGetInt32(out int id) ? id : throw new ModelFormatException($"{file}: {where}.special_tokens['{p.Name}'].ids must be integers")).ToArray();
                var items = new List<int[]?>();
                int i = 0;
                foreach (var item in Array(e, "single", file, where))
                {
                    string iw = $"{where}.single[{i++}]";
                    if (item.TryGetProperty("Sequence", out var seq))
                    {
                        string? sid = Str(seq, "id", file, iw);
                        if (sid != "A") throw new ModelFormatException($"{file}: {iw}: a single-sequence template can only name sequence A, not '{sid}'");
                        items.Add(null);
                    }
                    else if (item.TryGetProperty("SpecialToken", out var sp))
                    {
                        string name = Str(sp, "id", file, iw) ?? throw new ModelFormatException($"{file}: {iw}.SpecialToken has no id");
                        items.Add(specials.TryGetValue(name, out var ids) ? ids
                            : throw new ModelFormatException($"{file}: {iw} names special token '{name}', which is not in {where}.special_tokens"));
                    }
                    else throw new ModelFormatException($"{file}: {iw} must be {{\"Sequence\": …}} or {{\"SpecialToken\": …}}");
                }
                return new TemplatePostProcessor(items);
            }
            default:
                throw new ModelFormatException($"{file}: {where}: post-processor type '{type}' is not supported");
        }
    }

    static Decoder ParseDecoder(JsonElement e, string file, string where)
    {
        string type = TypeOf(e, file, where);
        return type switch
        {
            "ByteLevel" => new ByteLevelDecoder(),
            "Metaspace" => new MetaspaceDecoder(Replacement(e, file, where), Prepend(e, file, where)),
            "Replace" => new ReplaceDecoder(Pattern(e, file, where), Str(e, "content", file, where) ?? ""),
            "Fuse" => new FuseDecoder(),
            "Strip" => new StripDecoder(Str(e, "content", file, where) ?? " ", Int(e, "start", 0, file, where), Int(e, "stop", 0, file, where)),
            "ByteFallback" => new ByteFallbackDecoder(),
            "Sequence" => new SequenceDecoder(Array(e, "decoders", file, where).Select((x, i) => ParseDecoder(x, file, $"{where}.decoders[{i}]")).ToArray()),
            _ => throw new ModelFormatException($"{file}: {where}: decoder type '{type}' is not supported"),
        };
    }
}
