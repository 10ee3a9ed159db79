using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FalconMamba.Kernels;

/// <summary>
/// Cache-tiled f32 matrix product C[M,N] (+)= A[M,K] · B[K,N] (all row-major, with leading dimensions), the kernel that
/// training spends its time in. Layout after BLIS / GotoBLAS: C is cut into MC×NC tiles (one tile = one unit of parallel
/// work), K into KC panels; per panel the A block is packed into MR-row strips and the B block into NR-column strips,
/// and an MR×NR register micro-kernel (Vector512 or Vector256 FMA) runs over them. Every C element is summed by one
/// thread over k in ascending order, so results do not depend on the thread count or timing (training resume relies on it).
/// The three training products map onto it: X·Wᵀ (transpose W once per step), dY·W (direct) and dYᵀ·X (transpose dY).
/// </summary>
public static unsafe class PackedGemm
{
    const int KC = 256;
    static readonly bool Use512 = Vector512.IsHardwareAccelerated;
    // Micro-tile: 8×32 with AVX-512 (16 zmm accumulators of 32), 6×16 with AVX2 (12 ymm accumulators of 16).
    static readonly int MR = Use512 ? 8 : 6;
    static readonly int NR = Use512 ? 32 : 16;
    static readonly int MC = MR * 12;
    static readonly int NC = NR * 8;

