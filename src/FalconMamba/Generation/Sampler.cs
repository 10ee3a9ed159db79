using System.Numerics.Tensors;

namespace FalconMamba.Generation;

/// <summary>
/// Picks the next token from logits: a pure function of (logits, options, previous tokens, RNG).
/// Order as transformers applies them: repetition penalty (a logits processor), then the warpers
/// temperature → top-k → top-p → min-p, then a multinomial draw (or argmax when greedy).
/// Greedy decoding reuses its buffers and allocates nothing; the sampling warpers allocate per call.
/// </summary>
public sealed class Sampler
{
    readonly SamplingOptions _o;
    readonly Random _rng;
    float[] _work = [];
    int[] _index = [];
    readonly HashSet<int> _seen = [];

    /// <summary>Creates a sampler; the RNG is seeded from <see cref="SamplingOptions.Seed"/>.</summary>
    public Sampler(SamplingOptions options)
    {
        _o = options.Validate();
        _rng = options.Seed is int s ? new Random(s) : new Random();
    }

    /// <summary>Records a token for the repetition penalty (prompt and generated tokens alike, as HF does).</summary>
    public void Observe(int token) => _seen.Add(token);

    /// <summary>Chooses the next token id.</summary>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (_work.Length != logits.Length) { _work = new float[logits.Length]; _index = new int[logits.Length]; }
        var w = _work.AsSpan();
        logits.CopyTo(w);
        ApplyRepetitionPenalty(w, _seen, _o.RepetitionPenalty);
        if (_o.IsGreedy) return TensorPrimitives.IndexOfMax(w);
        return SampleWarped(w, _index, _o, _rng.NextDouble());
    }

    /// <summary>HF RepetitionPenaltyLogitsProcessor: score &lt; 0 ? score·p : score/p for every seen id.</summary>
    public static void ApplyRepetitionPenalty(Span<float> logits, IEnumerable<int> seen, float penalty)
    {
        if (penalty == 1f) return;
        foreach (int id in seen)
        {
            if ((uint)id >= (uint)logits.Length) continue;
            float s = logits[id];
            logits[id] = s < 0 ? s * penalty : s / penalty;
        }
    }

    /// <summary>
    /// Applies temperature, top-k, top-p and min-p to <paramref name="logits"/> (masked entries become −∞) and returns
    /// the probabilities (softmax of the survivors) in place. Exposed for tests.
    /// </summary>
    public static void Warp(Span<float> logits, Span<int> index, SamplingOptions o)
    {
        int V = logits.Length;
        if (o.Temperature != 1f) TensorPrimitives.Divide(logits, o.Temperature, logits);
        // Sort ids by logit, descending (stable by id for reproducibility).
        for (int i = 0; i < V; i++) index[i] = i;
        var keys = logits.ToArray();
        index.Sort((a, b) => keys[b].CompareTo(keys[a]) is int c && c != 0 ? c : a.CompareTo(b));
        // top-k (HF TopKLogitsWarper: remove scores below the k-th largest, ties at the k-th kept)
        if (o.TopK > 0 && o.TopK < V)
        {
            float kth = logits[index[o.TopK - 1]];
            for (int i = 0; i < V; i++) if (logits[i] < kth) logits[i] = float.NegativeInfinity;
        }
        // top-p (HF TopPLogitsWarper: sort ascending, drop tokens whose cumulative probability ≤ 1 − top_p, keep ≥ 1)
        if (o.TopP < 1f)
        {
            Softmax(logits, out var probs);
            double cum = 0;
            double threshold = 1 - o.TopP;
            for (int j = V - 1; j >= 1; j--)   // ascending order = reversed descending index; the top token always stays
            {
                int id = index[j];
                cum += probs[id];
                if (cum <= threshold) logits[id] = float.NegativeInfinity; else break;
            }
        }
        // min-p (HF MinPLogitsWarper: drop probs < min_p · max prob)
        if (o.MinP > 0f)
        {
            Softmax(logits, out var probs);
            float top = probs[index[0]] * o.MinP;
            for (int i = 0; i < V; i++) if (probs[i] < top) logits[i] = float.NegativeInfinity;
        }
        Softmax(logits, out var p);
        p.CopyTo(logits);
    }

    static int SampleWarped(Span<float> logits, Span<int> index, SamplingOptions o, double u)
    {
        Warp(logits, index, o);
        // Inverse-CDF draw over the ids in descending-probability order.
        double cum = 0;
        for (int j = 0; j < logits.Length; j++)
        {
            int id = index[j];
            cum += logits[id];
            if (u < cum) return id;
        }
        return index[0];
    }

    static void Softmax(ReadOnlySpan<float> logits, out float[] probs)
    {
        probs = new float[logits.Length];
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) { float e = float.IsNegativeInfinity(logits[i]) ? 0 : MathF.Exp(logits[i] - max); probs[i] = e; sum += e; }
        for (int i = 0; i < probs.Length; i++) probs[i] = (float)(probs[i] / sum);
    }
}
