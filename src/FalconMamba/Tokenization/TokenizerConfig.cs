using System.Text.Json;

namespace FalconMamba.Tokenization;

/// <summary>
/// The parts of Hugging Face <c>tokenizer_config.json</c> the tokenizer uses: special-token strings, BOS/EOS flags,
/// <c>clean_up_tokenization_spaces</c> and chat templates. Absent file or key = transformers' default.
/// </summary>
public sealed record TokenizerConfig
{
    /// <summary>bos_token (a string, or the <c>content</c> of an object).</summary>
    public string? BosToken { get; init; }
    /// <summary>eos_token.</summary>
    public string? EosToken { get; init; }
    /// <summary>pad_token.</summary>
    public string? PadToken { get; init; }
    /// <summary>unk_token.</summary>
    public string? UnkToken { get; init; }
    /// <summary>add_bos_token (null when absent).</summary>
    public bool? AddBosToken { get; init; }
    /// <summary>add_eos_token (null when absent).</summary>
    public bool? AddEosToken { get; init; }
    /// <summary>clean_up_tokenization_spaces (transformers' default: false).</summary>
    public bool CleanUpTokenizationSpaces { get; init; }
    /// <summary>The default chat template (the string form, or the entry named "default").</summary>
    public string? ChatTemplate { get; init; }
    /// <summary>All named chat templates (the list form; the string form is named "default").</summary>
    public IReadOnlyDictionary<string, string> ChatTemplates { get; init; } = new Dictionary<string, string>();

    /// <summary>Reads a tokenizer_config.json; errors name the file and key.</summary>
    public static TokenizerConfig Load(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        TokenizerJson.CheckUtf8(bytes, path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new ModelFormatException($"{path}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException($"{path}: expected a JSON object");
            var templates = new Dictionary<string, string>();
            string? chat = null;
            if (root.TryGetProperty("chat_template", out var ct))
            {
                if (ct.ValueKind == JsonValueKind.String) { chat = ct.GetString(); templates["default"] = chat!; }
                else if (ct.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in ct.EnumerateArray())
                    {
                        if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String
                            || !item.TryGetProperty("template", out var t) || t.ValueKind != JsonValueKind.String)
                            throw new ModelFormatException($"{path}: chat_template list entries must be {{\"name\": string, \"template\": string}}");
                        templates[n.GetString()!] = t.GetString()!;
                    }
                    templates.TryGetValue("default", out chat);
                }
                else if (ct.ValueKind != JsonValueKind.Null)
                    throw new ModelFormatException($"{path}: chat_template must be a string or a list of {{name, template}}");
            }
            return new TokenizerConfig
            {
                BosToken = TokenString(root, "bos_token", path),
                EosToken = TokenString(root, "eos_token", path),
                PadToken = TokenString(root, "pad_token", path),
                UnkToken = TokenString(root, "unk_token", path),
                AddBosToken = Bool(root, "add_bos_token", path),
                AddEosToken = Bool(root, "add_eos_token", path),
                CleanUpTokenizationSpaces = Bool(root, "clean_up_tokenization_spaces", path) ?? false,
                ChatTemplate = chat,
                ChatTemplates = templates,
            };
        }
    }

    static string? TokenString(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString();
        throw new ModelFormatException($"{path}: {key} must be a string or an object with \"content\"");
    }

    static bool? Bool(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFormatException($"{path}: {key} must be true or false"),
        };
    }
}
