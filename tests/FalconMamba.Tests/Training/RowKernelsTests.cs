using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>The trainer's row-wise kernels against their scalar references (RMSNorm within a few ulp; column sums bit-identical).</summary>
public class RowKernelsTests
{
    [Theory]
    [InlineData(37, 256)]
    [InlineData(5, 100)]   // a width with a scalar tail in every row and a partial column block
    public void VectorMatchesScalarReference(int m, int d)
    {
        var rng = new Random(m * 1000 + d);
        float[] R(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
        var x = R(m * d, 3); var w = R(d, 1.5); var dy = R(m * d, 1e-2);
        float[] y1 = new float[m * d], y2 = new float[m * d], rs1 = new float[m], rs2 = new float[m];
        RowKernels.RmsNormForward(x, w, y1, rs1, 0, m, d, 1e-5f);
        RowKernels.RmsNormForwardScalar(x, w, y2, rs2, 0, m, d, 1e-5f);
        double Rel(float[] p, float[] q) => Math.Sqrt(p.Zip(q, (a, b) => (double)(a - b) * (a - b)).Sum() / q.Sum(b => (double)b * b));
        double ey = Rel(y1, y2), er = Rel(rs1, rs2);
        var dx1 = R(m * d, 1e-3); var dx2 = dx1.ToArray();
        RowKernels.RmsNormBackwardInput(x, w, rs2, dy, dx1, 0, m, d);
        RowKernels.RmsNormBackwardInputScalar(x, w, rs2, dy, dx2, 0, m, d);
        double ex = Rel(dx1, dx2);
        TestContext.Current.TestOutputHelper!.WriteLine($"RMSNorm M {m} D {d}: ‖Δ‖/‖ref‖ y {ey:E2}, rstd {er:E2}, dx {ex:E2}");
        Assert.True(ey < 1e-6 && er < 1e-6 && ex < 1e-6, $"{ey} {er} {ex}");
        // column sums: same order per column as the scalar loop, for any split of the column blocks
        int blocks = (d + RowKernels.ColumnBlock - 1) / RowKernels.ColumnBlock;
        var s0 = R(d, 1); var s1 = s0.ToArray(); var s2 = s0.ToArray(); var s3 = s0.ToArray(); var s4 = s0.ToArray();
        RowKernels.AddColumnSums(dy, m, d, s1, 0, blocks);
        for (int b = 0; b < blocks; b++) RowKernels.AddColumnSums(dy, m, d, s2, b, b + 1);
        RowKernels.ColumnSumsScalar(dy, null, null, m, d, s3, 0, d);
        Assert.Equal(s3, s1); Assert.Equal(s3, s2);
        RowKernels.AddWeightedColumnSums(dy, x, rs2, m, d, s4, 0, blocks);
        var s5 = s0.ToArray();
        RowKernels.ColumnSumsScalar(dy, x, rs2, m, d, s5, 0, d);
        Assert.Equal(s5, s4);
    }
}
