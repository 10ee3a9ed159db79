using FalconMamba.Kernels;

namespace FalconMamba.Training;

/// <summary>
/// Row-major f32 matrix products for training: C[M,N] (+)= A[M,K] · B[K,N]. The forward Y = X·Wᵀ (<see cref="MatMulBT"/>)
/// and the weight gradient dW = dYᵀ·X (<see cref="MatMulAT"/>) read the stored operand transposed while packing it, so
/// no separate transpose pass runs.
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

    /// <summary>
    /// C = (accumulate ? C : 0) + A[M,K]·B[K,N]: the packed, cache-tiled <see cref="Kernels.PackedGemm"/> (MR×NR register
    /// micro-kernel, Vector512 where available). Each C element is still summed by one thread in a fixed order (k panels
    /// ascending), so results stay bit-identical for any thread count. It replaced an unpacked 4×16 Vector256 kernel
    /// here that ran 1.5–3× slower (the long-K weight-gradient products most; see docs/training.md).
    /// </summary>
    public static void MatMul(float[] a, float[] b, float[] c, int m, int k, int n, bool accumulate, WorkerPool pool)
    {
        if ((long)m * k > a.Length || (long)k * n > b.Length || (long)m * n > c.Length)
            throw new ArgumentException($"gemm: buffers too small for [{m},{k}]·[{k},{n}]");
        Kernels.PackedGemm.MatMul(a, 0, k, b, 0, n, c, 0, n, m, n, k, accumulate, pool);
    }

    /// <summary>C[M,N] = (accumulate ? C : 0) + Aᵀ·B with A stored [K, M] (the weight gradient dYᵀ·X).</summary>
    public static void MatMulAT(float[] a, float[] b, float[] c, int m, int k, int n, bool accumulate, WorkerPool pool)
    {
        if ((long)m * k > a.Length || (long)k * n > b.Length || (long)m * n > c.Length)
            throw new ArgumentException($"gemm: buffers too small for [{k},{m}]ᵀ·[{k},{n}]");
        Kernels.PackedGemm.MatMul(a, 0, m, true, b, 0, n, false, c, 0, n, m, n, k, accumulate, pool);
    }

    /// <summary>C[M,N] = (accumulate ? C : 0) + A·Bᵀ with B stored [N, K] (the forward X·Wᵀ of a Linear, W [out, in]).</summary>
    public static void MatMulBT(float[] a, float[] b, float[] c, int m, int k, int n, bool accumulate, WorkerPool pool)
    {
        if ((long)m * k > a.Length || (long)k * n > b.Length || (long)m * n > c.Length)
            throw new ArgumentException($"gemm: buffers too small for [{m},{k}]·[{n},{k}]ᵀ");
        Kernels.PackedGemm.MatMul(a, 0, k, false, b, 0, k, true, c, 0, n, m, n, k, accumulate, pool);
    }

    /// <summary>dst[N,M] = src[M,N]ᵀ.</summary>
    public static void Transpose(float[] src, float[] dst, int m, int n, WorkerPool pool) => Kernels.PackedGemm.Transpose(src, m, n, dst, pool);
}
