// A Jinja chat-template interpreter for Hugging Face `chat_template` strings.
//
// Why our own: there is no Jinja package for .NET 10, so this folder implements the subset of Jinja2 that chat
// templates use (lexer → parser → tree-walking interpreter), with the options and extras transformers applies when it
// renders a chat template (transformers/utils/chat_template_utils.py `_compile_jinja_template`):
//   ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols]),
//   default Undefined, filter `tojson` = json.dumps(ensure_ascii=False, sort_keys=False), globals raise_exception and
//   strftime_now, and the `{% generation %}` block (rendered transparently).
// Values follow Python's data model (see Values.cs) because templates are written against Jinja2 on Python.
// Expected outputs in the tests come from @huggingface/jinja (the JS port HF uses), with documented Python overrides,
// plus seeded fuzz cases rendered by Python Jinja2 (tests/FalconMamba.Tests/ChatTemplates/).
//
// Pipeline: Lexer.cs (whitespace control) → Parser.cs (Ast.cs nodes) → Interpreter.cs (scopes, loops, macros) with
// Operators.cs, Filters.cs, Tests.cs, Methods.cs (str/dict/list methods), Globals.cs, Json.cs (tojson).
//
// Not supported (none is used by the chat templates we know of): {% raw %}, {% with %}, recursive for loops and
// loop.changed, {% include/import/extends/block %}, {% do %} (not enabled by transformers either); filters format,
// truncate, wordwrap, striptags, urlencode, urlize, xmlattr, pprint, filesizeformat, random. Known divergences from
// CPython: integers are 64-bit (overflow is an error), case mapping is .NET's invariant one, filters such as map and
// select return lists rather than lazy generators, and printing d.items() shows a list, not dict_items([...]).

using System.Text.Json.Nodes;

namespace FalconMamba.Tokenization.ChatTemplates;

/// <summary>One chat message as a template sees it: <c>{"role": ..., "content": ..., "tool_calls": ..., ...}</c>.</summary>
/// <param name="Role">"system", "user", "assistant", "tool", ...</param>
/// <param name="Content">The text; when null the message has no <c>content</c> key (the template sees it as undefined).</param>
public sealed record ChatTemplateMessage(string Role, string? Content)
{
    /// <summary>OpenAI/HF-style tool calls of an assistant message, e.g. <c>[{"type":"function","function":{"name":..,"arguments":{..}}}]</c>.</summary>
    public JsonNode? ToolCalls { get; init; }

    /// <summary>For a <c>tool</c> message: the id of the call it answers (key <c>tool_call_id</c>).</summary>
    public string? ToolCallId { get; init; }

    /// <summary>Optional <c>name</c> key (tool name or participant name).</summary>
    public string? Name { get; init; }

    /// <summary>Any further keys (JSON nodes, strings, numbers, booleans, lists, dictionaries).</summary>
    public IReadOnlyDictionary<string, object?>? Extra { get; init; }

    internal PyDict ToTemplateValue()
    {
        var d = new PyDict { ["role"] = Role };
        if (Content != null) d["content"] = Content;
        if (ToolCalls != null) d["tool_calls"] = Py.FromJson(ToolCalls);
        if (ToolCallId != null) d["tool_call_id"] = ToolCallId;
        if (Name != null) d["name"] = Name;
        if (Extra != null) foreach (var kv in Extra) d[kv.Key] = Py.FromClr(kv.Value);
        return d;
    }
}

/// <summary>
/// A parsed chat template: parse once with <see cref="Parse"/>, then render any number of conversations, from any
/// number of threads (the parsed tree is immutable; each render has its own state).
/// </summary>
public sealed class ChatTemplate
{
    readonly Stmt[] _body;

    /// <summary>The template text as given.</summary>
    public string Source { get; }

    /// <summary>The clock behind <c>strftime_now</c>: local time by default, as Python's <c>datetime.now()</c>.</summary>
    public Func<DateTime> Clock { get; }

    ChatTemplate(string source, Stmt[] body, Func<DateTime> clock)
    {
        Source = source;
        _body = body;
        Clock = clock;
    }

    /// <summary>The same parsed template with another clock for <c>strftime_now</c> (for reproducible prompts and tests).</summary>
    public ChatTemplate WithClock(Func<DateTime> clock) => new(Source, _body, clock ?? throw new ArgumentNullException(nameof(clock)));

    /// <summary>Parses a Jinja chat template.</summary>
    /// <exception cref="TemplateException">Syntax error, unknown tag, unterminated tag or string; the message names line and column.</exception>
    public static ChatTemplate Parse(string templateText)
    {
        ArgumentNullException.ThrowIfNull(templateText);
        return new ChatTemplate(templateText, Parser.Parse(templateText), () => DateTime.Now);
    }

    /// <summary>
    /// Renders a conversation with the variables transformers passes: <c>messages</c>, <c>tools</c> (None when not
    /// given), <c>add_generation_prompt</c>, <c>bos_token</c>/<c>eos_token</c> (left undefined when null), plus extras
    /// (e.g. <c>date_string</c>, <c>enable_thinking</c>), which override the standard ones.
    /// </summary>
    /// <param name="messages">The conversation.</param>
    /// <param name="addGenerationPrompt">Whether to append the assistant turn header.</param>
    /// <param name="tools">Tool definitions (JSON schema objects as <see cref="JsonNode"/>, dictionaries, ...), or null.</param>
    /// <param name="extraVariables">More template variables.</param>
    /// <param name="bosToken">The tokenizer's bos token text.</param>
    /// <param name="eosToken">The tokenizer's eos token text.</param>
    /// <exception cref="TemplateException">A render error or <c>raise_exception</c>; the message names line and column.</exception>
    public string Render(IReadOnlyList<ChatTemplateMessage> messages, bool addGenerationPrompt, IReadOnlyList<object>? tools = null,
        IReadOnlyDictionary<string, object?>? extraVariables = null, string? bosToken = null, string? eosToken = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var msgs = messages.Select(m => (object?)m.ToTemplateValue()).ToList();
        return RenderCore(msgs, addGenerationPrompt, tools == null ? null : Py.FromClr(tools), extraVariables, bosToken, eosToken);
    }

    /// <summary>As <see cref="Render"/>, with messages and tools given as JSON arrays (HF/OpenAI message format).</summary>
    public string RenderJson(JsonArray messages, bool addGenerationPrompt, JsonArray? tools = null,
        IReadOnlyDictionary<string, object?>? extraVariables = null, string? bosToken = null, string? eosToken = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return RenderCore(Py.FromJson(messages), addGenerationPrompt, tools == null ? null : Py.FromJson(tools), extraVariables, bosToken, eosToken);
    }

    string RenderCore(object? messages, bool addGenerationPrompt, object? tools, IReadOnlyDictionary<string, object?>? extra, string? bos, string? eos)
    {
        var vars = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messages,
            ["tools"] = tools,
            ["documents"] = null,
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        if (bos != null) vars["bos_token"] = bos;
        if (eos != null) vars["eos_token"] = eos;
        if (extra != null) foreach (var kv in extra) vars[kv.Key] = kv.Value;
        return RenderVariables(vars);
    }

    /// <summary>Renders with exactly the given top-level variables (values as for <see cref="ChatTemplateMessage.Extra"/>).</summary>
    public string RenderVariables(IReadOnlyDictionary<string, object?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var root = new Scope(null);
        Globals.AddTo(root, Clock);
        var top = new Scope(root);
        foreach (var kv in variables) top.Set(kv.Key, Py.FromClr(kv.Value));
        return new Interpreter().Render(_body, top);
    }
}
