using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>The channel-vector conv + SiLU against its scalar reference (same tap order; only SiLU's exp differs).</summary>
public class CausalConvTests
{
    [Theory]
    [InlineData(2, 7, 20, 4, true)]    // E = 20: two 8-channel groups and 4 scalar channels
    [InlineData(3, 3, 16, 4, false)]   // T < k: the first rows see only part of the taps
    [InlineData(1, 11, 9, 3, true)]
    public void VectorMatchesScalarReference(int b, int T, int E, int k, bool withBias)
    {
        var rng = new Random(E * 100 + T);
        float[] R(int len) => Enumerable.Range(0, len).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        int m = b * T;
        var xz = R(m * 2 * E); var w = R(E * k); var bias = withBias ? R(E) : null;
        var xc1 = new float[m * E]; var xs1 = new float[m * E]; var xc2 = new float[m * E]; var xs2 = new float[m * E];
        CausalConv.Forward(xz, w, bias, xc1, xs1, 0, m, T, E, k);
        CausalConv.ForwardScalar(xz, w, bias, xc2, xs2, 0, m, T, E, k, 0, E);
        Assert.Equal(xc2, xc1);   // same tap order: bit-identical
        double maxXs = xs1.Zip(xs2, (p, q) => Math.Abs(p - q) / Math.Max(1, Math.Abs(q))).Max();

        var dxs = R(m * E); var dxs2 = R(m * E); var gw0 = R(E * k); var gb0 = R(E); var dxz0 = R(m * 2 * E);
        var gw1 = gw0.ToArray(); var gb1 = gb0.ToArray(); var dxz1 = dxz0.ToArray();
        var gw2 = gw0.ToArray(); var gb2 = gb0.ToArray(); var dxz2 = dxz0.ToArray();
        CausalConv.Backward(xz, xc1, dxs, dxs2, w, gw1, withBias ? gb1 : null, dxz1, 0, E, m, T, E, k);
        CausalConv.BackwardScalar(xz, xc1, dxs, dxs2, w, gw2, withBias ? gb2 : null, dxz2, 0, E, m, T, E, k);
        static double Rel(float[] p, float[] q) =>
            Math.Sqrt(p.Zip(q, (x, y) => (double)(x - y) * (x - y)).Sum() / Math.Max(1e-30, q.Sum(y => (double)y * y)));
        double eW = Rel(gw1, gw2), eB = Rel(gb1, gb2), eX = Rel(dxz1, dxz2);
        TestContext.Current.TestOutputHelper!.WriteLine($"conv B{b} T{T} E{E} k{k}: xc bit-identical; SiLU max rel {maxXs:E2}; ‖Δ‖/‖ref‖ gw {eW:E2}, gbias {eB:E2}, dxz {eX:E2}");
        // vector exp vs MathF.Exp: a few ulp per element, summed over ≤ 33 rows
        Assert.True(maxXs < 1e-6, $"SiLU {maxXs}");
        Assert.True(eW < 1e-6 && eB < 1e-6 && eX < 1e-6, $"gw {eW} gb {eB} dxz {eX}");
        Assert.Equal(dxz0[E], dxz1[E]);   // the z half of dxz is not touched
    }
}
