using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FalconMamba.Kernels;

namespace FalconMamba.Training;

/// <summary>
/// Row-major f32 matrix products for training: C[M,N] (+)= A[M,K] · B[K,N]. The forward Y = X·Wᵀ and the weight
/// gradient dW = dYᵀ·X go through <see cref="Transpose"/> first, so one kernel serves all three products of a Linear.
/// Each C element is summed by one thread in ascending k, so results are bit-identical for any thread count.
/// </summary>
public static class Gemm
{
    /// <summary>Scalar reference: C = (accumulate ? C : 0) + A·B.</summary>
    public static void MatMulScalar(float[] a, float[] b, float[] c, int m, int k, int n, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = accumulate ? c[i * n + j] : 0;
                for (int p = 0; p < k; p++) s = MathF.FusedMultiplyAdd(a[i * k + p], b[p * n + j], s);
                c[i * n + j] = s;
            }
    }

    /// <summary>C = (accumulate ? C : 0) + A[M,K]·B[K,N], split over rows of C (or columns when M is small).</summary>
    public static void MatMul(float[] a, float[] b, float[] c, int m, int k, int n, bool accumulate, WorkerPool pool)
    {
        if ((long)m * k > a.Length || (long)k * n > b.Length || (long)m * n > c.Length)
            throw new ArgumentException($"gemm: buffers too small for [{m},{k}]·[{k},{n}]");
        if (m >= 4 * pool.ThreadCount || n < 128)
            Par.For(pool, m, (r0, r1) => Block(a, b, c, k, n, r0, r1, 0, n, accumulate), grain: 4);
        else
            Par.For(pool, (n + 31) / 32, (c0, c1) => Block(a, b, c, k, n, 0, m, c0 * 32, Math.Min(n, c1 * 32), accumulate));
    }

    // 4 rows × 16 columns of C held in eight Vector256 registers; A broadcast, B streamed row by row (FMA).
    // Column panels outer, row blocks inner: the K×16 panel of B stays in L1/L2 while the rows of A stream past it.
    static unsafe void Block(float[] a, float[] b, float[] c, int k, int n, int r0, int r1, int c0, int c1, bool acc)
    {
        fixed (float* pa = a, pb = b, pc = c)
        {
            int j = c0;
            if (Vector512.IsHardwareAccelerated)
                for (; j + 32 <= c1; j += 32)
                {
                    int i = r0;
                    for (; i + 4 <= r1; i += 4) Micro4x32(pa, pb, pc, k, n, i, j, acc);
                    for (; i < r1; i++) { Micro1x16(pa, pb, pc, k, n, i, j, acc); Micro1x16(pa, pb, pc, k, n, i, j + 16, acc); }
                }
            if (Vector256.IsHardwareAccelerated)
                for (; j + 16 <= c1; j += 16)
                {
                    int i = r0;
                    for (; i + 4 <= r1; i += 4) Micro4x16(pa, pb, pc, k, n, i, j, acc);
                    for (; i < r1; i++) Micro1x16(pa, pb, pc, k, n, i, j, acc);
                }
            for (; j < c1; j++)
                for (int i = r0; i < r1; i++) ScalarCell(pa, pb, pc, k, n, i, j, acc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void ScalarCell(float* a, float* b, float* c, int k, int n, int i, int j, bool acc)
    {
        float s = acc ? c[(long)i * n + j] : 0;
        float* ar = a + (long)i * k;
        for (int p = 0; p < k; p++) s = MathF.FusedMultiplyAdd(ar[p], b[(long)p * n + j], s);
        c[(long)i * n + j] = s;
    }

    static unsafe void Micro4x16(float* a, float* b, float* c, int k, int n, int i, int j, bool acc)
    {
        float* c0 = c + (long)i * n + j, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
        Vector256<float> s00, s01, s10, s11, s20, s21, s30, s31;
        if (acc)
        {
            s00 = Vector256.Load(c0); s01 = Vector256.Load(c0 + 8); s10 = Vector256.Load(c1); s11 = Vector256.Load(c1 + 8);
            s20 = Vector256.Load(c2); s21 = Vector256.Load(c2 + 8); s30 = Vector256.Load(c3); s31 = Vector256.Load(c3 + 8);
        }
        else s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = Vector256<float>.Zero;
        float* a0 = a + (long)i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
        float* bp = b + j;
        for (int p = 0; p < k; p++, bp += n)
        {
            var b0 = Vector256.Load(bp); var b1 = Vector256.Load(bp + 8);
            var x = Vector256.Create(a0[p]); s00 = Vector256.FusedMultiplyAdd(x, b0, s00); s01 = Vector256.FusedMultiplyAdd(x, b1, s01);
            x = Vector256.Create(a1[p]); s10 = Vector256.FusedMultiplyAdd(x, b0, s10); s11 = Vector256.FusedMultiplyAdd(x, b1, s11);
            x = Vector256.Create(a2[p]); s20 = Vector256.FusedMultiplyAdd(x, b0, s20); s21 = Vector256.FusedMultiplyAdd(x, b1, s21);
            x = Vector256.Create(a3[p]); s30 = Vector256.FusedMultiplyAdd(x, b0, s30); s31 = Vector256.FusedMultiplyAdd(x, b1, s31);
        }
        s00.Store(c0); s01.Store(c0 + 8); s10.Store(c1); s11.Store(c1 + 8);
        s20.Store(c2); s21.Store(c2 + 8); s30.Store(c3); s31.Store(c3 + 8);
    }

    // AVX-512 variant: 4 rows × 32 columns in eight Vector512 registers (same per-element FMA order as the scalar cell).
    static unsafe void Micro4x32(float* a, float* b, float* c, int k, int n, int i, int j, bool acc)
    {
        float* c0 = c + (long)i * n + j, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
        Vector512<float> s00, s01, s10, s11, s20, s21, s30, s31;
        if (acc)
        {
            s00 = Vector512.Load(c0); s01 = Vector512.Load(c0 + 16); s10 = Vector512.Load(c1); s11 = Vector512.Load(c1 + 16);
            s20 = Vector512.Load(c2); s21 = Vector512.Load(c2 + 16); s30 = Vector512.Load(c3); s31 = Vector512.Load(c3 + 16);
        }
        else s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = Vector512<float>.Zero;
        float* a0 = a + (long)i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
        float* bp = b + j;
        for (int p = 0; p < k; p++, bp += n)
        {
            var b0 = Vector512.Load(bp); var b1 = Vector512.Load(bp + 16);
            var x = Vector512.Create(a0[p]); s00 = Vector512.FusedMultiplyAdd(x, b0, s00); s01 = Vector512.FusedMultiplyAdd(x, b1, s01);
            x = Vector512.Create(a1[p]); s10 = Vector512.FusedMultiplyAdd(x, b0, s10); s11 = Vector512.FusedMultiplyAdd(x, b1, s11);
            x = Vector512.Create(a2[p]); s20 = Vector512.FusedMultiplyAdd(x, b0, s20); s21 = Vector512.FusedMultiplyAdd(x, b1, s21);
            x = Vector512.Create(a3[p]); s30 = Vector512.FusedMultiplyAdd(x, b0, s30); s31 = Vector512.FusedMultiplyAdd(x, b1, s31);
        }
        s00.Store(c0); s01.Store(c0 + 16); s10.Store(c1); s11.Store(c1 + 16);
        s20.Store(c2); s21.Store(c2 + 16); s30.Store(c3); s31.Store(c3 + 16);
    }

    static unsafe void Micro1x16(float* a, float* b, float* c, int k, int n, int i, int j, bool acc)
    {
        float* c0 = c + (long)i * n + j;
        var s0 = acc ? Vector256.Load(c0) : Vector256<float>.Zero;
        var s1 = acc ? Vector256.Load(c0 + 8) : Vector256<float>.Zero;
        float* a0 = a + (long)i * k, bp = b + j;
        for (int p = 0; p < k; p++, bp += n)
        {
            var x = Vector256.Create(a0[p]);
            s0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(bp), s0);
            s1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(bp + 8), s1);
        }
        s0.Store(c0); s1.Store(c0 + 8);
    }

    /// <summary>dst[N,M] = src[M,N]ᵀ.</summary>
    public static void Transpose(float[] src, float[] dst, int m, int n, WorkerPool pool)
    {
        Par.For(pool, n, (j0, j1) =>
        {
            for (int j = j0; j < j1; j++)
            {
                long o = (long)j * m;
                for (int i = 0; i < m; i++) dst[o + i] = src[(long)i * n + j];
            }
        }, grain: 8);
    }
}
