using FalconMamba.Kernels;

namespace FalconMamba.Tests.Kernels;

/// <summary>The packed GEMM against its scalar (double-accumulator) reference: edge tiles, leading dimensions, K panels.</summary>
public class PackedGemmTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 13, 5)]
    [InlineData(37, 70, 300)]      // K spans two 256-wide panels
    [InlineData(130, 260, 33)]     // several MC×NC tiles with ragged edges
    public void MatchesScalarReferenceAndIsThreadCountIndependent(int m, int n, int k)
    {
        var rng = new Random(m * 1000 + n + k);
        float[] R(int len) => Enumerable.Range(0, len).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        int lda = k + 3, ldb = n + 2, ldc = n + 1;   // leading dimensions wider than the logical sizes
        var a = R(m * lda); var b = R(k * ldb); var c0 = R(m * ldc);
        var cRef = c0.ToArray(); var cFast = c0.ToArray();
        PackedGemm.MatMulReference(a, lda, b, ldb, cRef, ldc, m, n, k, accumulate: true);
        using var pool = new WorkerPool(2);
        PackedGemm.MatMul(a, 0, lda, b, 0, ldb, cFast, 0, ldc, m, n, k, accumulate: true, pool);
        Assert.Equal(cRef, cFast);   // same FMA chain, bit-identical
        double max = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = c0[i * ldc + j];
                for (int p = 0; p < k; p++) s += (double)a[i * lda + p] * b[p * ldb + j];
                max = Math.Max(max, Math.Abs(s - cFast[i * ldc + j]));
            }
        for (int i = 0; i < m; i++) Assert.Equal(c0[i * ldc + n], cFast[i * ldc + n]);   // padding column untouched
        TestContext.Current.TestOutputHelper!.WriteLine($"PackedGemm {m}x{n}x{k}: bit-identical to the FMA reference; max |fast − float64 sum| = {max:E2}");
        // f32 sums of k products of magnitude ≤ 1: rounding grows like √k·ε·|sum|
        Assert.True(max <= 1e-5 * Math.Sqrt(k) + 1e-6, $"max diff {max}");
        var c1 = new float[m * ldc]; var c2 = new float[m * ldc];
        PackedGemm.MatMul(a, 0, lda, b, 0, ldb, c1, 0, ldc, m, n, k, false, null);
        PackedGemm.MatMul(a, 0, lda, b, 0, ldb, c2, 0, ldc, m, n, k, false, pool);
        Assert.Equal(c1, c2);   // bit-identical with 1 and 2 threads
    }

    [Fact]
    public void TransposeIsExact()
    {
        var src = Enumerable.Range(0, 37 * 70).Select(i => (float)i).ToArray();
        var dst = new float[src.Length];
        using var pool = new WorkerPool(2);
        PackedGemm.Transpose(src, 37, 70, dst, pool);
        for (int i = 0; i < 37; i++) for (int j = 0; j < 70; j++) Assert.Equal(src[i * 70 + j], dst[j * 37 + i]);
    }
}
