using System.Diagnostics;
using System.Text.Json.Nodes;
using FalconMamba.Tokenization.ChatTemplates;

namespace FalconMamba.Tests.ChatTemplates;

/// <summary>Hostile or large inputs: errors instead of stack overflows, and render speed on a long conversation.</summary>
public class ChatTemplateLimitsTests
{
    [Theory]
    [InlineData("{{ " + "(" + "(" + "(" + "}}", "unexpected")]
    [InlineData("deep-parens", "nests deeper")]
    [InlineData("deep-not", "nests deeper")]
    [InlineData("deep-if", "nests deeper")]
    public void DeepNestingIsAnErrorNotACrash(string kind, string fragment)
    {
        string template = kind switch
        {
            "deep-parens" => "{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}",
            "deep-not" => "{{ " + string.Concat(Enumerable.Repeat("not ", 5000)) + "1 }}",
            "deep-if" => string.Concat(Enumerable.Repeat("{% if true %}", 5000)) + string.Concat(Enumerable.Repeat("{% endif %}", 5000)),
            _ => kind,
        };
        var ex = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(template));
        Assert.Contains(fragment, ex.Message);
    }

    [Fact]
    public void RunawayMacroRecursionIsAnError()
    {
        var t = ChatTemplate.Parse("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        var ex = Assert.Throws<TemplateException>(() => t.Render([], false));
        Assert.Contains("recursed more than", ex.Message);
    }

    [Fact]
    public void HugeRangeIsRefusedAsInTheSandbox()
    {
        var ex = Assert.Throws<TemplateException>(() => ChatTemplate.Parse("{% for i in range(1000000) %}{% endfor %}").Render([], false));
        Assert.Contains("MAX_RANGE", ex.Message);
    }

    [Fact]
    public void LongConversationRendersFast()
    {
        const int N = 2000;
        string template = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "FalconMamba.Tests", "ChatTemplates", "Fixtures", "llama31-tools.json"));
        var fixture = JsonNode.Parse(template)!["cases"]![1]!;
        var chat = ChatTemplate.Parse((string)fixture["template"]!);
        var tools = fixture["variables"]!["tools"]!.AsArray();
        var messages = new JsonArray();
        for (int i = 0; i < N; i++)
            messages.Add(new JsonObject { ["role"] = i % 2 == 0 ? "user" : "assistant", ["content"] = $"message number {i} with some words in it" });
        chat.RenderJson(messages, true, tools); // warm-up (JIT)
        var sw = Stopwatch.StartNew();
        string s = chat.RenderJson(messages, true, tools);
        sw.Stop();
        TestContext.Current.TestOutputHelper?.WriteLine($"llama31-tools template, {N} messages: {s.Length:N0} chars in {sw.Elapsed.TotalMilliseconds:F1} ms ({s.Length / sw.Elapsed.TotalSeconds / 1e6:F1} M chars/s)");
        Assert.Contains($"message number {N - 1} with some words in it<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", s);
        // system header + one per message (the first user message is merged into the tools turn) + the generation prompt
        Assert.Equal(1 + N + 1, s.Split("<|start_header_id|>").Length - 1);
    }
}
