namespace FalconMamba.Evaluation;

/// <summary>Numerically stable log-softmax helpers (float64 accumulation).</summary>
public static class LogProbs
{
    /// <summary>log Σ exp(logits).</summary>
    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.Max(logits);
        double s = 0;
        for (int i = 0; i < logits.Length; i++) s += Math.Exp(logits[i] - max);
        return max + Math.Log(s);
    }

    /// <summary>log p(token | logits).</summary>
    public static double LogProb(ReadOnlySpan<float> logits, int token) => logits[token] - LogSumExp(logits);

    /// <summary>KL(p‖q) for p = softmax(a), q = softmax(b).</summary>
    public static double Kl(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double la = LogSumExp(a), lb = LogSumExp(b), kl = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double lp = a[i] - la;
            kl += Math.Exp(lp) * (lp - (b[i] - lb));
        }
        return Math.Max(0, kl);
    }
}
