using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>AdamW against its rule written out in float64; schedule values at the phase boundaries.</summary>
public class OptimizerTests
{
    [Fact]
    public void AdamWTwoStepsMatchTheRuleWrittenOut()
    {
        var cfg = GradientTests.Tiny("falcon_mamba", false);
        var p = MambaParameters.Initialize(cfg, 1);
        var g = p.ZerosLike();
        var rng = new Random(5);
        var opt = new AdamW(p, new AdamWOptions { Beta1 = 0.8, Beta2 = 0.9, Epsilon = 1e-6, WeightDecay = 0.1 });
        var theta = p.Tensors.Select(t => t.Data.Select(x => (double)x).ToArray()).ToArray();
        var m = p.Tensors.Select(t => new double[t.Data.Length]).ToArray();
        var v = p.Tensors.Select(t => new double[t.Data.Length]).ToArray();
        double maxRel = 0;
        for (int step = 1; step <= 2; step++)
        {
            double lr = 0.01 * step;
            foreach (var t in g.Tensors) for (int j = 0; j < t.Data.Length; j++) t.Data[j] = (float)(rng.NextDouble() - 0.5);
            opt.Update(p, g, lr);
            for (int i = 0; i < theta.Length; i++)
            {
                bool decays = i != 0 && p.Tensors[i].IsLinearWeight || p.Tensors[i].Name.EndsWith("conv1d.weight");
                Assert.Equal(decays, opt.Decays(i));
                for (int j = 0; j < theta[i].Length; j++)
                {
                    double gj = g.Tensors[i].Data[j];
                    if (decays) theta[i][j] -= lr * 0.1 * theta[i][j];
                    m[i][j] = 0.8 * m[i][j] + 0.2 * gj;
                    v[i][j] = 0.9 * v[i][j] + 0.1 * gj * gj;
                    double mh = m[i][j] / (1 - Math.Pow(0.8, step)), vh = v[i][j] / (1 - Math.Pow(0.9, step));
                    theta[i][j] -= lr * mh / (Math.Sqrt(vh) + 1e-6);
                    double rel = Math.Abs(theta[i][j] - p.Tensors[i].Data[j]) / Math.Max(1e-3, Math.Abs(theta[i][j]));
                    maxRel = Math.Max(maxRel, rel);
                }
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"AdamW f32 vs float64 rule after 2 steps: max rel diff {maxRel:E2}");
        Assert.True(maxRel < 1e-5, $"{maxRel:E2}");
    }

    [Fact]
    public void AdamWVectorLoopIsBitIdenticalToItsScalarForm()
    {
        // the update runs 8 parameters per Vector256 with the scalar loop's operations in order: identical bits
        var cfg = GradientTests.Tiny("falcon_mamba", false, d: 16, e: 37);
        var p = MambaParameters.Initialize(cfg, 1); var g = p.ZerosLike(); var rng = new Random(3);
        foreach (var t in g.Tensors) for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(rng.NextDouble() - 0.5) * 1e-2f;
        var p2 = p.ZerosLike(); p2.CopyFrom(p);
        var opt = new AdamW(p, new AdamWOptions());
        var o = opt.Options; var ms = p2.ZerosLike(); var vs = p2.ZerosLike();
        for (int step = 1; step <= 3; step++)
        {
            opt.Update(p, g, 1e-3);
            float c1 = (float)(1 / (1 - Math.Pow(o.Beta1, step))), c2 = (float)(1 / (1 - Math.Pow(o.Beta2, step)));
            float fb1 = (float)o.Beta1, fb2 = (float)o.Beta2, eps = (float)o.Epsilon, flr = 1e-3f;
            for (int i = 0; i < p2.Tensors.Count; i++)
            {
                var th = p2.Tensors[i].Data; var gr = g.Tensors[i].Data; var m = ms.Tensors[i].Data; var v = vs.Tensors[i].Data;
                float shrink = opt.Decays(i) ? (float)(1 - 1e-3 * o.WeightDecay) : 1f;
                for (int j = 0; j < th.Length; j++)
                {
                    float gj = gr[j];
                    m[j] = fb1 * m[j] + (1 - fb1) * gj;
                    v[j] = fb2 * v[j] + (1 - fb2) * gj * gj;
                    th[j] = th[j] * shrink - flr * (m[j] * c1) / (MathF.Sqrt(v[j] * c2) + eps);
                }
            }
        }
        for (int i = 0; i < p.Tensors.Count; i++) Assert.Equal(p2.Tensors[i].Data, p.Tensors[i].Data);
    }

    [Fact]
    public void ClipGlobalNormScalesToTheLimit()
    {
        var g = MambaParameters.Zeros(GradientTests.Tiny("mamba", true));
        g.Tensors[0].Data[0] = 3; g.Tensors[1].Data[0] = 4;
        Assert.Equal(5, AdamW.ClipGlobalNorm(g, 1), 6);
        Assert.Equal(1, AdamW.ClipGlobalNorm(g, 0), 5);
        Assert.Equal(0.6f, g.Tensors[0].Data[0], 5);
    }

    [Fact]
    public void WsdValuesAtPhaseBoundaries()
    {
        // warmup 100, total 1000, decay over the last 200 tokens, η_max 6.4e-4 (card) → η_min = 2.5e-6
        double W(double t, DecayShape s = DecayShape.Exponential) => Schedules.Wsd(t, 1000, 100, 200, 6.4e-4, s);
        Assert.Equal(0, W(0));
        Assert.Equal(3.2e-4, W(50), 12);
        Assert.Equal(6.4e-4, W(100), 12);
        Assert.Equal(6.4e-4, W(800), 12);
        Assert.Equal(6.4e-4 / 16, W(900), 12);          // halfway through the exponential decay: 256^-½
        Assert.Equal(2.5e-6, W(1000), 12);
        Assert.Equal(2.5e-6, W(5000), 12);
        Assert.Equal((6.4e-4 + 2.5e-6) / 2, W(900, DecayShape.Linear), 12);
        Assert.Equal(2.5e-6 + (6.4e-4 - 2.5e-6) * (1 - Math.Sqrt(0.5)), W(900, DecayShape.OneMinusSqrt), 12);
        Assert.Equal(2.5e-6, W(1000, DecayShape.OneMinusSqrt), 12);
    }

    [Fact]
    public void BatchRampScalingAndContextStages()
    {
        Assert.Equal(128, Schedules.BatchRamp(0, 50e9, 128, 2048, 128));
        Assert.Equal(1024, Schedules.BatchRamp(25e9, 50e9, 128, 2048, 128)); // 128 + 960 = 1088 → multiple of 128
        Assert.Equal(1088, Schedules.BatchRamp(25e9, 50e9, 128, 2048));
        Assert.Equal(2048, Schedules.BatchRamp(50e9, 50e9, 128, 2048, 128));
        Assert.Equal(2048, Schedules.BatchRamp(1, 0, 128, 2048));
        // T = η/√b constant
        Assert.Equal(6.4e-4 / 4, Schedules.BatchScaled(6.4e-4, 128, 2048), 12);
        double t1 = Schedules.BatchScaled(6.4e-4, 512, 2048) / Math.Sqrt(512), t2 = 6.4e-4 / Math.Sqrt(2048);
        Assert.Equal(t2, t1, 15);
        var stages = new List<(double, int)> { (0, 2048), (5e12, 8192) };
        Assert.Equal(2048, Schedules.ContextLength(4.99e12, stages));
        Assert.Equal(8192, Schedules.ContextLength(5e12, stages));
    }
}
