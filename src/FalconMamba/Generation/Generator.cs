using System.Diagnostics;
using System.Runtime.CompilerServices;
using FalconMamba.Model;

namespace FalconMamba.Generation;

/// <summary>Turns token ids into text incrementally (never half a UTF-8 character).</summary>
public interface ITokenTextStreamer
{
    /// <summary>Appends one id and returns the newly completed text (possibly empty).</summary>
    string Push(int tokenId);
}

/// <summary>One generated token.</summary>
/// <param name="Id">The token id.</param>
/// <param name="Text">The new text it completes (empty without a streamer or mid-character).</param>
/// <param name="IsEos">True when the token is an eos id (generation stops; the token is not fed back).</param>
public readonly record struct GeneratedToken(int Id, string Text, bool IsEos);

/// <summary>Timing of the last generation.</summary>
public sealed record GenerationStats(int PromptTokens, TimeSpan PrefillTime, int GeneratedTokens, TimeSpan DecodeTime, string StopReason)
{
    /// <summary>Prompt tokens per second.</summary>
    public double PrefillTokensPerSecond => PromptTokens / Math.Max(PrefillTime.TotalSeconds, 1e-9);
    /// <summary>Generated tokens per second (the first token's cost is in prefill).</summary>
    public double DecodeTokensPerSecond => GeneratedTokens / Math.Max(DecodeTime.TotalSeconds, 1e-9);
}

/// <summary>
/// A generation session over one sequence state: feed a prompt (chunked prefill), then stream tokens (recurrent
/// decode, constant time per token). The state persists across calls, so a chat can continue without re-reading the
/// history. Not thread-safe; the model is shared.
/// </summary>
public sealed class Generator : IDisposable
{
    readonly MambaModel _model;
    readonly MambaContext _ctx;
    int? _pending;

    /// <summary>The sequence state (continues across calls).</summary>
    public MambaState State { get; }
    /// <summary>Stats of the last finished call.</summary>
    public GenerationStats? LastStats { get; private set; }

    /// <summary>Creates a session with its own worker threads and state.</summary>
    public Generator(MambaModel model, int threads = 0, int chunkSize = 64)
    {
        _model = model;
        _ctx = model.CreateContext(threads, chunkSize);
        State = model.CreateState();
    }

    /// <summary>
    /// Feeds <paramref name="prompt"/> and streams up to max_new_tokens tokens. Stops on any eos id (options, else the
    /// model config's) and on stop strings. The last sampled token is fed at the start of the next call, so the state
    /// always ends up holding the whole conversation.
    /// </summary>
    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(IReadOnlyList<int> prompt, SamplingOptions options,
        ITokenTextStreamer? streamer = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (prompt.Count == 0) throw new ArgumentException("the prompt has no tokens", nameof(prompt));
        var eos = new HashSet<int>(options.EosTokenIds ?? _model.Config.EosTokenIds);
        var sampler = new Sampler(options);
        foreach (int t in prompt) sampler.Observe(t);

        var sw = Stopwatch.StartNew();
        // The last sampled token of a previous call (eos included) is not in the state yet: feed it first.
        int[] promptArray = _pending is int p ? [p, .. prompt] : prompt as int[] ?? prompt.ToArray();
        _pending = null;
        await Task.Yield();
        int next = sampler.Sample(_ctx.Prefill(promptArray, State, cancellationToken));
        var prefillTime = sw.Elapsed;
        sw.Restart();

        int generated = 0;
        string reason = "max_new_tokens";
        string pending = "";
        int maxStop = options.StopStrings.Count == 0 ? 0 : options.StopStrings.Max(s => s.Length);
        bool ended = false;
        // finally: a caller that stops enumerating (breaks on the eos token, or early) disposes the iterator at a yield;
        // the last sampled token must still be kept for the next call and the stats recorded
        try
        {
            while (generated < options.MaxNewTokens)
            {
                cancellationToken.ThrowIfCancellationRequested();
                generated++;
                if (eos.Contains(next))
                {
                    reason = "eos";
                    yield return new GeneratedToken(next, "", true);
                    break;
                }
                string text = streamer?.Push(next) ?? "";
                if (maxStop > 0)
                {
                    // Hold back text that could be the start of a stop string; emit the rest.
                    pending += text;
                    int hit = options.StopStrings.Select(s => pending.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                    if (hit >= 0)
                    {
                        reason = "stop_string";
                        yield return new GeneratedToken(next, pending[..hit], false);
                        break;
                    }
                    int safe = generated >= options.MaxNewTokens ? pending.Length : Math.Max(0, pending.Length - (maxStop - 1));
                    text = pending[..safe];
                    pending = pending[safe..];
                }
                yield return new GeneratedToken(next, text, false);
                sampler.Observe(next);
                if (generated >= options.MaxNewTokens) break;
                next = sampler.Sample(_ctx.Decode(next, State));
            }
            ended = true;
        }
        finally
        {
            if (!ended && reason == "max_new_tokens" && generated < options.MaxNewTokens) reason = "stopped_by_caller";
            _pending = generated > 0 ? next : null;
            LastStats = new GenerationStats(prompt.Count, prefillTime, generated, sw.Elapsed, reason);
        }
    }

    /// <summary>Feeds tokens into the state without sampling (e.g. a long shared prefix to save with <see cref="StateFile"/>).</summary>
    public void Prefill(IReadOnlyList<int> tokens, CancellationToken cancellationToken = default)
    {
        int[] t = _pending is int p ? [p, .. tokens] : tokens as int[] ?? tokens.ToArray();
        _pending = null;
        if (t.Length > 0) _ctx.Prefill(t, State, cancellationToken);
    }

    /// <summary>Continues from a saved or forked state (copied in).</summary>
    public void Restore(MambaState state)
    {
        State.CopyFrom(state);
        _pending = null;
    }

    /// <summary>Starts a new, empty sequence.</summary>
    public void Reset()
    {
        State.Reset();
        _pending = null;
    }

    /// <summary>Releases the worker threads.</summary>
    public void Dispose() => _ctx.Dispose();
}
