namespace FalconMamba.Training;

/// <summary>Shape of the decay phase of a WSD schedule.</summary>
public enum DecayShape
{
    /// <summary>η = η_max·(η_min/η_max)^x: the Falcon Mamba card's exponential decay (to η_max/256).</summary>
    Exponential,
    /// <summary>η = η_max − (η_max − η_min)·x.</summary>
    Linear,
    /// <summary>η = η_min + (η_max − η_min)·(1 − √x) (Hägele et al. 2024, arXiv:2405.18392).</summary>
    OneMinusSqrt,
}

/// <summary>
/// Learning-rate, batch and context schedules as pure functions of the tokens seen so far (the clock of the Falcon Mamba
/// recipe, whose phases are given in GT; SPEC.md §7.3).
/// </summary>
public static class Schedules
{
    /// <summary>
    /// Warmup–stable–decay (Hu et al. 2024, MiniCPM, arXiv:2404.06395; the Falcon Mamba card: constant LR for most of
    /// training, then an exponential decay over the last 500 GT to η_max/256). Linear warmup from 0 over
    /// <paramref name="warmup"/> tokens, η_max until <paramref name="total"/> − <paramref name="decay"/>, then the decay
    /// shape with x = progress through the decay phase ∈ [0, 1], ending at η_min = η_max·<paramref name="minRatio"/>.
    /// </summary>
    public static double Wsd(double tokens, double total, double warmup, double decay, double lrMax, DecayShape shape = DecayShape.Exponential, double minRatio = 1.0 / 256)
    {
        if (warmup > 0 && tokens < warmup) return lrMax * tokens / warmup;
        double start = total - decay;
        if (decay <= 0 || tokens <= start) return lrMax;
        double x = Math.Min(1, (tokens - start) / decay), lrMin = lrMax * minRatio;
        return shape switch
        {
            DecayShape.Exponential => lrMax * Math.Pow(minRatio, x),
            DecayShape.Linear => lrMax - (lrMax - lrMin) * x,
            _ => lrMin + (lrMax - lrMin) * (1 - Math.Sqrt(x)),
        };
    }

    /// <summary>
    /// Batch-size ramp-up (card: 128 → 2048 sequences over the first 50 GT; the card does not say linear — linear in
    /// tokens is assumed here): b = b_min + (b_max − b_min)·tokens/ramp, rounded down to a multiple of
    /// <paramref name="multiple"/>, clamped to [b_min, b_max].
    /// </summary>
    public static int BatchRamp(double tokens, double ramp, int bMin, int bMax, int multiple = 1)
    {
        if (ramp <= 0 || tokens >= ramp) return bMax;
        double b = bMin + (bMax - bMin) * tokens / ramp;
        int r = (int)Math.Floor(b / multiple) * multiple;
        return Math.Clamp(r, bMin, bMax);
    }

    /// <summary>
    /// BatchScaling (card): keep the Adam noise temperature T = η/√b constant while the batch ramps, i.e.
    /// η(b) = η·√(b / b_ref) with b_ref the batch at which η was tuned (b_max). The closed form is derived, not quoted.
    /// </summary>
    public static double BatchScaled(double lr, int batch, int referenceBatch) => lr * Math.Sqrt((double)batch / referenceBatch);

    /// <summary>
    /// Context-length stages (card: 2,048 → 8,192 in the last stages): the length of the last stage whose start
    /// (in tokens) is ≤ <paramref name="tokens"/>. Stages must be sorted by start; the first applies from 0.
    /// </summary>
    public static int ContextLength(double tokens, IReadOnlyList<(double Start, int Length)> stages)
    {
        if (stages.Count == 0) throw new ArgumentException("no context stages");
        int len = stages[0].Length;
        foreach (var (start, l) in stages) if (tokens >= start) len = l;
        return len;
    }
}
