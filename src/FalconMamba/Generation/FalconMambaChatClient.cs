using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using FalconMamba.Model;
using FalconMamba.Tokenization;

namespace FalconMamba.Generation;

/// <summary>
/// Microsoft.Extensions.AI <see cref="IChatClient"/> over a local model, so the whole M.E.AI middleware (function
/// invocation, logging, caching, DI) works with it. Consecutive calls whose conversation extends the previous one
/// reuse the recurrent state: <see cref="UsageDetails.CachedInputTokenCount"/> reports the prompt tokens not re-read.
/// min_p and repetition_penalty go in <see cref="ChatOptions.AdditionalProperties"/> ("min_p", "repetition_penalty").
/// Calls are serialized (one state); create several clients for parallel conversations.
/// </summary>
public sealed class FalconMambaChatClient : IChatClient
{
    readonly ChatSession _session;
    readonly SemaphoreSlim _lock = new(1, 1);
    readonly IReadOnlyList<int> _eos;
    readonly string _modelId;

    /// <summary>Creates a client over a loaded model, its tokenizer and a chat template renderer.</summary>
    public FalconMambaChatClient(MambaModel model, Tokenizer tokenizer, ChatPromptRenderer render, string modelId = "falcon-mamba", int threads = 0)
    {
        _session = new ChatSession(model, tokenizer, render, threads);
        var eos = new List<int>(model.Config.EosTokenIds);
        if (tokenizer.EosTokenId is int e && !eos.Contains(e)) eos.Add(e);
        _eos = eos;
        _modelId = modelId;
    }

    /// <summary>Maps M.E.AI options onto sampling options.</summary>
    public SamplingOptions ToSamplingOptions(ChatOptions? o)
    {
        float? temp = o?.Temperature;
        var s = new SamplingOptions
        {
            DoSample = temp is > 0,
            Temperature = temp ?? 1f,
            TopP = o?.TopP ?? 1f,
            TopK = o?.TopK ?? 50,
            MaxNewTokens = o?.MaxOutputTokens ?? 256,
            Seed = o?.Seed is long seed ? unchecked((int)seed) : null,
            StopStrings = o?.StopSequences?.ToArray() ?? [],
            EosTokenIds = _eos,
        };
        if (o?.AdditionalProperties is { } ap)
        {
            if (ap.TryGetValue("min_p", out var mp) && mp != null) s = s with { MinP = Convert.ToSingle(mp, System.Globalization.CultureInfo.InvariantCulture) };
            if (ap.TryGetValue("repetition_penalty", out var rp) && rp != null) s = s with { RepetitionPenalty = Convert.ToSingle(rp, System.Globalization.CultureInfo.InvariantCulture) };
        }
        return s.Validate();
    }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        await foreach (var u in GetStreamingResponseAsync(messages, options, cancellationToken))
        {
            text.Append(u.Text);
            finish = u.FinishReason ?? finish;
            foreach (var c in u.Contents) if (c is UsageContent uc) usage = uc.Details;
        }
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()))
        {
            FinishReason = finish,
            Usage = usage,
            ModelId = _modelId,
            CreatedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var sampling = ToSamplingOptions(options);
        var turns = messages.Select(m => new ChatTurn(m.Role.Value, m.Text)).ToList();
        if (options?.Instructions is string instructions && !turns.Any(t => t.Role == "system"))
            turns.Insert(0, new ChatTurn("system", instructions));
        await _lock.WaitAsync(cancellationToken);
        try
        {
            _session.SetMessages(turns);
            int generated = 0;
            bool eos = false;
            await foreach (var t in _session.ContinueAsync(sampling, cancellationToken))
            {
                generated++;
                if (t.IsEos) { eos = true; break; }
                if (t.Text.Length > 0)
                    yield return new ChatResponseUpdate(ChatRole.Assistant, t.Text) { ModelId = _modelId };
            }
            var stats = _session.Generator.LastStats;
            string reason = stats?.StopReason ?? (eos ? "eos" : "max_new_tokens");
            var usage = new UsageDetails
            {
                InputTokenCount = _session.LastCachedTokens + _session.LastNewTokens,
                CachedInputTokenCount = _session.LastCachedTokens,
                OutputTokenCount = generated,
                TotalTokenCount = _session.LastCachedTokens + _session.LastNewTokens + generated,
            };
            yield return new ChatResponseUpdate
            {
                Role = ChatRole.Assistant,
                FinishReason = reason == "max_new_tokens" ? ChatFinishReason.Length : ChatFinishReason.Stop,
                Contents = [new UsageContent(usage)],
                ModelId = _modelId,
            };
        }
        finally { _lock.Release(); }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey != null ? null
        : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("FalconMamba.NET", null, _modelId)
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType == typeof(ChatSession) ? _session
        : null;

    /// <summary>Releases the session.</summary>
    public void Dispose()
    {
        _session.Dispose();
        _lock.Dispose();
    }
}
