using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FalconMamba.Evaluation;
using FalconMamba.Generation;
using FalconMamba.Model;
using FalconMamba.Tokenization;
using FalconMamba.Tokenization.ChatTemplates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace FalconMamba.Server;

/// <summary>Options of the HTTP server.</summary>
public sealed record ServerOptions
{
    /// <summary>Name reported as the model id.</summary>
    public string ModelId { get; init; } = "falcon-mamba";
    /// <summary>Worker threads (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Prefill chunk size.</summary>
    public int ChunkSize { get; init; } = 64;
    /// <summary>Largest max_tokens accepted.</summary>
    public int MaxTokensLimit { get; init; } = 4096;
}

/// <summary>
/// An OpenAI-compatible server: <c>/v1/completions</c> (with <c>echo</c> + <c>logprobs</c> over the prompt, so
/// lm-evaluation-harness log-likelihood tasks work — ECOSYSTEM.md ask #3), <c>/v1/chat/completions</c> (the model's chat
/// template; follow-up turns reuse the recurrent state instead of re-reading the history — ask #1), streaming as
/// server-sent events, <c>/v1/models</c> and <c>/health</c>. Requests run one at a time per endpoint kind.
/// </summary>
public static class OpenAiServer
{
    /// <summary>Builds the app bound to <paramref name="urls"/> (use loopback addresses).</summary>
    public static WebApplication Build(MambaModel model, Tokenizer tokenizer, ServerOptions options, params string[] urls)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(urls);
        var app = builder.Build();
        var completions = new CompletionEngine(model, tokenizer, options);
        IChatClient? chat = tokenizer.ChatTemplate != null || tokenizer.ChatTemplates.Count > 0
            ? new FalconMambaChatClient(model, tokenizer, tokenizer.ChatRenderer(), options.ModelId, options.Threads) : null;
        app.Lifetime.ApplicationStopped.Register(() => { completions.Dispose(); chat?.Dispose(); });

