using FalconMamba.Model;

namespace FalconMamba.Evaluation;

/// <summary>Log-likelihood of one continuation given its context (lm-evaluation-harness <c>loglikelihood</c> request).</summary>
/// <param name="LogLikelihood">Σ log p(continuation tokens | context).</param>
/// <param name="IsGreedy">True when every continuation token is the argmax (lm-eval's <c>is_greedy</c>).</param>
/// <param name="Tokens">Number of continuation tokens.</param>
public readonly record struct ContinuationScore(double LogLikelihood, bool IsGreedy, int Tokens);

/// <summary>Perplexity of a token stream.</summary>
/// <param name="Tokens">Tokens predicted (all but the first).</param>
/// <param name="MeanNll">Mean negative log-likelihood in nats.</param>
public readonly record struct PerplexityResult(long Tokens, double MeanNll)
{
    /// <summary>exp(mean NLL).</summary>
    public double Perplexity => Math.Exp(MeanNll);
}

/// <summary>Agreement of a model with a base model over a text (llama.cpp perplexity --kl-divergence).</summary>
public readonly record struct KlResult(long Tokens, double MeanKl, double MaxKl, double Top1Agreement, double BasePerplexity, double Perplexity);

/// <summary>
/// Scoring with a recurrent model. Because the whole past lives in a fixed-size state, the context of a
/// multiple-choice question is read once and each choice is scored from a clone of that state — no re-reading of the
/// context per choice as a transformer without a prefix cache would do. Perplexity streams any length in constant memory.
/// </summary>
public sealed class Evaluator : IDisposable
{
    readonly MambaModel _model;
    readonly MambaContext _ctx;

    /// <summary>Creates an evaluator with its own threads and buffers.</summary>
    public Evaluator(MambaModel model, int threads = 0, int chunkSize = 64)
    {
        _model = model;
        _ctx = model.CreateContext(threads, chunkSize);
    }

    /// <summary>Scores each continuation after <paramref name="context"/> (the context must hold at least one token).</summary>
    public ContinuationScore[] ScoreContinuations(IReadOnlyList<int> context, IReadOnlyList<IReadOnlyList<int>> continuations, CancellationToken cancellationToken = default)
    {
        if (context.Count == 0) throw new ArgumentException("the context needs at least one token (e.g. the bos/eos id)", nameof(context));
        var baseState = _model.CreateState();
        int[] ctx = context.ToArray();
        // Feed all but the last context token; the last one's logits predict the first continuation token.
        if (ctx.Length > 1) _ctx.Prefill(ctx.AsSpan(0, ctx.Length - 1), baseState, cancellationToken);
        var results = new ContinuationScore[continuations.Count];
        for (int c = 0; c < continuations.Count; c++)
        {
            var cont = continuations[c];
            if (cont.Count == 0) throw new ArgumentException($"continuation {c} is empty", nameof(continuations));
            var state = baseState.Clone();
            int[] feed = [ctx[^1], .. cont.Take(cont.Count - 1)];
            double ll = 0;
            bool greedy = true;
            _ctx.Score(feed, state, (pos, logits) =>
            {
                int i = (int)(pos - (ctx.Length - 1));
                int target = cont[i];
                ll += LogProbs.LogProb(logits, target);
                if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits) != target) greedy = false;
            }, cancellationToken);
            results[c] = new ContinuationScore(ll, greedy, cont.Count);
        }
        return results;
    }

    /// <summary>Perplexity of <paramref name="tokens"/> (each token predicted from all before it), in constant memory.</summary>
    public PerplexityResult Perplexity(IReadOnlyList<int> tokens, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        if (tokens.Count < 2) throw new ArgumentException("perplexity needs at least two tokens", nameof(tokens));
        int[] t = tokens.ToArray();
        var state = _model.CreateState();
        double nll = 0;
        long n = 0;
        const int Block = 4096;
        for (int start = 0; start < t.Length - 1; start += Block)
        {
            int len = Math.Min(Block, t.Length - 1 - start);
            _ctx.Score(t.AsSpan(start, len), state, (pos, logits) => { nll -= LogProbs.LogProb(logits, t[pos + 1]); n++; }, cancellationToken);
            progress?.Report((start + len) / (double)(t.Length - 1));
        }
        return new PerplexityResult(n, nll / n);
    }

    /// <summary>
    /// Mean KL divergence KL(base ‖ this model) and top-1 agreement of next-token distributions over <paramref name="tokens"/>,
    /// as llama.cpp's perplexity tool reports with --kl-divergence. Both models stream chunk by chunk.
    /// </summary>
    public static KlResult CompareWithBase(MambaModel baseModel, MambaModel model, IReadOnlyList<int> tokens, int threads = 0, int chunkSize = 64, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        if (baseModel.Config.VocabSize != model.Config.VocabSize) throw new ArgumentException($"vocabularies differ: base {baseModel.Config.VocabSize}, model {model.Config.VocabSize}");
        int[] t = tokens.ToArray();
        if (t.Length < 2) throw new ArgumentException("need at least two tokens", nameof(tokens));
        using var cb = baseModel.CreateContext(threads, chunkSize);
        using var cm = model.CreateContext(threads, chunkSize);
        var sb = baseModel.CreateState();
        var sm = model.CreateState();
        int V = model.Config.VocabSize;
        var baseRows = new float[chunkSize * V];
        double klSum = 0, klMax = 0, nllBase = 0, nllModel = 0;
        long agree = 0, n = 0;
        for (int start = 0; start < t.Length - 1; start += chunkSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int len = Math.Min(chunkSize, t.Length - 1 - start);
            var chunk = t.AsSpan(start, len);
            long p0 = sb.Position;
            cb.Score(chunk, sb, (pos, logits) => logits.CopyTo(baseRows.AsSpan((int)(pos - p0) * V, V)));
            cm.Score(chunk, sm, (pos, logits) =>
            {
                var b = baseRows.AsSpan((int)(pos - p0) * V, V);
                double kl = LogProbs.Kl(b, logits);
                klSum += kl; klMax = Math.Max(klMax, kl);
                if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(b) == System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits)) agree++;
                int next = t[pos + 1];
                nllBase -= LogProbs.LogProb(b, next);
                nllModel -= LogProbs.LogProb(logits, next);
                n++;
            });
            progress?.Report((start + len) / (double)(t.Length - 1));
        }
        return new KlResult(n, klSum / n, klMax, agree / (double)n, Math.Exp(nllBase / n), Math.Exp(nllModel / n));
    }

    /// <summary>Releases the worker threads.</summary>
    public void Dispose() => _ctx.Dispose();
}
