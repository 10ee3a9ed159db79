using System.Runtime.Intrinsics;
using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>The inlined vector exp against MathF.Exp (its scalar reference) over the range the trainer feeds it.</summary>
public class VectorExpTests
{
    [Fact]
    public void WithinTwoUlpOfMathFExpAndZeroBelowTheClamp()
    {
        double worst = 0; float worstAt = 0;
        var xs = new float[8];
        for (int i = 0; i <= 400_000; i++)
        {
            float x = -87f + 175f * i / 400_000;   // [−87, 88]
            xs[i % 8] = x;
            if (i % 8 != 7) continue;
            var y = VectorExp.Exp(Vector256.Create(xs));
            for (int l = 0; l < 8; l++)
            {
                float r = MathF.Exp(xs[l]);
                double ulps = Math.Abs(y[l] - r) / (MathF.BitIncrement(r) - r);
                if (ulps > worst) { worst = ulps; worstAt = xs[l]; }
            }
        }
        TestContext.Current.TestOutputHelper!.WriteLine($"VectorExp vs MathF.Exp on [−87, 88]: worst {worst:F2} ulp at x = {worstAt}");
        Assert.True(worst <= 2, $"{worst} ulp at {worstAt}");
        var edge = VectorExp.Exp(Vector256.Create(-1e4f, -88f, -87.5f, 0f, 1f, -1f, 89f, 1e4f));
        Assert.Equal(0f, edge[0]); Assert.Equal(0f, edge[1]);
        Assert.Equal(MathF.Exp(-87.5f), edge[2], MathF.Exp(-87.5f) * 1e-6f);   // still a normal float: e^x, not 0
        Assert.Equal(1f, edge[3]); Assert.Equal(MathF.E, edge[4], 1e-6f); Assert.Equal(1 / MathF.E, edge[5], 1e-7f);
        Assert.True(edge[6] > 1e38f && edge[7] > 1e38f && float.IsFinite(edge[7]));   // stands in for +∞
    }

    [Fact]
    public void Vector512FormIsTheVector256FormOnEachHalf()
    {
        // same operations, lane by lane: bit-identical, so the scan gives the same states with either width
        var rng = new Random(5);
        int mismatches = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var xs = Enumerable.Range(0, 16).Select(_ => (float)(rng.NextDouble() * 190 - 100)).ToArray();
            var wide = VectorExp.Exp(Vector512.Create(xs));
            var lo = VectorExp.Exp(Vector256.Create(xs, 0));
            var hi = VectorExp.Exp(Vector256.Create(xs, 8));
            if (wide.GetLower() != lo || wide.GetUpper() != hi) mismatches++;
        }
        Assert.Equal(0, mismatches);
    }
}
