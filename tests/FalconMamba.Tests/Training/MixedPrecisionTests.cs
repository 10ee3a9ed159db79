using FalconMamba.Kernels;
using FalconMamba.Model;
using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>
/// precision bf16 (<see cref="TrainPrecision.Bf16"/>): bf16 operands in the Linear / lm_head products, f32 elsewhere.
/// Checked against the f32 run of the same model: the loss within a first-order rounding bound (and not equal), every
/// gradient tensor in nearly the same direction, and training still converging.
/// </summary>
public class MixedPrecisionTests
{
    static readonly WorkerPool Pool = new(2);
    const double U = 1.0 / 256;   // bf16 unit roundoff: 8 significant bits, half an ulp of 2^-7 → 2^-8 (Bf16RoundTests)

    static (double Loss, MambaParameters Grads) Run(MambaConfig cfg, MambaParameters p, int[] tok, int[] tgt, int b, int t, TrainPrecision precision)
    {
        var g = p.ZerosLike();
        double loss = new MambaBackprop(cfg, Pool, scanChunk: 6, lossChunk: 7) { Precision = precision }.Run(p, tok, tgt, b, t, g, 1f / (b * t)) / (b * t);
        return (loss, g);
    }

    static bool IsProductWeight(string name, MambaConfig cfg) =>
        name.EndsWith("_proj.weight") || name == MambaParameters.LmHeadName || (cfg.TieWordEmbeddings && name == MambaParameters.EmbeddingName);

    [Theory]
    [InlineData("falcon_mamba", false)]
    [InlineData("mamba", true)]
    public void LossIsWithinTheRoundingBoundOfF32AndNotEqual(string type, bool tied)
    {
        var cfg = GradientTests.Tiny(type, tied, d: 16, e: 32, n: 4, r: 2, v: 37);
        var p = MambaParameters.Initialize(cfg, 21);
        var rng = new Random(3);
        int B = 2, T = 15;
        var tok = Enumerable.Range(0, B * T).Select(_ => rng.Next(37)).ToArray();
        var tgt = Enumerable.Range(0, B * T).Select(_ => rng.Next(37)).ToArray();
        var (l32, g32) = Run(cfg, p, tok, tgt, B, T, TrainPrecision.F32);
        var (l16, _) = Run(cfg, p, tok, tgt, B, T, TrainPrecision.Bf16);

        // Tolerance, to first order in u = 2^-8. A product y = x·Wᵀ with both operands rounded, Ŵ = W(1+δ), x̂ = x(1+ε),
        // |δ|,|ε| ≤ u elementwise, changes y by x·(δW)ᵀ + (εx)·Wᵀ. Its effect on the loss is ⟨∂L/∂y, Δy⟩ =
        // ⟨dW, δW⟩ + ⟨dx, εx⟩, so |ΔL_W| ≤ u·Σ|dW|·|W| exactly from the f32 gradient, summed over every product weight
        // (in, x, dt, out projections, lm_head; tied: the embedding, whose gradient also holds the lookup part, which only
        // loosens the bound). The activation term has the same signed value per product (⟨dx, x⟩ = ⟨dy, y⟩ = ⟨dW, W⟩), so
        // we give it the same bound, and double the sum for the second-order terms and f32 re-association:
        // tol = 2·(u + u)·Σ|dW|·|W|. Independent roundings mostly cancel, so the real difference is far below it.
        double sens = p.Tensors.Where(t => IsProductWeight(t.Name, cfg))
            .Sum(t => { var gd = g32[t.Name]; double s = 0; for (int i = 0; i < gd.Length; i++) s += Math.Abs((double)gd[i] * t.Data[i]); return s; });
        double tol = 4 * U * sens, diff = Math.Abs(l16 - l32);
        TestContext.Current.TestOutputHelper?.WriteLine($"{type} tied={tied}: f32 loss {l32:R}, bf16 loss {l16:R}, |Δ| {diff:E3}; tolerance 4u·Σ|g||W| = {tol:E3} (Σ|g||W| = {sens:E3}); |Δ|/tol = {diff / tol:F3}");
        Assert.NotEqual(l32, l16);   // the option really changes the arithmetic
        Assert.True(diff <= tol, $"|Δloss| {diff:E3} above the rounding bound {tol:E3}");
    }

