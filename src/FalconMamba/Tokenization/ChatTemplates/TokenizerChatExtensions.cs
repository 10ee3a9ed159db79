using System.Runtime.CompilerServices;

namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>
/// <c>apply_chat_template</c> on a <see cref="Tokenizer"/>: renders the tokenizer_config.json template (the default one,
/// or a named one when the config holds a list) with the tokenizer's bos/eos strings, as transformers does.
/// Parsed templates are cached per tokenizer.
/// </summary>
public static class TokenizerChatExtensions
{
    static readonly ConditionalWeakTable<Tokenizer, Dictionary<string, ChatTemplate>> Parsed = new();

    /// <summary>The parsed chat template (<paramref name="name"/> selects one of several; null = "default").</summary>
    public static ChatTemplate GetChatTemplate(this Tokenizer tokenizer, string? name = null)
    {
        var cache = Parsed.GetOrCreateValue(tokenizer);
        string key = name ?? "default";
        lock (cache)
        {
            if (cache.TryGetValue(key, out var t)) return t;
            string? text = name == null ? tokenizer.ChatTemplate ?? (tokenizer.ChatTemplates.TryGetValue("default", out var d) ? d : null)
                : tokenizer.ChatTemplates.TryGetValue(name, out var n) ? n : null;
            if (text == null)
                throw new FalconMambaException(name == null ? "tokenizer_config.json has no chat_template" : $"tokenizer_config.json has no chat template named '{name}'");
            return cache[key] = ChatTemplate.Parse(text);
        }
    }

    /// <summary>Renders a conversation to prompt text.</summary>
    public static string ApplyChatTemplate(this Tokenizer tokenizer, IReadOnlyList<ChatTemplateMessage> messages, bool addGenerationPrompt,
        IReadOnlyList<object>? tools = null, IReadOnlyDictionary<string, object?>? extraVariables = null, string? templateName = null) =>
        tokenizer.GetChatTemplate(templateName).Render(messages, addGenerationPrompt, tools, extraVariables, tokenizer.BosToken, tokenizer.EosToken);

    /// <summary>Renders a conversation and encodes it (special tokens in the text are parsed; no extra bos/eos added,
    /// since the template writes them, as transformers' apply_chat_template(tokenize=True) does).</summary>
    public static int[] ApplyChatTemplateIds(this Tokenizer tokenizer, IReadOnlyList<ChatTemplateMessage> messages, bool addGenerationPrompt,
        IReadOnlyList<object>? tools = null, IReadOnlyDictionary<string, object?>? extraVariables = null, string? templateName = null) =>
        tokenizer.EncodeToIds(tokenizer.ApplyChatTemplate(messages, addGenerationPrompt, tools, extraVariables, templateName), addSpecialTokens: false);

    /// <summary>A <see cref="Generation.ChatPromptRenderer"/> over this tokenizer's template.</summary>
    public static Generation.ChatPromptRenderer ChatRenderer(this Tokenizer tokenizer, string? templateName = null)
    {
        var t = tokenizer.GetChatTemplate(templateName);
        return (msgs, addGen) => t.Render(msgs.Select(m => new ChatTemplateMessage(m.Role, m.Content)).ToList(), addGen, bosToken: tokenizer.BosToken, eosToken: tokenizer.EosToken);
    }
}
