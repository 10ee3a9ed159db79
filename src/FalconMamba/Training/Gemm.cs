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

    /// <summary>dst[N,M] = src[M,N]ᵀ.</summary>
    public static void Transpose(float[] src, float[] dst, int m, int n, WorkerPool pool) => Kernels.PackedGemm.Transpose(src, m, n, dst, pool);
}
