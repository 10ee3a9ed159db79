using System.Net.Http.Json;
using System.Text.Json.Nodes;
using FalconMamba.Evaluation;
using FalconMamba.Model;
using FalconMamba.Server;
using Microsoft.AspNetCore.Builder;

namespace FalconMamba.Tests.Server;

/// <summary>The OpenAI-compatible server on a loopback port.</summary>
public class OpenAiServerTests
{
    [Fact]
    public async Task CompletionsEchoLogprobsMatchTheEvaluatorAndChatReusesState()
    {
        var ct = TestContext.Current.CancellationToken;
        var (dir, tok) = FalconMamba.Tests.Generation.ChatClientTests.ModelWithTokenizer(9);
        using var model = MambaModel.Load(dir);
        var app = OpenAiServer.Build(model, tok, new ServerOptions { Threads = 1, ChunkSize = 8 }, "http://127.0.0.1:0");
        await app.StartAsync(ct);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
            Assert.Equal("ok", (await http.GetFromJsonAsync<JsonObject>("/health", ct))!["status"]!.GetValue<string>());

            // lm-eval style: echo + logprobs, max_tokens 0 → log-probabilities of the prompt tokens
            int[] prompt = tok.EncodeToIds("the lord said unto the king");
            var resp = await http.PostAsJsonAsync("/v1/completions", new { prompt, max_tokens = 0, echo = true, logprobs = 1 }, ct);
            resp.EnsureSuccessStatusCode();
            var body = (await resp.Content.ReadFromJsonAsync<JsonObject>(ct))!;
            var lp = body["choices"]![0]!["logprobs"]!["token_logprobs"]!.AsArray();
            Assert.Equal(prompt.Length, lp.Count);
            Assert.Null(lp[0]);
            using var ev = new Evaluator(model, 1, 8);
            var expected = ev.ScoreContinuations(prompt[..1], [prompt[1..]])[0].LogLikelihood;
            double got = lp.Skip(1).Sum(x => x!.GetValue<double>());
            Assert.Equal(expected, got, 4);

            // plain completion, seeded
            var c1 = await (await http.PostAsJsonAsync("/v1/completions", new { prompt = "in the beginning", max_tokens = 5, temperature = 0.7, seed = 4 }, ct)).Content.ReadFromJsonAsync<JsonObject>(ct);
            var c2 = await (await http.PostAsJsonAsync("/v1/completions", new { prompt = "in the beginning", max_tokens = 5, temperature = 0.7, seed = 4 }, ct)).Content.ReadFromJsonAsync<JsonObject>(ct);
            Assert.Equal(c1!["choices"]![0]!["text"]!.GetValue<string>(), c2!["choices"]![0]!["text"]!.GetValue<string>());
            Assert.True(c2["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>() > 0);   // the repeated prompt came from the cache

            // chat: second turn reports cached prompt tokens
            var history = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "and god said" });
            var t1 = (await (await http.PostAsJsonAsync("/v1/chat/completions", new JsonObject { ["messages"] = history.DeepClone(), ["max_tokens"] = 4, ["temperature"] = 0 }, ct)).Content.ReadFromJsonAsync<JsonObject>(ct))!;
            history.Add(new JsonObject { ["role"] = "assistant", ["content"] = t1["choices"]![0]!["message"]!["content"]!.GetValue<string>() });
            history.Add(new JsonObject { ["role"] = "user", ["content"] = "let there be light" });
            var t2 = (await (await http.PostAsJsonAsync("/v1/chat/completions", new JsonObject { ["messages"] = history.DeepClone(), ["max_tokens"] = 4, ["temperature"] = 0 }, ct)).Content.ReadFromJsonAsync<JsonObject>(ct))!;
            Assert.True(t2["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>() > 0);

            // streaming chat as server-sent events
            var sse = await (await http.PostAsJsonAsync("/v1/chat/completions", new JsonObject { ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" }), ["max_tokens"] = 3, ["stream"] = true }, ct)).Content.ReadAsStringAsync(ct);
            Assert.EndsWith("data: [DONE]\n\n", sse);
            Assert.Contains("chat.completion.chunk", sse);

            // bad requests give a JSON error
            var bad = await http.PostAsync("/v1/completions", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"), ct);
            Assert.Equal(400, (int)bad.StatusCode);
            var bad2 = await http.PostAsJsonAsync("/v1/completions", new { prompt = "x", max_tokens = -3 }, ct);
            Assert.Contains("max_tokens", await bad2.Content.ReadAsStringAsync(ct));
        }
        finally { await app.StopAsync(ct); }
    }
}