    /// <summary>
    /// C[M,N] = A[M,K]·B[K,N] (or C += when <paramref name="accumulate"/>). Pointers must stay valid for the call.
    /// </summary>
    public static void MatMul(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int n, int k, bool accumulate, WorkerPool? pool = null)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) new Span<float>(c + (long)i * ldc, n).Clear();
            return;
        }
        int mt = (m + MC - 1) / MC, nt = (n + NC - 1) / NC;
        var body = new Body { A = a, Lda = lda, B = b, Ldb = ldb, C = c, Ldc = ldc, M = m, N = n, K = k, Acc = accumulate, MTiles = mt, NTiles = nt };
        int tiles = mt * nt;
        if (pool == null || pool.ThreadCount == 1 || tiles == 1) body.Invoke(0, tiles, 0);
        else pool.For(tiles, body);
    }

    /// <summary>Array form of the pointer MatMul with offsets.</summary>
    public static void MatMul(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, int m, int n, int k, bool accumulate, WorkerPool? pool = null)
    {
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
            MatMul(pa + aOff, lda, pb + bOff, ldb, pc + cOff, ldc, m, n, k, accumulate, pool);
    }

    /// <summary>Scalar reference: C (+)= A·B, one f32 FMA per term in ascending k (the kernel matches it bit for bit).</summary>
    public static void MatMulReference(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int n, int k, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = accumulate ? c[i * ldc + j] : 0;
                for (int p = 0; p < k; p++) s = MathF.FusedMultiplyAdd(a[i * lda + p], b[p * ldb + j], s);
                c[i * ldc + j] = s;
            }
    }

    /// <summary>dst[cols, rows] = src[rows, cols]ᵀ, in 32×32 blocks (cache-friendly), parallel over row blocks.</summary>
    public static void Transpose(float[] src, int rows, int cols, float[] dst, WorkerPool? pool = null)
    {
        if (src.Length < (long)rows * cols || dst.Length < (long)rows * cols) throw new ArgumentException("transpose: array too small");
        var body = new TransposeBody { Src = src, Dst = dst, Rows = rows, Cols = cols };
        int blocks = (rows + 31) / 32;
        if (pool == null) body.Invoke(0, blocks, 0); else pool.For(blocks, body);
    }

    /// <summary>FLOPs of one product (2·M·N·K).</summary>
    public static double Flops(int m, int n, int k) => 2.0 * m * n * k;

    sealed class TransposeBody : IParallelBody
    {
        public required float[] Src, Dst;
        public int Rows, Cols;
        public void Invoke(int start, int end, int worker)
        {
            for (int i0 = start * 32; i0 < Math.Min(Rows, end * 32); i0 += 32)
                for (int j0 = 0; j0 < Cols; j0 += 32)
                {
                    int i1 = Math.Min(Rows, i0 + 32), j1 = Math.Min(Cols, j0 + 32);
                    for (int i = i0; i < i1; i++)
                        for (int j = j0; j < j1; j++)
                            Dst[(long)j * Rows + i] = Src[(long)i * Cols + j];
                }
        }
    }

    [ThreadStatic] static float[]? _packA, _packB;

    sealed class Body : IParallelBody
    {
        public float* A, B, C;
        public int Lda, Ldb, Ldc, M, N, K, MTiles, NTiles;
        public bool Acc;

        public void Invoke(int start, int end, int worker)
        {
            int mr = MR, nr = NR;
            var packA = _packA ??= new float[MC * KC];
            var packB = _packB ??= new float[NC * KC];
            Span<float> tmp = stackalloc float[MR * NR];
            fixed (float* pa = packA) fixed (float* pb = packB) fixed (float* pt = tmp)
            {
                for (int tile = start; tile < end; tile++)
                {
                    int i0 = (tile / NTiles) * MC, j0 = (tile % NTiles) * NC;
                    int mc = Math.Min(MC, M - i0), nc = Math.Min(NC, N - j0);
                    if (!Acc) for (int i = 0; i < mc; i++) new Span<float>(C + (long)(i0 + i) * Ldc + j0, nc).Clear();
                    for (int p0 = 0; p0 < K; p0 += KC)
                    {
                        int kc = Math.Min(KC, K - p0);
                        // Pack A block [mc, kc] into strips: pa[strip][p][r] (rows past mc are zero).
                        for (int s = 0; s < mc; s += mr)
                        {
                            float* dst = pa + s * kc;
                            int rows = Math.Min(mr, mc - s);
                            for (int r = 0; r < mr; r++)
                            {
                                if (r < rows)
                                {
                                    float* src = A + (long)(i0 + s + r) * Lda + p0;
                                    for (int p = 0; p < kc; p++) dst[p * mr + r] = src[p];
                                }
                                else for (int p = 0; p < kc; p++) dst[p * mr + r] = 0;
                            }
                        }
                        // Pack B block [kc, nc] into strips: pb[strip][p][j] (columns past nc are zero).
                        for (int s = 0; s < nc; s += nr)
                        {
                            float* dst = pb + s * kc;
                            int cols = Math.Min(nr, nc - s);
                            for (int p = 0; p < kc; p++)
                            {
                                float* src = B + (long)(p0 + p) * Ldb + j0 + s;
                                float* d = dst + p * nr;
                                int j = 0;
                                for (; j < cols; j++) d[j] = src[j];
                                for (; j < nr; j++) d[j] = 0;
                            }
                        }
                        for (int si = 0; si < mc; si += mr)
                            for (int sj = 0; sj < nc; sj += nr)
                            {
                                int rows = Math.Min(mr, mc - si), cols = Math.Min(nr, nc - sj);
                                float* cptr = C + (long)(i0 + si) * Ldc + j0 + sj;
                                if (rows == mr && cols == nr)
                                {
                                    if (Use512) Micro512(pa + si * kc, pb + sj * kc, kc, cptr, Ldc);
                                    else Micro256(pa + si * kc, pb + sj * kc, kc, cptr, Ldc);
                                }
                                else
                                {
                                    // Edge tile: run a full micro-tile on a copy of the valid part of C (rest zero), copy back.
                                    new Span<float>(pt, mr * nr).Clear();
                                    for (int r = 0; r < rows; r++)
                                        for (int j = 0; j < cols; j++) pt[r * nr + j] = cptr[(long)r * Ldc + j];
                                    if (Use512) Micro512(pa + si * kc, pb + sj * kc, kc, pt, nr);
                                    else Micro256(pa + si * kc, pb + sj * kc, kc, pt, nr);
                                    for (int r = 0; r < rows; r++)
                                        for (int j = 0; j < cols; j++) cptr[(long)r * Ldc + j] = pt[r * nr + j];
                                }
                            }
                    }
                }
            }
        }
    }

    // C[8, 32] = C + Apack[kc][8] · Bpack[kc][32]; 16 zmm accumulators.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Micro512(float* a, float* b, int kc, float* c, int ldc)
    {
        // Accumulators start from C, so every element is C + Σ_k in ascending k with one FMA per term: the same
        // rounding as the scalar FMA reference (bit-identical), across K panels too.
        float* r0 = c, r1 = c + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc, r6 = r5 + ldc, r7 = r6 + ldc;
        Vector512<float> c00 = Vector512.Load(r0), c01 = Vector512.Load(r0 + 16), c10 = Vector512.Load(r1), c11 = Vector512.Load(r1 + 16);
        Vector512<float> c20 = Vector512.Load(r2), c21 = Vector512.Load(r2 + 16), c30 = Vector512.Load(r3), c31 = Vector512.Load(r3 + 16);
        Vector512<float> c40 = Vector512.Load(r4), c41 = Vector512.Load(r4 + 16), c50 = Vector512.Load(r5), c51 = Vector512.Load(r5 + 16);
        Vector512<float> c60 = Vector512.Load(r6), c61 = Vector512.Load(r6 + 16), c70 = Vector512.Load(r7), c71 = Vector512.Load(r7 + 16);
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            Vector512<float> av;
            av = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(av, b0, c00); c01 = Vector512.FusedMultiplyAdd(av, b1, c01);
            av = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(av, b0, c10); c11 = Vector512.FusedMultiplyAdd(av, b1, c11);
            av = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(av, b0, c20); c21 = Vector512.FusedMultiplyAdd(av, b1, c21);
            av = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(av, b0, c30); c31 = Vector512.FusedMultiplyAdd(av, b1, c31);
            av = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(av, b0, c40); c41 = Vector512.FusedMultiplyAdd(av, b1, c41);
            av = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(av, b0, c50); c51 = Vector512.FusedMultiplyAdd(av, b1, c51);
            av = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(av, b0, c60); c61 = Vector512.FusedMultiplyAdd(av, b1, c61);
            av = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(av, b0, c70); c71 = Vector512.FusedMultiplyAdd(av, b1, c71);
            a += 8; b += 32;
        }
        c00.Store(r0); c01.Store(r0 + 16); c10.Store(r1); c11.Store(r1 + 16);
        c20.Store(r2); c21.Store(r2 + 16); c30.Store(r3); c31.Store(r3 + 16);
        c40.Store(r4); c41.Store(r4 + 16); c50.Store(r5); c51.Store(r5 + 16);
        c60.Store(r6); c61.Store(r6 + 16); c70.Store(r7); c71.Store(r7 + 16);
    }

    // C[6, 16] = C + Apack[kc][6] · Bpack[kc][16]; 12 ymm accumulators.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Micro256(float* a, float* b, int kc, float* c, int ldc)
    {
        float* r0 = c, r1 = c + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc;
        Vector256<float> c00 = Vector256.Load(r0), c01 = Vector256.Load(r0 + 8), c10 = Vector256.Load(r1), c11 = Vector256.Load(r1 + 8);
        Vector256<float> c20 = Vector256.Load(r2), c21 = Vector256.Load(r2 + 8), c30 = Vector256.Load(r3), c31 = Vector256.Load(r3 + 8);
        Vector256<float> c40 = Vector256.Load(r4), c41 = Vector256.Load(r4 + 8), c50 = Vector256.Load(r5), c51 = Vector256.Load(r5 + 8);
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + 8);
            Vector256<float> av;
            av = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(av, b0, c00); c01 = Vector256.FusedMultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(av, b0, c10); c11 = Vector256.FusedMultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(av, b0, c20); c21 = Vector256.FusedMultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(av, b0, c30); c31 = Vector256.FusedMultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(av, b0, c40); c41 = Vector256.FusedMultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(av, b0, c50); c51 = Vector256.FusedMultiplyAdd(av, b1, c51);
            a += 6; b += 16;
        }
        c00.Store(r0); c01.Store(r0 + 8); c10.Store(r1); c11.Store(r1 + 8); c20.Store(r2); c21.Store(r2 + 8);
        c30.Store(r3); c31.Store(r3 + 8); c40.Store(r4); c41.Store(r4 + 8); c50.Store(r5); c51.Store(r5 + 8);
    }
}
