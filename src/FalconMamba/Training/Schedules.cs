namespace FalconMamba.Training;

/// <summary>Shape of the final decay phase of a warmup–stable–decay schedule.</summary>
public enum DecayShape
{
    /// <summary>η_max·(η_min/η_max)^p: Falcon Mamba's card, "exponential decay over 500 GT to η_max/256" (SPEC.md §7.3).</summary>
    Exponential,
    /// <summary>η_max − (η_max − η_min)·p.</summary>
    Linear,
    /// <summary>η_min + (η_max − η_min)·(1 − √p): Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations", arXiv:2405.18392.</summary>
    OneMinusSqrt,
}

/// <summary>
/// Learning-rate, batch-size and context-length schedules as small pure functions of a clock (tokens seen, since the
/// Falcon Mamba recipe states its phases in tokens; steps work the same way).
/// </summary>
public static class Schedules
{
    /// <summary>
    /// Warmup–stable–decay (WSD; Hu et al. 2024, MiniCPM, arXiv:2404.06395; Falcon Mamba card): with clock τ,
    /// <code>
    ///   τ &lt; W:              η = η_max · τ / W                       (linear warmup)
    ///   τ &lt; S − Dd:         η = η_max                               (stable)
    ///   else p = (τ − (S − Dd)) / Dd ∈ [0, 1], η = decay(p)          (see <see cref="DecayShape"/>)
    /// </code>
    /// S = total length, Dd = decay length, η_min = η_max · minRatio (the card: 1/256).
    /// </summary>
    public static double WarmupStableDecay(double clock, double warmup, double total, double decay, double etaMax,
        DecayShape shape = DecayShape.Exponential, double minRatio = 1.0 / 256)
    {
        if (warmup > 0 && clock < warmup) return etaMax * clock / warmup;
        double decayStart = total - decay;
        if (decay <= 0 || clock < decayStart) return etaMax;
        double p = Math.Clamp((clock - decayStart) / decay, 0, 1);
        double etaMin = etaMax * minRatio;
        return shape switch
        {
            DecayShape.Exponential => etaMax * Math.Pow(minRatio, p),
            DecayShape.Linear => etaMax - (etaMax - etaMin) * p,
            DecayShape.OneMinusSqrt => etaMin + (etaMax - etaMin) * (1 - Math.Sqrt(p)),
            _ => throw new ArgumentOutOfRangeException(nameof(shape)),
        };
    }

    /// <summary>
    /// Batch-size ramp-up (Falcon Mamba card: 128 → 2048 during the first 50 GT): b = b_min + (b_max − b_min)·min(1, τ/ramp),
    /// rounded down to a multiple of <paramref name="multiple"/> (the micro-batch) and at least b_min.
    /// </summary>
    public static int BatchRampUp(double clock, int bMin, int bMax, double ramp, int multiple = 1)
    {
        if (ramp <= 0 || clock >= ramp) return bMax;
        double b = bMin + (bMax - bMin) * Math.Clamp(clock / ramp, 0, 1);
        int r = (int)Math.Floor(b / multiple) * multiple;
        return Math.Clamp(r, bMin, bMax);
    }

    /// <summary>
    /// BatchScaling (Falcon Mamba card): keep the Adam noise temperature η/√b constant as the batch grows, anchored at
    /// b_max: η(b) = η · √(b / b_max). (This closed form is derived in SPEC.md §7.3, not stated by the card.)
    /// </summary>
    public static double BatchScaling(double eta, int batch, int bMax) => eta * Math.Sqrt((double)batch / bMax);

    /// <summary>
    /// Context-length stages (Falcon Mamba card: 2048, then 8192 in the last stages): the context of the last stage whose
    /// start ≤ clock. Stages must be sorted by start and the first must start at 0.
    /// </summary>
    public static int ContextLength(double clock, IReadOnlyList<(double Start, int Context)> stages)
    {
        if (stages.Count == 0) throw new ArgumentException("no context stage given");
        int ctx = stages[0].Context;
        foreach (var (start, c) in stages) if (clock >= start) ctx = c;
        return ctx;
    }
}
