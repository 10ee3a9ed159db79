using System.Text.Json.Nodes;
using FalconMamba.Tokenization.ChatTemplates;

namespace FalconMamba.Tests.ChatTemplates;

/// <summary>The public API beyond the fixtures: typed messages, tools, extras, thread safety, errors, tokenizer config reading.</summary>
public class ChatTemplateApiTests
{
    const string ChatMl = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    [Fact]
    public void TypedMessagesRenderLikeJsonMessages()
    {
        var t = ChatTemplate.Parse(ChatMl);
        var typed = t.Render([new ChatTemplateMessage("system", "Be brief."), new ChatTemplateMessage("user", "Hi")], addGenerationPrompt: true);
        var json = t.RenderJson(JsonNode.Parse("""[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]""")!.AsArray(), true);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", typed);
        Assert.Equal(typed, json);
    }

    [Fact]
    public void ToolsToolCallsExtrasAndSpecialTokensReachTheTemplate()
    {
        var t = ChatTemplate.Parse(
            "{{ bos_token }}{% for tool in tools %}{{ tool.function.name }}:{{ tool.function.parameters | tojson }};{% endfor %}" +
            "{% for m in messages %}{{ m.role }}{% if m.tool_calls is defined %}->{{ m.tool_calls[0].function.name }}({{ m.tool_calls[0].function.arguments.city }}){% endif %}" +
            "{% if m.tool_call_id is defined %}[{{ m.tool_call_id }}]{% endif %}{% if m.content is defined %}={{ m.content }}{% endif %};{% endfor %}{{ mode }}{{ n + 1 }}{{ eos_token }}");
        var tool = JsonNode.Parse("""{"type":"function","function":{"name":"weather","parameters":{"type":"object","required":["city"]}}}""")!;
        var messages = new[]
        {
            new ChatTemplateMessage("user", "Paris?"),
            new ChatTemplateMessage("assistant", null) { ToolCalls = JsonNode.Parse("""[{"function":{"name":"weather","arguments":{"city":"Paris"}}}]""") },
            new ChatTemplateMessage("tool", "22") { ToolCallId = "c1" },
        };
        string s = t.Render(messages, false, tools: [tool], extraVariables: new Dictionary<string, object?> { ["mode"] = "fast", ["n"] = 41 },
            bosToken: "<s>", eosToken: "</s>");
        Assert.Equal("<s>weather:{\"type\": \"object\", \"required\": [\"city\"]};user=Paris?;assistant->weather(Paris);tool[c1]=22;fast42</s>", s);
    }

    [Fact]
    public void MissingToolsIsNoneAndMissingBosIsUndefined()
    {
        var t = ChatTemplate.Parse("{{ 'none' if tools is none else 'set' }}|{{ 'def' if bos_token is defined else 'undef' }}|{{ add_generation_prompt }}");
        Assert.Equal("none|undef|False", t.Render([], false));
    }

    [Fact]
    public void ParseOnceRenderConcurrently()
    {
        var t = ChatTemplate.Parse("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + m.content | length %}{{ loop.index }}{{ m.content }}{% endfor %}={{ ns.n }}");
        var results = new string[64];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var msgs = Enumerable.Range(0, i % 7 + 1).Select(k => new ChatTemplateMessage("user", new string('x', k + i % 3))).ToList();
            results[i] = t.Render(msgs, false);
        });
        for (int i = 0; i < results.Length; i++)
        {
            var msgs = Enumerable.Range(0, i % 7 + 1).Select(k => new string('x', k + i % 3)).ToList();
            string expected = string.Concat(msgs.Select((m, k) => $"{k + 1}{m}")) + "=" + msgs.Sum(m => m.Length);
            Assert.Equal(expected, results[i]);
        }
    }

    [Fact]
    public void StrftimeNowUsesTheClock()
    {
        var t = ChatTemplate.Parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %-d %j %p') }}")
            .WithClock(() => new DateTime(2024, 7, 5, 14, 3, 9));
        // Expected text: Python's datetime(2024, 7, 5, 14, 3, 9).strftime(...) with the same formats.
        Assert.Equal("05 Jul 2024|2024-07-05 14:03:09 Friday July 5 187 PM", t.Render([], false));
    }

    [Theory]
    [InlineData("{{ x", 1, 1, "unterminated")]
    [InlineData("a\n\n  {% for x in y %}", 3, 6, "never closed")]
    [InlineData("{{ 'abc }}", 1, 4, "unterminated string")]
    [InlineData("{{ x | nope }}", 1, 8, "unknown filter 'nope'")]
    [InlineData("{% if x %}{% endfor %}", 1, 14, "unexpected 'endfor'")]
    [InlineData("{{ raise_exception('boom') }}", 1, 4, "boom")]
    [InlineData("{{ 1 / 0 }}", 1, 6, "division by zero")]
    [InlineData("{{ 'a' + 1 }}", 1, 8, "can only concatenate str")]
    [InlineData("{{ {} | tojson }}{{ missing | tojson }}", 1, 31, "not JSON serializable")]
    public void ErrorsNameLineAndColumn(string template, int line, int column, string fragment)
    {
        var ex = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(template).Render([], false));
        TestContext.Current.TestOutputHelper?.WriteLine(ex.Message);
        Assert.Equal((line, column), (ex.Line, ex.Column));
        Assert.Contains(fragment, ex.Message);
        Assert.StartsWith($"chat template line {line}, column {column}: ", ex.Message);
        Assert.IsAssignableFrom<FalconMambaException>(ex);
    }

    [Fact]
    public void RaiseExceptionReasonIsTheTemplatesMessage()
    {
        var ex = Assert.Throws<TemplateException>(() => ChatTemplate.Parse("{{ raise_exception('Roles must alternate') }}").Render([], false));
        Assert.Equal("Roles must alternate", ex.Reason);
    }

    [Fact]
    public void TokenizerConfigReadsTemplateStringListAndAddedTokens()
    {
        string dir = TestPaths.NewTempDir("tpl");
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
                """{"bos_token": {"content": "<|begin_of_text|>", "__type": "AddedToken"}, "eos_token": "<|end_of_text|>", "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ bos_token }}"}]}""");
            var c = TokenizerChatConfig.Load(dir);
            Assert.Equal(("D{{ bos_token }}", "<|begin_of_text|>", "<|end_of_text|>"), (c.ChatTemplate, c.BosToken, c.EosToken));
            Assert.Equal("D<|begin_of_text|>", ChatTemplate.Parse(c.ChatTemplate!).Render([], false, bosToken: c.BosToken));

            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"eos_token": null, "chat_template": "S"}""");
            c = TokenizerChatConfig.Load(Path.Combine(dir, "tokenizer_config.json"));
            Assert.Equal(("S", (string?)null, (string?)null), (c.ChatTemplate, c.BosToken, c.EosToken));

            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"chat_template": [{"name": "rag", "template": "R"}]}""");
            var ex = Assert.Throws<ModelFormatException>(() => TokenizerChatConfig.Load(dir));
            Assert.Contains("no \"default\"", ex.Message);

            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"bos_token": "<s>"}""");
            File.WriteAllText(Path.Combine(dir, "chat_template.jinja"), "J");
            Assert.Equal("J", TokenizerChatConfig.Load(dir).ChatTemplate);

            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{ not json");
            Assert.Throws<ModelFormatException>(() => TokenizerChatConfig.Load(dir));
        }
        finally { Directory.Delete(dir, true); }
    }
}
