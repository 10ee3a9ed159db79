using FalconMamba.Kernels;
using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

public class OptimizerAndScheduleTests
{
    [Fact]
    public void AdamWStepMatchesTheUpdateRuleWrittenOut()
    {
        var cfg = GradientCheckTests.TinyConfig("falcon_mamba", false);
        var p = GradientCheckTests.TinyParameters(cfg, 1);
        var g = p.ZerosLike();
        var rng = new Random(5);
        foreach (var t in g.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(rng.NextDouble() - 0.5);
        var before = p.Tensors.Select(t => t.Data.ToArray()).ToArray();
        var opt = new AdamW(p, new AdamWOptions { Beta1 = 0.8, Beta2 = 0.9, Epsilon = 1e-6, WeightDecay = 0.1 });
        double lr = 0.01;
        opt.Update(p, g, lr);       // step 1
        var mid = p.Tensors.Select(t => t.Data.ToArray()).ToArray();
        opt.Update(p, g, lr);       // step 2, same gradient
        double maxDiff = 0;
        for (int ti = 0; ti < p.Tensors.Count; ti++)
        {
            bool decay = p.Tensors[ti].Kind is ParameterKind.Matrix or ParameterKind.ConvWeight;
            for (int i = 0; i < before[ti].Length; i++)
            {
                double gi = g.Tensors[ti].Data[i], w = before[ti][i];
                // step 1: m = 0.2g, v = 0.1g², m̂ = g, v̂ = g²
                double m1 = 0.2 * gi, v1 = 0.1 * gi * gi;
                double w1 = w * (decay ? 1 - lr * 0.1 : 1) - lr * (m1 / 0.2) / (Math.Sqrt(v1 / 0.1) + 1e-6);
                double m2 = 0.8 * m1 + 0.2 * gi, v2 = 0.9 * v1 + 0.1 * gi * gi;
                double w2 = w1 * (decay ? 1 - lr * 0.1 : 1) - lr * (m2 / (1 - 0.64)) / (Math.Sqrt(v2 / (1 - 0.81)) + 1e-6);
                maxDiff = Math.Max(maxDiff, Math.Abs(mid[ti][i] - w1));
                maxDiff = Math.Max(maxDiff, Math.Abs(p.Tensors[ti].Data[i] - w2));
            }
        }
        TestContext.Current.TestOutputHelper!.WriteLine($"AdamW max |engine − formula| = {maxDiff:E2}");
        Assert.True(maxDiff < 2e-6, $"max diff {maxDiff}");
    }

    [Fact]
    public void GradientClippingScalesToTheMaxNorm()
    {
        var cfg = GradientCheckTests.TinyConfig("mamba", true);
        var g = new MambaParameters(cfg);
        foreach (var t in g.Tensors) Array.Fill(t.Data, 1f);
        double n0 = AdamW.GlobalNorm(g);
        Assert.Equal(Math.Sqrt(g.Count), n0, 6);
        AdamW.ClipGlobalNorm(g, 1.0);
        Assert.Equal(1.0, AdamW.GlobalNorm(g), 4);
    }

    [Fact]
    public void SchedulesAtPhaseBoundaries()
    {
        const double eta = 6.4e-4;
        // warmup 100, total 1000, decay 500 (decay starts at 500)
        Assert.Equal(0, Schedules.WarmupStableDecay(0, 100, 1000, 500, eta));
        Assert.Equal(eta / 2, Schedules.WarmupStableDecay(50, 100, 1000, 500, eta), 12);
        Assert.Equal(eta, Schedules.WarmupStableDecay(100, 100, 1000, 500, eta), 12);
        Assert.Equal(eta, Schedules.WarmupStableDecay(500, 100, 1000, 500, eta), 12);
        Assert.Equal(eta / 16, Schedules.WarmupStableDecay(750, 100, 1000, 500, eta), 12);        // 256^-0.5
        Assert.Equal(2.5e-6, Schedules.WarmupStableDecay(1000, 100, 1000, 500, eta), 12);          // η_max/256 (the card's 2.5e-6)
        Assert.Equal(eta - (eta - eta / 256) / 2, Schedules.WarmupStableDecay(750, 100, 1000, 500, eta, DecayShape.Linear), 12);
        Assert.Equal(eta / 256 + (eta - eta / 256) * (1 - Math.Sqrt(0.25)), Schedules.WarmupStableDecay(625, 100, 1000, 500, eta, DecayShape.OneMinusSqrt), 12);
        // batch ramp 128 → 2048 over 50 GT, multiples of 8
        Assert.Equal(128, Schedules.BatchRampUp(0, 128, 2048, 50e9, 8));
        Assert.Equal(1088, Schedules.BatchRampUp(25e9, 128, 2048, 50e9, 8));
        Assert.Equal(2048, Schedules.BatchRampUp(50e9, 128, 2048, 50e9, 8));
        // BatchScaling: η/√b constant
        Assert.Equal(eta / 4, Schedules.BatchScaling(eta, 128, 2048), 12);
        // context stages
        var stages = new List<(double, int)> { (0, 2048), (5e12, 8192) };
        Assert.Equal(2048, Schedules.ContextLength(4.9e12, stages));
        Assert.Equal(8192, Schedules.ContextLength(5e12, stages));
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 13, 5)]
    [InlineData(37, 70, 300)]
    [InlineData(130, 260, 33)]
    public void GemmMatchesScalarReference(int m, int n, int k)
    {
        var rng = new Random(m * 1000 + n + k);
        float[] R(int len) => Enumerable.Range(0, len).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        // leading dimensions larger than the logical sizes
        int lda = k + 3, ldb = n + 2, ldc = n + 1;
        var a = R(m * lda); var b = R(k * ldb); var c0 = R(m * ldc);
        var cRef = c0.ToArray(); var cFast = c0.ToArray();
        Gemm.MatMulReference(a, lda, b, ldb, cRef, ldc, m, n, k, accumulate: true);
        using var pool = new WorkerPool(2);
        Gemm.MatMul(a, 0, lda, b, 0, ldb, cFast, 0, ldc, m, n, k, accumulate: true, pool);
        double max = 0;
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) max = Math.Max(max, Math.Abs(cRef[i * ldc + j] - cFast[i * ldc + j]));
        // untouched padding columns
        for (int i = 0; i < m; i++) Assert.Equal(c0[i * ldc + n], cFast[i * ldc + n]);
        TestContext.Current.TestOutputHelper!.WriteLine($"GEMM {m}x{n}x{k}: max |fast − ref| = {max:E2}");
        Assert.True(max <= 1e-5 * Math.Sqrt(k) + 1e-6, $"max diff {max}");
        // overwrite mode and thread-count independence (bit-identical)
        var c1 = new float[m * ldc]; var c2 = new float[m * ldc];
        Gemm.MatMul(a, 0, lda, b, 0, ldb, c1, 0, ldc, m, n, k, false, null);
        Gemm.MatMul(a, 0, lda, b, 0, ldb, c2, 0, ldc, m, n, k, false, pool);
        Assert.Equal(c1, c2);
    }
}