        app.MapGet("/health", () => Results.Json(new { status = "ok" }));
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = new[] { new { id = options.ModelId, @object = "model", owned_by = "local", created = 0 } },
        }));
        app.MapPost("/v1/completions", async (HttpContext http) =>
        {
            var body = await ReadBody(http);
            if (body.Error != null) return body.Error;
            try { return await completions.Handle(body.Json!, http); }
            catch (RequestException e) { return Error(400, e.Message); }
        });
        app.MapPost("/v1/chat/completions", async (HttpContext http) =>
        {
            if (chat == null) return Error(400, "the model's tokenizer_config.json has no chat_template");
            var body = await ReadBody(http);
            if (body.Error != null) return body.Error;
            try { return await ChatCompletions(chat, body.Json!, options, http); }
            catch (RequestException e) { return Error(400, e.Message); }
            catch (TemplateException e) { return Error(400, e.Message); }
        });
        return app;
    }

    sealed class RequestException(string message) : Exception(message);

    static async Task<(JsonObject? Json, IResult? Error)> ReadBody(HttpContext http)
    {
        try
        {
            var node = await JsonNode.ParseAsync(http.Request.Body);
            return node is JsonObject o ? (o, null) : (null, Error(400, "the request body must be a JSON object"));
        }
        catch (JsonException e) { return (null, Error(400, $"invalid JSON: {e.Message}")); }
    }

    static IResult Error(int status, string message) =>
        Results.Json(new { error = new { message, type = "invalid_request_error" } }, statusCode: status);

    static T? Get<T>(JsonObject o, string key)
    {
        var n = o[key];
        if (n is null) return default;
        try { return n.GetValue<T>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new RequestException($"field '{key}' has the wrong type: {n.ToJsonString()}"); }
    }

    internal static SamplingOptions Sampling(JsonObject o, ServerOptions opt, IReadOnlyList<int> eos)
    {
        int maxTokens = Get<int?>(o, "max_completion_tokens") ?? Get<int?>(o, "max_tokens") ?? 16;
        if (maxTokens < 0 || maxTokens > opt.MaxTokensLimit) throw new RequestException($"max_tokens must be between 0 and {opt.MaxTokensLimit}");
        float temp = Get<float?>(o, "temperature") ?? 1f;
        string[] stop = o["stop"] switch
        {
            null => [],
            JsonArray a => a.Select(x => x?.GetValue<string>() ?? "").Where(s => s.Length > 0).ToArray(),
            var v => [v.GetValue<string>()],
        };
        try
        {
            return new SamplingOptions
            {
                DoSample = temp > 0,
                Temperature = temp,
                TopP = Get<float?>(o, "top_p") ?? 1f,
                TopK = Get<int?>(o, "top_k") ?? 0,
                MinP = Get<float?>(o, "min_p") ?? 0f,
                RepetitionPenalty = Get<float?>(o, "repetition_penalty") ?? 1f,
                Seed = Get<int?>(o, "seed"),
                MaxNewTokens = maxTokens,
                StopStrings = stop,
                EosTokenIds = eos,
            }.Validate();
        }
        catch (ArgumentOutOfRangeException e) { throw new RequestException(e.Message.Split('\n')[0].Replace("--", "").Replace("-", "_")); }
    }

    static async Task<IResult> ChatCompletions(IChatClient chat, JsonObject o, ServerOptions opt, HttpContext http)
    {
        if (o["messages"] is not JsonArray msgs || msgs.Count == 0) throw new RequestException("field 'messages' must be a non-empty array");
        var messages = msgs.Select((m, i) =>
        {
            string role = m?["role"]?.GetValue<string>() ?? throw new RequestException($"messages[{i}] has no role");
            string content = m["content"] switch
            {
                null => "",
                JsonValue v => v.GetValue<string>(),
                JsonArray parts => string.Concat(parts.Select(p => p?["text"]?.GetValue<string>() ?? "")),
                _ => throw new RequestException($"messages[{i}].content has an unsupported type"),
            };
            return new ChatMessage(new ChatRole(role), content);
        }).ToList();
        var s = Sampling(o, opt, []);
        var chatOptions = new ChatOptions
        {
            Temperature = s.Temperature, TopP = s.TopP, TopK = s.TopK == 0 ? null : s.TopK, MaxOutputTokens = s.MaxNewTokens,
            Seed = s.Seed, StopSequences = s.StopStrings.ToList(),
            AdditionalProperties = new AdditionalPropertiesDictionary { ["min_p"] = s.MinP, ["repetition_penalty"] = s.RepetitionPenalty },
        };
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (Get<bool?>(o, "stream") == true)
        {
            http.Response.ContentType = "text/event-stream";
            await foreach (var u in chat.GetStreamingResponseAsync(messages, chatOptions, http.RequestAborted))
            {
                var usage = u.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
                var chunk = new JsonObject
                {
                    ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = opt.ModelId,
                    ["choices"] = new JsonArray(new JsonObject
                    {
                        ["index"] = 0,
                        ["delta"] = u.FinishReason == null ? new JsonObject { ["role"] = "assistant", ["content"] = u.Text } : new JsonObject(),
                        ["finish_reason"] = u.FinishReason == null ? null : u.FinishReason == ChatFinishReason.Length ? "length" : "stop",
                    }),
                };
                if (usage != null) chunk["usage"] = Usage(usage);
                await http.Response.WriteAsync("data: " + chunk.ToJsonString() + "\n\n", http.RequestAborted);
                await http.Response.Body.FlushAsync(http.RequestAborted);
            }
            await http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
            return Results.Empty;
        }
        var r = await chat.GetResponseAsync(messages, chatOptions, http.RequestAborted);
        return Results.Text(new JsonObject
        {
            ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = opt.ModelId,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = r.Text },
                ["finish_reason"] = r.FinishReason == ChatFinishReason.Length ? "length" : "stop",
            }),
            ["usage"] = r.Usage is { } us ? Usage(us) : null,
        }.ToJsonString(), "application/json");
    }

    static JsonObject Usage(UsageDetails u) => new()
    {
        ["prompt_tokens"] = u.InputTokenCount,
        ["completion_tokens"] = u.OutputTokenCount,
        ["total_tokens"] = u.TotalTokenCount,
        ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = u.CachedInputTokenCount ?? 0 },
    };

    /// <summary>/v1/completions: plain completion with optional echo and per-token log-probabilities.</summary>
    sealed class CompletionEngine(MambaModel model, Tokenizer tokenizer, ServerOptions opt) : IDisposable
    {
        readonly MambaContext _ctx = model.CreateContext(opt.Threads, opt.ChunkSize);
        readonly SemaphoreSlim _lock = new(1, 1);
        // One-entry prompt cache: the state after the previous prompt (minus its last token), reused when a new prompt extends it.
        int[] _cachedTokens = [];
        MambaState? _cachedState;

        public async Task<IResult> Handle(JsonObject o, HttpContext http)
        {
            int[] prompt = o["prompt"] switch
            {
                JsonValue v when v.TryGetValue<string>(out var ps) => tokenizer.EncodeToIds(ps),
                JsonArray a when a.Count > 0 && a[0] is JsonValue fv && fv.TryGetValue<int>(out _) => a.Select(x => x!.GetValue<int>()).ToArray(),
                JsonArray a when a.Count == 1 && a[0] is JsonValue sv && sv.TryGetValue<string>(out var s1) => tokenizer.EncodeToIds(s1),
                _ => throw new RequestException("field 'prompt' must be a string or an array of token ids"),
            };
            if (prompt.Length == 0) throw new RequestException("the prompt is empty");
            if (prompt.Any(t => (uint)t >= (uint)model.Config.VocabSize)) throw new RequestException($"a prompt token id is outside the vocabulary ({model.Config.VocabSize})");
            bool echo = Get<bool?>(o, "echo") ?? false;
            int? logprobs = Get<int?>(o, "logprobs");
            if (logprobs is < 0 or > 20) throw new RequestException("logprobs must be between 0 and 20");
            var eos = new List<int>(model.Config.EosTokenIds);
            if (tokenizer.EosTokenId is int e && !eos.Contains(e)) eos.Add(e);
            var s = Sampling(o, opt, eos);
            bool stream = Get<bool?>(o, "stream") ?? false;

            await _lock.WaitAsync(http.RequestAborted);
            try
            {
                var sw = Stopwatch.StartNew();
                var tokens = new List<string>();
                var tokenLogprobs = new List<double?>();
                var top = new List<JsonObject?>();
                var offsets = new List<int>();
                var text = new System.Text.StringBuilder();
                int V = model.Config.VocabSize;
                var last = new float[V];
                int cached = 0;
                MambaState state;
                void AddLogprob(int token, ReadOnlySpan<float> logits)
                {
                    double lse = LogProbs.LogSumExp(logits);
                    tokenLogprobs.Add(logits[token] - lse);
                    if (logprobs is int k && k > 0)
                    {
                        var idx = Enumerable.Range(0, logits.Length).ToArray();
                        var copy = logits.ToArray();
                        Array.Sort(copy.Select(x => -x).ToArray(), idx);
                        var t = new JsonObject();
                        foreach (int id in idx.Take(k)) t[tokenizer.Decode([id])] = copy[id] - lse;
                        top.Add(t);
                    }
                }
                if (echo)
                {
                    state = model.CreateState();
                    for (int i = 0; i < prompt.Length; i++) { offsets.Add(text.Length); string piece = tokenizer.Decode([prompt[i]]); tokens.Add(piece); text.Append(piece); }
                    tokenLogprobs.Add(null);
                    if (logprobs is > 0) top.Add(null);
                    _ctx.Score(prompt, state, (pos, logits) =>
                    {
                        if (pos + 1 < prompt.Length) AddLogprob(prompt[pos + 1], logits);
                        else logits.CopyTo(last);
                    }, http.RequestAborted);
                }
                else
                {
                    if (_cachedState != null && prompt.Length > _cachedTokens.Length && prompt.AsSpan(0, _cachedTokens.Length).SequenceEqual(_cachedTokens))
                    {
                        state = _cachedState.Clone();
                        cached = _cachedTokens.Length;
                    }
                    else state = model.CreateState();
                    if (prompt.Length - 1 > cached) _ctx.Prefill(prompt.AsSpan(cached, prompt.Length - 1 - cached), state, http.RequestAborted);
                    _cachedTokens = prompt[..^1];
                    _cachedState = state.Clone();
                    _ctx.Decode(prompt[^1], state).CopyTo(last);
                }
                var sampler = new Sampler(s);
                foreach (int t in prompt) sampler.Observe(t);
                var streamer = tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
                string completion = "";
                string finish = "length";
                int generated = 0;
                if (stream) http.Response.ContentType = "text/event-stream";
                string id = "cmpl-" + Guid.NewGuid().ToString("N")[..24];
                while (generated < s.MaxNewTokens)
                {
                    int next = sampler.Sample(last);
                    generated++;
                    if (eos.Contains(next)) { finish = "stop"; break; }
                    string piece = streamer.Push(next);
                    if (logprobs != null) { offsets.Add(text.Length); tokens.Add(tokenizer.Decode([next])); AddLogprob(next, last); }
                    completion += piece;
                    text.Append(piece);
                    int stopAt = s.StopStrings.Select(x => completion.IndexOf(x, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                    if (stopAt >= 0) { completion = completion[..stopAt]; finish = "stop"; break; }
                    if (stream && piece.Length > 0)
                        await http.Response.WriteAsync("data: " + Chunk(id, piece, null) + "\n\n", http.RequestAborted);
                    sampler.Observe(next);
                    if (generated < s.MaxNewTokens) _ctx.Decode(next, state).CopyTo(last);
                }
                var usage = new JsonObject
                {
                    ["prompt_tokens"] = prompt.Length, ["completion_tokens"] = generated, ["total_tokens"] = prompt.Length + generated,
                    ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = cached },
                };
                if (stream)
                {
                    await http.Response.WriteAsync("data: " + Chunk(id, "", finish) + "\n\n", http.RequestAborted);
                    await http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
                    return Results.Empty;
                }
                var choice = new JsonObject
                {
                    ["index"] = 0,
                    ["text"] = echo ? tokenizer.Decode(prompt) + completion : completion,
                    ["finish_reason"] = finish,
                    ["logprobs"] = logprobs == null && !echo ? null : new JsonObject
                    {
                        ["tokens"] = new JsonArray(tokens.Select(t => (JsonNode)t).ToArray()),
                        ["token_logprobs"] = new JsonArray(tokenLogprobs.Select(v => v is double d ? JsonValue.Create(d) : null).ToArray()),
                        ["top_logprobs"] = logprobs is > 0 ? new JsonArray(top.Select(t => (JsonNode?)t).ToArray()) : null,
                        ["text_offset"] = new JsonArray(offsets.Select(x => (JsonNode)x).ToArray()),
                    },
                };
                return Results.Text(new JsonObject
                {
                    ["id"] = id, ["object"] = "text_completion", ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["model"] = opt.ModelId,
                    ["choices"] = new JsonArray(choice), ["usage"] = usage,
                }.ToJsonString(), "application/json");
            }
            finally { _lock.Release(); }
        }

        string Chunk(string id, string text, string? finish) => new JsonObject
        {
            ["id"] = id, ["object"] = "text_completion", ["model"] = opt.ModelId,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["text"] = text, ["finish_reason"] = finish }),
        }.ToJsonString();

        public void Dispose() { _ctx.Dispose(); _lock.Dispose(); }
    }
}
