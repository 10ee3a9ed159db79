using System.Numerics.Tensors;

namespace FalconMamba.Training;

/// <summary>AdamW hyper-parameters.</summary>
public sealed record AdamWOptions
{
    /// <summary>β1. Falcon Mamba's card (SPEC.md §7.3) states AdamW but not its betas; 0.9 is the common LLM choice.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>β2 (not stated by the card either; 0.95 as in most LLM pre-training recipes).</summary>
    public double Beta2 { get; init; } = 0.95;
    /// <summary>ε (not stated by the card).</summary>
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Decoupled weight decay λ; the card states 0.1.</summary>
    public double WeightDecay { get; init; } = 0.1;
    /// <summary>
    /// Kinds that receive weight decay. Default: matrices and conv weights only — norms, biases, A_log, D and embeddings
    /// are excluded (A_log and D are <c>_no_weight_decay</c> in both reference implementations, SPEC.md §7.2–7.3).
    /// </summary>
    public IReadOnlySet<ParameterKind> DecayKinds { get; init; } = new HashSet<ParameterKind> { ParameterKind.Matrix, ParameterKind.ConvWeight };
}

/// <summary>
/// AdamW (Loshchilov &amp; Hutter, "Decoupled Weight Decay Regularization", arXiv:1711.05101; the PyTorch torch.optim.AdamW
/// update): with t the step (1-based) and g the gradient,
/// <code>
///   θ ← θ − η·λ·θ                       (decoupled decay, only on decayed kinds)
///   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
///   θ ← θ − η · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε)
/// </code>
/// Moments are f32 tensors of the parameter layout (master weights are f32 too). Element-wise, so the result does not
/// depend on threads.
/// </summary>
public sealed class AdamW
{
    /// <summary>Hyper-parameters.</summary>
    public AdamWOptions Options { get; }
    /// <summary>First moments.</summary>
    public MambaParameters M { get; }
    /// <summary>Second moments.</summary>
    public MambaParameters V { get; }
    /// <summary>Updates taken so far.</summary>
    public long Step { get; set; }

    /// <summary>Zero moments for these parameters.</summary>
    public AdamW(MambaParameters parameters, AdamWOptions options)
    {
        Options = options;
        M = parameters.ZerosLike();
        V = parameters.ZerosLike();
    }

    /// <summary>One update of <paramref name="p"/> with gradients <paramref name="g"/> at learning rate <paramref name="lr"/>.</summary>
    public void Update(MambaParameters p, MambaParameters g, double lr)
    {
        Step++;
        var o = Options;
        float b1 = (float)o.Beta1, b2 = (float)o.Beta2, eps = (float)o.Epsilon;
        float c1 = (float)(1 / (1 - Math.Pow(o.Beta1, Step))), c2 = (float)(1 / (1 - Math.Pow(o.Beta2, Step)));
        float lrf = (float)lr;
        for (int ti = 0; ti < p.Tensors.Count; ti++)
        {
            var pt = p.Tensors[ti];
            float[] w = pt.Data, gd = g.Tensors[ti].Data, m = M.Tensors[ti].Data, v = V.Tensors[ti].Data;
            float decay = o.DecayKinds.Contains(pt.Kind) ? (float)(1 - lr * o.WeightDecay) : 1f;
            const int Chunk = 1 << 14;
            Parallel.For(0, (w.Length + Chunk - 1) / Chunk, ci =>
            {
                int s = ci * Chunk, e = Math.Min(w.Length, s + Chunk);
                for (int i = s; i < e; i++)
                {
                    float gi = gd[i];
                    float mi = m[i] = b1 * m[i] + (1 - b1) * gi;
                    float vi = v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                    w[i] = w[i] * decay - lrf * (mi * c1) / (MathF.Sqrt(vi * c2) + eps);
                }
            });
        }
    }

    /// <summary>Global L2 norm of all gradients, summed in a fixed order (double accumulator).</summary>
    public static double GlobalNorm(MambaParameters g)
    {
        double total = 0;
        foreach (var t in g.Tensors)
        {
            // Fixed 64K-element partials, summed in order: deterministic regardless of threads.
            const int Chunk = 1 << 16;
            int chunks = (t.Data.Length + Chunk - 1) / Chunk;
            var part = new double[chunks];
            Parallel.For(0, chunks, ci =>
            {
                var span = t.Data.AsSpan(ci * Chunk, Math.Min(Chunk, t.Data.Length - ci * Chunk));
                double s = 0;
                foreach (float x in span) s += (double)x * x;
                part[ci] = s;
            });
            foreach (double s in part) total += s;
        }
        return Math.Sqrt(total);
    }

    /// <summary>Scales gradients so their global norm is at most <paramref name="maxNorm"/> (≤ 0: no clipping). Returns the norm before.</summary>
    public static double ClipGlobalNorm(MambaParameters g, double maxNorm)
    {
        double norm = GlobalNorm(g);
        if (maxNorm > 0 && norm > maxNorm)
        {
            float s = (float)(maxNorm / (norm + 1e-6));
            foreach (var t in g.Tensors) TensorPrimitives.Multiply(t.Data, s, t.Data);
        }
        return norm;
    }
}