    [Theory]
    [InlineData("falcon_mamba", false)]
    [InlineData("mamba", true)]
    public void GradientsPointTheSameWayAsF32(string type, bool tied)
    {
        var cfg = GradientTests.Tiny(type, tied, d: 16, e: 32, n: 4, r: 2, v: 37);
        var p = MambaParameters.Initialize(cfg, 22);
        var rng = new Random(4);
        int B = 2, T = 15;
        var tok = Enumerable.Range(0, B * T).Select(_ => rng.Next(37)).ToArray();
        var tgt = Enumerable.Range(0, B * T).Select(_ => rng.Next(37)).ToArray();
        var (_, g32) = Run(cfg, p, tok, tgt, B, T, TrainPrecision.F32);
        var (_, g16) = Run(cfg, p, tok, tgt, B, T, TrainPrecision.Bf16);
        double worst = 1;
        string worstName = "";
        bool anyDifferent = false;
        foreach (var t in g32.Tensors)
        {
            var a = t.Data; var b = g16[t.Name];
            double dot = 0, na = 0, nb = 0;
            for (int i = 0; i < a.Length; i++) { dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i]; anyDifferent |= a[i] != b[i]; }
            double cos = dot / Math.Sqrt(na * nb);
            TestContext.Current.TestOutputHelper?.WriteLine($"{t.Name,-40} cos {cos:F6}  ‖g_f32‖ {Math.Sqrt(na):E2}  ‖g_bf16‖ {Math.Sqrt(nb):E2}");
            Assert.True(na > 0, $"{t.Name}: zero f32 gradient, cosine undefined");
            if (cos < worst) { worst = cos; worstName = t.Name; }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"worst cosine {worst:F6} ({worstName})");
        Assert.True(anyDifferent, "bf16 gradients are bit-identical to f32: the option did nothing");
        Assert.True(worst > 0.99, $"{worstName}: cosine {worst}");
    }

    [Fact]
    public void Bf16GradientsDoNotDependOnThreadCount()
    {
        // rounding is element-wise, so the fixed reduction order of the f32 path carries over
        var cfg = GradientTests.Tiny("falcon_mamba", false, d: 16, e: 40, v: 50);
        var p = MambaParameters.Initialize(cfg, 1);
        var rng = new Random(2);
        var tok = Enumerable.Range(0, 3 * 20).Select(_ => rng.Next(50)).ToArray();
        var g1 = p.ZerosLike(); var g4 = p.ZerosLike();
        using var pool4 = new WorkerPool(4);
        using var pool1 = new WorkerPool(1);
        double l1 = new MambaBackprop(cfg, pool1, 8) { Precision = TrainPrecision.Bf16 }.Run(p, tok, tok, 3, 20, g1, 0.1f);
        double l4 = new MambaBackprop(cfg, pool4, 8) { Precision = TrainPrecision.Bf16 }.Run(p, tok, tok, 3, 20, g4, 0.1f);
        Assert.Equal(l1, l4);
        for (int i = 0; i < p.Tensors.Count; i++) Assert.Equal(g1.Tensors[i].Data, g4.Tensors[i].Data);
    }

    [Fact]
    public void OverfitsATinyBatchInBf16()
    {
        // the f32 test's setup (TrainingLoopTests.OverfitsATinyBatch) with bf16 products; master weights and AdamW stay f32
        var cfg = GradientTests.Tiny("falcon_mamba", false, d: 16, e: 32, n: 4, r: 2, v: 23);
        var p = MambaParameters.Initialize(cfg, 11);
        var g = p.ZerosLike();
        var opt = new AdamW(p, new AdamWOptions { WeightDecay = 0 });
        var bp = new MambaBackprop(cfg, Pool, scanChunk: 8) { Precision = TrainPrecision.Bf16 };
        var rng = new Random(4);
        int B = 2, T = 16;
        var tokens = Enumerable.Range(0, B * T).Select(_ => rng.Next(23)).ToArray();
        var targets = Enumerable.Range(0, B * T).Select(_ => rng.Next(23)).ToArray();
        double first = 0, loss = 0;
        for (int step = 0; step < 300; step++)
        {
            g.Clear();
            loss = bp.Run(p, tokens, targets, B, T, g, 1f / (B * T)) / (B * T);
            if (step == 0) first = loss;
            AdamW.ClipGlobalNorm(g, 1.0);
            opt.Update(p, g, 1e-2);
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"overfit bf16: loss {first:F4} → {loss:F4} after 300 AdamW steps (ln V = {Math.Log(23):F4})");
        Assert.True(loss < 0.05, $"loss {loss}");
    }

    [Fact]
    public void PrecisionKeyParsesAndRejectsUnknownValues()
    {
        var baseCfg = new TrainConfig { Output = "o", Tokenizer = "t", TrainData = ["x"], MaxSteps = 1 };
        Assert.Equal(TrainPrecision.F32, baseCfg.Validate().PrecisionMode);
        var bf = TrainConfig.Parse("""{ "output": "o", "tokenizer": "t", "train_data": ["x"], "max_steps": 1, "precision": "bf16" }""").Validate();
        Assert.Equal(TrainPrecision.Bf16, bf.PrecisionMode);
        Assert.Equal(TrainPrecision.Bf16, TrainConfig.Parse(bf.ToJson()).PrecisionMode);
        var e = Assert.Throws<FalconMambaException>(() => (baseCfg with { Precision = "fp16" }).Validate());
        Assert.Contains("precision", e.Message);
    }
}
