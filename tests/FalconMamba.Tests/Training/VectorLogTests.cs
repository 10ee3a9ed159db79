using System.Runtime.Intrinsics;
using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>The inlined vector log against MathF.Log (its scalar reference) over the positive normal floats.</summary>
public class VectorLogTests
{
    [Fact]
    public void WithinTwoUlpOfMathFLog()
    {
        double worst = 0; float worstAt = 0;
        var xs = new float[8];
        var rng = new Random(7);
        int count = 0;
        // around 1 densely (softplus feeds 1 + e^x), then log-uniform over the normal range
        for (int i = 0; i < 800_000; i++)
        {
            float x = i < 400_000 ? 1f + (float)(rng.NextDouble() * 2 - 0.5) * MathF.Pow(2, -rng.Next(0, 24)) : MathF.Exp((float)(rng.NextDouble() * 174 - 87));
            if (!(x > 0) || !float.IsNormal(x)) continue;
            xs[count++ % 8] = x;
            if (count % 8 != 0) continue;
            var y = VectorLog.Log(Vector256.Create(xs));
            for (int l = 0; l < 8; l++)
            {
                float r = MathF.Log(xs[l]);
                double ulps = r == 0 ? Math.Abs(y[l]) / float.Epsilon : Math.Abs(y[l] - r) / (MathF.BitIncrement(Math.Abs(r)) - Math.Abs(r));
                if (ulps > worst) { worst = ulps; worstAt = xs[l]; }
            }
        }
        TestContext.Current.TestOutputHelper!.WriteLine($"VectorLog vs MathF.Log over {count} positive normal floats: worst {worst:F2} ulp at x = {worstAt:R}");
        Assert.True(worst <= 2, $"{worst} ulp at {worstAt}");
        var edge = VectorLog.Log(Vector256.Create(1f, 2f, MathF.E, 0.5f, float.MaxValue, 1.17549435e-38f, 1.0000001f, 0.99999994f));
        Assert.Equal(0f, edge[0]); Assert.Equal(MathF.Log(2), edge[1]); Assert.Equal(1f, edge[2], 1e-7f); Assert.Equal(-MathF.Log(2), edge[3]);
        Assert.Equal(MathF.Log(float.MaxValue), edge[4], 1e-4f); Assert.Equal(MathF.Log(1.17549435e-38f), edge[5], 1e-4f);
        Assert.Equal(MathF.Log(1.0000001f), edge[6], 1e-13f); Assert.Equal(MathF.Log(0.99999994f), edge[7], 1e-13f);
    }
}
