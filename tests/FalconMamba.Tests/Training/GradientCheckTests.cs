using FalconMamba.Model;
using FalconMamba.Tests.Reference;
using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>
/// Every parameter's gradient from the hand-written f32 backward against central finite differences of the float64
/// reference loss (<see cref="ReferenceMamba.Loss"/>), evaluated at the same f32 values. Odd shapes, sequences longer
/// than the scan recompute chunk, a logits budget smaller than the batch (chunked cross-entropy).
/// </summary>
public class GradientCheckTests
{
    internal static MambaConfig TinyConfig(string type, bool tie) => new MambaConfig
    {
        ModelType = type, HiddenSize = 12, IntermediateSize = 20, StateSize = 4, TimeStepRank = 3, ConvKernel = 3,
        VocabSize = 37, NumHiddenLayers = 2, TieWordEmbeddings = tie, Expand = 20.0 / 12, EosTokenIds = [0],
    }.Validate();

    /// <summary>Initialised parameters, perturbed so that norms, D, dt and A differ per channel (a harder check).</summary>
    internal static MambaParameters TinyParameters(MambaConfig cfg, int seed)
    {
        var p = MambaParameters.Initialize(cfg, seed);
        var rng = new Random(seed + 1);
        foreach (var t in p.Tensors)
        {
            double scale = t.Kind switch { ParameterKind.Bias => 0.5, ParameterKind.Embedding => 0.5, _ => 0.2 };
            for (int i = 0; i < t.Data.Length; i++) t.Data[i] += (float)((rng.NextDouble() * 2 - 1) * scale);
        }
        // Larger Δ than the init's 0.001..0.1 so the scan carries information across the chunk boundaries.
        foreach (var l in p.Layers) for (int c = 0; c < l.DtBias.Length; c++) l.DtBias[c] += 1.5f;
        return p;
    }

    [Theory]
    [InlineData("falcon_mamba", false)]
    [InlineData("mamba", true)]
    public void GradientsMatchFiniteDifferencesOfTheFloat64Reference(string type, bool tie)
    {
        var output = TestContext.Current.TestOutputHelper!;
        var cfg = TinyConfig(type, tie);
        var p = TinyParameters(cfg, 7);
        var rng = new Random(3);
        int B = 2, T = 11;
        var tokens = Enumerable.Range(0, B).Select(_ => Enumerable.Range(0, T).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        var targets = Enumerable.Range(0, B).Select(_ => Enumerable.Range(0, T).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();

        var grads = p.ZerosLike();
        double loss;
        using (var model = new MambaTrainingModel(p, threads: 2, scanChunk: 4, logitsBudget: 5 * cfg.VocabSize))
            loss = model.ForwardBackward(tokens, targets, grads);

        // float64 copy of the f32 values; the reference's loss is the mean over both sequences.
        var dp = p.Tensors.ToDictionary(t => t.Name, t => t.Data.Select(v => (double)v).ToArray());
        double RefLoss() => Enumerable.Range(0, B).Sum(b => ReferenceMamba.Loss(cfg, dp, tokens[b], targets[b])) / B;
        double refLoss = RefLoss();
        output.WriteLine($"{type} tie={tie}: loss engine {loss:F9} reference {refLoss:F9} |diff| {Math.Abs(loss - refLoss):E2}");
        Assert.True(Math.Abs(loss - refLoss) < 1e-5 * Math.Max(1, refLoss));

        const double h = 1e-4;
        double worst = 0;
        foreach (var t in p.Tensors)
        {
            var arr = dp[t.Name];
            var g = grads[t.Name].Data;
            var idx = arr.Length <= 60 ? Enumerable.Range(0, arr.Length).ToArray()
                : Enumerable.Range(0, 60).Select(_ => rng.Next(arr.Length)).Distinct().ToArray();
            double num = 0, den = 0, maxAbs = 0;
            foreach (int i in idx)
            {
                double keep = arr[i];
                arr[i] = keep + h; double lp = RefLoss();
                arr[i] = keep - h; double lm = RefLoss();
                arr[i] = keep;
                double fd = (lp - lm) / (2 * h);
                num += (g[i] - fd) * (g[i] - fd); den += fd * fd;
                maxAbs = Math.Max(maxAbs, Math.Abs(g[i] - fd));
            }
            double rel = Math.Sqrt(num) / Math.Max(Math.Sqrt(den), 1e-12);
            worst = Math.Max(worst, rel);
            output.WriteLine($"  {t.Name,-42} n={idx.Length,3} |g_fd|={Math.Sqrt(den):E2} rel={rel:E2} maxabs={maxAbs:E2}");
            Assert.True(rel <= 1e-3, $"{t.Name}: relative gradient error {rel:E2} > 1e-3");
        }
        output.WriteLine($"worst relative error {worst:E2}");
    }

    [Fact]
    public void VectorScanMatchesTheScalarScan()
    {
        // E = 40: five Vector256 channel groups per sequence, no scalar tail.
        var cfg = TinyConfig("falcon_mamba", false) with { IntermediateSize = 40, Expand = 40.0 / 12 };
        var p = TinyParameters(cfg, 9);
        var rng = new Random(4);
        var x = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 19).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        var gv = p.ZerosLike(); var gs = p.ZerosLike();
        double lv, ls;
        using (var m = new MambaTrainingModel(p, 2, scanChunk: 6) { VectorScan = true }) lv = m.ForwardBackward(x, x, gv);
        using (var m = new MambaTrainingModel(p, 2, scanChunk: 6) { VectorScan = false }) ls = m.ForwardBackward(x, x, gs);
        double worst = 0;
        foreach (var t in p.Tensors)
        {
            double num = 0, den = 0;
            var a = gv[t.Name].Data; var b = gs[t.Name].Data;
            for (int i = 0; i < a.Length; i++) { num += (a[i] - b[i]) * (double)(a[i] - b[i]); den += (double)b[i] * b[i]; }
            worst = Math.Max(worst, Math.Sqrt(num / Math.Max(den, 1e-30)));
        }
        TestContext.Current.TestOutputHelper!.WriteLine($"loss vector {lv:R} scalar {ls:R}; worst per-tensor relative gradient difference {worst:E2}");
        Assert.True(Math.Abs(lv - ls) < 1e-5);
        Assert.True(worst < 1e-4, $"worst {worst}");
    }
}
