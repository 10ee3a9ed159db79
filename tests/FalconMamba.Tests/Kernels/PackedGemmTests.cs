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

    [Theory]
    [InlineData(1, 1, 1, true, false)]
    [InlineData(37, 70, 300, true, false)]     // weight-gradient form: A stored [K, M], K over two panels
    [InlineData(130, 260, 33, true, false)]
    [InlineData(37, 70, 300, false, true)]     // Linear forward form: B stored [N, K]
    [InlineData(130, 260, 33, false, true)]
    [InlineData(64, 48, 512, true, true)]
    [InlineData(40, 48, 300, false, true)]     // x_proj forward form: N = 48 ends in a 16-column half strip
    [InlineData(24, 16, 70, false, false)]     // dt_proj dX form: N = 16
    public void TransposedOperandsMatchTheScalarReference(int m, int n, int k, bool transA, bool transB)
    {
        var rng = new Random(m * 1000 + n + k + (transA ? 7 : 0) + (transB ? 11 : 0));
        float[] R(int len) => Enumerable.Range(0, len).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 1;
        var a = R((transA ? k : m) * lda); var b = R((transB ? n : k) * ldb); var c0 = R(m * ldc);
        foreach (var acc in new[] { true, false })
        {
            var cRef = c0.ToArray(); var c1 = c0.ToArray(); var c2 = c0.ToArray();
            PackedGemm.MatMulReference(a, lda, transA, b, ldb, transB, cRef, ldc, m, n, k, acc);
            using var pool = new WorkerPool(2);
            PackedGemm.MatMul(a, 0, lda, transA, b, 0, ldb, transB, c1, 0, ldc, m, n, k, acc, null);
            PackedGemm.MatMul(a, 0, lda, transA, b, 0, ldb, transB, c2, 0, ldc, m, n, k, acc, pool);
            Assert.Equal(cRef, c1);   // bit-identical to the FMA reference
            Assert.Equal(c1, c2);     // and for 1 and 2 threads
            double max = 0;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = acc ? c0[i * ldc + j] : 0;
                    for (int p = 0; p < k; p++) s += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                    max = Math.Max(max, Math.Abs(s - c1[i * ldc + j]));
                }
            TestContext.Current.TestOutputHelper!.WriteLine($"PackedGemm {m}x{n}x{k} transA={transA} transB={transB} acc={acc}: max |fast − float64 sum| = {max:E2}");
            Assert.True(max <= 1e-5 * Math.Sqrt(k) + 1e-6, $"max diff {max}");
        }
    }

    [Theory]
    [InlineData(64, 300, 70, true)]     // the lm_head's logits form: B = W [N, K] stored transposed, ragged N
    [InlineData(64, 70, 300, false)]    // its dx form: K over two panels
    [InlineData(5, 33, 9, false)]
    public void PrepackedBIsBitIdenticalToPackingPerCall(int m, int n, int k, bool transB)
    {
        var rng = new Random(m + 10 * n + 100 * k);
        float[] R(int len) => Enumerable.Range(0, len).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        int lda = k + 1, ldb = (transB ? k : n) + 2, ldc = n + 3;
        var a = R(m * lda); var b = R((transB ? n : k) * ldb); var c0 = R(m * ldc);
        using var pool = new WorkerPool(2);
        var packed = PackedGemm.PackB(b, ldb, transB, k, n, pool);
        packed = PackedGemm.PackB(b, ldb, transB, k, n, null, packed);   // repacking into the same buffer
        foreach (var acc in new[] { false, true })
        {
            var cRef = c0.ToArray(); var c1 = c0.ToArray(); var c2 = c0.ToArray();
            PackedGemm.MatMulReference(a, lda, false, b, ldb, transB, cRef, ldc, m, n, k, acc);
            PackedGemm.MatMul(a, 0, lda, false, packed, c1, 0, ldc, m, acc, null);
            PackedGemm.MatMul(a, 0, lda, false, packed, c2, 0, ldc, m, acc, pool);
            Assert.Equal(cRef, c1);
            Assert.Equal(cRef, c2);
        }
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
