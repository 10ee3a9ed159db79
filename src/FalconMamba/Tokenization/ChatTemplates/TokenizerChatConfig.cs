using System.Text.Json;

namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>
/// The chat-related fields of a Hugging Face tokenizer folder, read straight from <c>tokenizer_config.json</c>:
/// <c>chat_template</c> (a string, or a list of <c>{"name", "template"}</c> from which "default" is used) and
/// <c>bos_token</c>/<c>eos_token</c> (a string or an AddedToken object <c>{"content": ...}</c>). Newer transformers
/// versions save the template as <c>chat_template.jinja</c> beside the config instead; that file is used when the
/// config has no template.
/// </summary>
public sealed class TokenizerChatConfig
{
    /// <summary>The template text, or null when the tokenizer has none.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>The bos token text, or null.</summary>
    public string? BosToken { get; init; }

    /// <summary>The eos token text, or null.</summary>
    public string? EosToken { get; init; }

    /// <summary>Reads a tokenizer folder, or a <c>tokenizer_config.json</c> path, or any file inside the folder.</summary>
    /// <exception cref="ModelFormatException">The config is malformed; the message names the file and key.</exception>
    public static TokenizerChatConfig Load(string path)
    {
        if (!Directory.Exists(path) && !File.Exists(path)) throw new FileNotFoundException($"tokenizer path not found: {path}", path);
        string folder = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        string configPath = File.Exists(path) && Path.GetFileName(path) == "tokenizer_config.json" ? path : Path.Combine(folder, "tokenizer_config.json");
        string jinjaPath = Path.Combine(folder, "chat_template.jinja");
        if (!File.Exists(configPath))
        {
            if (File.Exists(jinjaPath)) return new TokenizerChatConfig { ChatTemplate = File.ReadAllText(jinjaPath) };
            throw new FileNotFoundException($"{configPath}: file not found (needed for the chat template)", configPath);
        }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(configPath), new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new ModelFormatException($"{configPath}: invalid JSON: {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException($"{configPath}: expected a JSON object at the top level");
            string? template = null;
            if (root.TryGetProperty("chat_template", out var ct)) template = ReadTemplate(ct, configPath);
            if (template == null && File.Exists(jinjaPath)) template = File.ReadAllText(jinjaPath);
            return new TokenizerChatConfig
            {
                ChatTemplate = template,
                BosToken = ReadToken(root, "bos_token", configPath),
                EosToken = ReadToken(root, "eos_token", configPath),
            };
        }
    }

    static string? ReadTemplate(JsonElement ct, string file)
    {
        switch (ct.ValueKind)
        {
            case JsonValueKind.Null: return null;
            case JsonValueKind.String: return ct.GetString();
            case JsonValueKind.Array:
                var names = new List<string>();
                foreach (var item in ct.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String
                        || !item.TryGetProperty("template", out var t) || t.ValueKind != JsonValueKind.String)
                        throw new ModelFormatException($"{file}: chat_template list entries must be {{\"name\": string, \"template\": string}}");
                    if (n.GetString() == "default") return t.GetString();
                    names.Add(n.GetString()!);
                }
                throw new ModelFormatException($"{file}: chat_template has no \"default\" entry (it has: {string.Join(", ", names)}); pass --template");
            default:
                throw new ModelFormatException($"{file}: chat_template must be a string or a list of {{name, template}}, not {ct.ValueKind}");
        }
    }

    static string? ReadToken(JsonElement root, string key, string file)
    {
        if (!root.TryGetProperty(key, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new ModelFormatException($"{file}: {key} must be a string or an object with a string \"content\""),
        };
    }
}
