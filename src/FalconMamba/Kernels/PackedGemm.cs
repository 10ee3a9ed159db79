using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FalconMamba.Kernels;

/// <summary>
/// Cache-tiled f32 matrix product C[M,N] (+)= op(A)[M,K] · op(B)[K,N], op = identity or transpose (row-major operands
/// with leading dimensions), the kernel that training spends its time in. Layout after BLIS / GotoBLAS: K is cut into
/// KC panels; per panel the whole op(B) panel [kc, N] is packed once into NR-column strips (shared by all threads), then
/// C is cut into MC×NB blocks (one block = one unit of parallel work) whose op(A) block is packed into MR-row strips and
/// swept by an MR×NR register micro-kernel (Vector512 or Vector256 FMA), B strip outer, A strip inner. The transposes
/// happen inside the packing, so the three training products need no transpose pass: X·Wᵀ (transB), dY·W (plain) and
/// dYᵀ·X (transA, whose packing is a contiguous 8-float copy per k). Every C element is summed by one thread over k in
/// ascending order, starting from C (or 0), so results are bit-identical to the scalar MatMulReference and do not
/// depend on the thread count or timing (training resume relies on it).
/// </summary>
public static unsafe class PackedGemm
{
    const int KC = 256;
    static readonly bool Use512 = Vector512.IsHardwareAccelerated;
    // Micro-tile: 8×32 with AVX-512 (16 zmm accumulators of 32), 6×16 with AVX2 (12 ymm accumulators of 16).
    static readonly int MR = Use512 ? 8 : 6;
    static readonly int NR = Use512 ? 32 : 16;
    static readonly int MC = MR * 12;
    const int NBMax = 256;

    /// <summary>
    /// C[M,N] = A[M,K]·B[K,N] (or C += when <paramref name="accumulate"/>). Pointers must stay valid for the call.
    /// </summary>
    public static void MatMul(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int n, int k, bool accumulate, WorkerPool? pool = null) =>
        MatMul(a, lda, false, b, ldb, false, c, ldc, m, n, k, accumulate, pool);

    /// <summary>
    /// C[M,N] (+)= op(A)·op(B): with <paramref name="transA"/> A is stored [K, M] (element (i,p) at a[p·lda + i]), with
    /// <paramref name="transB"/> B is stored [N, K] (element (p,j) at b[j·ldb + p]).
    /// </summary>
    public static void MatMul(float* a, int lda, bool transA, float* b, int ldb, bool transB, float* c, int ldc, int m, int n, int k, bool accumulate, WorkerPool? pool = null) =>
        Run(a, lda, transA, b, ldb, transB, null, c, ldc, m, n, k, accumulate, pool);

    /// <summary>
    /// op(B) [K, N] packed once in the kernel's layout, every K panel (panel q at nStrips·NR·q·KC), for a B that many
    /// products share: the lm_head is packed once per training step instead of once per loss chunk (for the 64-row
    /// chunks, packing the 4096×256 head — the transposed form element by element — took as long as a third of the
    /// chunk's product). The products read it exactly as they read B packed per call, so results are bit-identical.
    /// </summary>
    public sealed class PackedB
    {
        internal float[] Data = [];
        /// <summary>Rows of op(B) (the product's K).</summary>
        public int K { get; internal set; }
        /// <summary>Columns of op(B) (the product's N).</summary>
        public int N { get; internal set; }
    }

    /// <summary>Packs op(B) [K, N] (B stored [N, K] when <paramref name="transB"/>) into <paramref name="reuse"/> (or a new <see cref="PackedB"/>).</summary>
    public static PackedB PackB(float[] b, int ldb, bool transB, int k, int n, WorkerPool? pool = null, PackedB? reuse = null)
    {
        if (k <= 0 || n <= 0) throw new ArgumentException("PackB: empty operand");
        if ((long)(transB ? n - 1 : k - 1) * ldb + (transB ? k : n) > b.Length) throw new ArgumentException("PackB: array too small");
        int nStrips = (n + NR - 1) / NR;
        var pk = reuse ?? new PackedB();
        long len = (long)nStrips * NR * k;
        if (len > Array.MaxLength) throw new ArgumentException("PackB: operand too large");
        if (pk.Data.Length != len) pk.Data = new float[len];
        pk.K = k; pk.N = n;
        fixed (float* pb = b) fixed (float* dst = pk.Data)
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                var pack = new PackBBody { B = pb, Ldb = ldb, TransB = transB, N = n, Dst = dst + (long)nStrips * NR * p0, P0 = p0, Kc = Math.Min(KC, k - p0) };
                if (pool == null || pool.ThreadCount == 1) pack.Invoke(0, nStrips, 0); else pool.For(nStrips, pack);
            }
        return pk;
    }

    /// <summary>C[M,N] (+)= op(A)·B with B packed by <see cref="PackB"/> (K and N from it).</summary>
    public static void MatMul(float[] a, int aOff, int lda, bool transA, PackedB b, float[] c, int cOff, int ldc, int m, bool accumulate, WorkerPool? pool = null)
    {
        if (m > 0 && ((long)(transA ? b.K - 1 : m - 1) * lda + (transA ? m : b.K) + aOff > a.Length || (long)(m - 1) * ldc + b.N + cOff > c.Length))
            throw new ArgumentException("gemm: buffers too small for the packed product");
        fixed (float* pa = a) fixed (float* pb = b.Data) fixed (float* pc = c)
            Run(pa + aOff, lda, transA, null, 0, false, pb, pc + cOff, ldc, m, b.N, b.K, accumulate, pool);
    }

    static void Run(float* a, int lda, bool transA, float* b, int ldb, bool transB, float* prepacked, float* c, int ldc, int m, int n, int k, bool accumulate, WorkerPool? pool)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) new Span<float>(c + (long)i * ldc, n).Clear();
            return;
        }
        int threads = pool?.ThreadCount ?? 1;
        int nStrips = (n + NR - 1) / NR, mBlocks = (m + MC - 1) / MC;
        // Block width: NBMax columns, narrower when that leaves too few blocks for the threads (the loss chunk's short M).
        int nb = NBMax;
        while (nb > NR && mBlocks * ((n + nb - 1) / nb) < 2 * threads) nb /= 2;
        var packB = prepacked == null ? System.Buffers.ArrayPool<float>.Shared.Rent(nStrips * NR * KC) : [];
        try
        {
            fixed (float* pb = packB)
            {
                var pack = new PackBBody { B = b, Ldb = ldb, TransB = transB, N = n, Dst = pb };
                var body = new Body { A = a, Lda = lda, TransA = transA, PackedB = pb, C = c, Ldc = ldc, M = m, N = n, NB = nb, NBlocks = (n + nb - 1) / nb };
                for (int p0 = 0; p0 < k; p0 += KC)
                {
                    int kc = Math.Min(KC, k - p0);
                    body.P0 = p0; body.Kc = kc; body.Load = accumulate || p0 > 0;
                    if (prepacked != null) body.PackedB = prepacked + (long)nStrips * NR * p0;
                    else
                    {
                        pack.P0 = p0; pack.Kc = kc;
                        if (threads == 1 || (long)kc * n < 32768) pack.Invoke(0, nStrips, 0); else pool!.For(nStrips, pack);
                    }
                    int units = mBlocks * body.NBlocks;
                    if (threads == 1 || units == 1) body.Invoke(0, units, 0); else pool!.For(units, body);
                }
            }
        }
        finally { if (prepacked == null) System.Buffers.ArrayPool<float>.Shared.Return(packB); }
    }

    /// <summary>Array form of the pointer MatMul with offsets.</summary>
    public static void MatMul(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, int m, int n, int k, bool accumulate, WorkerPool? pool = null) =>
        MatMul(a, aOff, lda, false, b, bOff, ldb, false, c, cOff, ldc, m, n, k, accumulate, pool);

    /// <summary>Array form of the transposed-operand MatMul with offsets.</summary>
    public static void MatMul(float[] a, int aOff, int lda, bool transA, float[] b, int bOff, int ldb, bool transB, float[] c, int cOff, int ldc, int m, int n, int k, bool accumulate, WorkerPool? pool = null)
    {
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
            MatMul(pa + aOff, lda, transA, pb + bOff, ldb, transB, pc + cOff, ldc, m, n, k, accumulate, pool);
    }

    /// <summary>Scalar reference: C (+)= A·B, one f32 FMA per term in ascending k (the kernel matches it bit for bit).</summary>
    public static void MatMulReference(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int n, int k, bool accumulate) =>
        MatMulReference(a, lda, false, b, ldb, false, c, ldc, m, n, k, accumulate);

    /// <summary>Scalar reference of the transposed-operand form (same element addressing as <see cref="MatMul(float*, int, bool, float*, int, bool, float*, int, int, int, int, bool, WorkerPool?)"/>).</summary>
    public static void MatMulReference(ReadOnlySpan<float> a, int lda, bool transA, ReadOnlySpan<float> b, int ldb, bool transB, Span<float> c, int ldc, int m, int n, int k, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = accumulate ? c[i * ldc + j] : 0;
                for (int p = 0; p < k; p++)
                    s = MathF.FusedMultiplyAdd(transA ? a[p * lda + i] : a[i * lda + p], transB ? b[j * ldb + p] : b[p * ldb + j], s);
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

    // Packs strips [start, end) of the op(B) panel rows p0..p0+kc: Dst[strip][p][j] (columns past N are zero).
    sealed class PackBBody : IParallelBody
    {
        public float* B, Dst;
        public int Ldb, N, P0, Kc;
        public bool TransB;
        public void Invoke(int start, int end, int worker)
        {
            int nr = NR, kc = Kc;
            for (int s = start; s < end; s++)
            {
                int j0 = s * nr, cols = Math.Min(nr, N - j0);
                float* dst = Dst + (long)s * nr * kc;
                if (TransB)
                {
                    // B stored [N, K]: read each column's K run contiguously, write it with stride NR
                    for (int j = 0; j < cols; j++)
                    {
                        float* src = B + (long)(j0 + j) * Ldb + P0;
                        for (int p = 0; p < kc; p++) dst[p * nr + j] = src[p];
                    }
                    for (int j = cols; j < nr; j++) for (int p = 0; p < kc; p++) dst[p * nr + j] = 0;
                }
                else if (cols == nr)
                {
                    for (int p = 0; p < kc; p++)
                    {
                        float* src = B + (long)(P0 + p) * Ldb + j0;
                        if (Use512) { Vector512.Store(Vector512.Load(src), dst + p * nr); Vector512.Store(Vector512.Load(src + 16), dst + p * nr + 16); }
                        else { Vector256.Store(Vector256.Load(src), dst + p * nr); Vector256.Store(Vector256.Load(src + 8), dst + p * nr + 8); }
                    }
                }
                else
                    for (int p = 0; p < kc; p++)
                    {
                        float* src = B + (long)(P0 + p) * Ldb + j0;
                        int j = 0;
                        for (; j < cols; j++) dst[p * nr + j] = src[j];
                        for (; j < nr; j++) dst[p * nr + j] = 0;
                    }
            }
        }
    }

    [ThreadStatic] static float[]? _packA;

    // One unit = an MC×NB block of C for the current K panel.
    sealed class Body : IParallelBody
    {
        public float* A, PackedB, C;
        public int Lda, Ldc, M, N, NB, NBlocks, P0, Kc;
        public bool TransA, Load;

        public void Invoke(int start, int end, int worker)
        {
            int mr = MR, nr = NR, kc = Kc;
            var packA = _packA ??= new float[MC * KC];
            Span<float> tmp = stackalloc float[MR * NR];
            fixed (float* pa = packA) fixed (float* pt = tmp)
            {
                for (int unit = start; unit < end; unit++)
                {
                    int i0 = (unit / NBlocks) * MC, j0 = (unit % NBlocks) * NB;
                    int mc = Math.Min(MC, M - i0), nc = Math.Min(NB, N - j0);
                    PackA(pa, i0, mc, kc);
                    for (int sj = 0; sj < nc; sj += nr)
                    {
                        float* bs = PackedB + (long)(j0 + sj) * kc;   // strip (j0+sj)/NR, NR·kc floats each
                        for (int si = 0; si < mc; si += mr)
                        {
                            int rows = Math.Min(mr, mc - si), cols = Math.Min(nr, nc - sj);
                            float* cptr = C + (long)(i0 + si) * Ldc + j0 + sj;
                            if (rows == mr && cols == nr)
                            {
                                if (Use512) Micro512(pa + si * kc, bs, kc, cptr, Ldc, Load);
                                else Micro256(pa + si * kc, bs, kc, cptr, Ldc, Load);
                            }
                            else if (Use512 && rows == mr && cols == 16)
                                Micro512x16(pa + si * kc, bs, kc, cptr, Ldc, Load);   // a half strip (N = 16 or 48): no wasted half, no copy of C
                            else
                            {
                                // Edge tile: run a full micro-tile on a copy of the valid part of C (rest zero), copy back.
                                new Span<float>(pt, mr * nr).Clear();
                                if (Load)
                                    for (int r = 0; r < rows; r++)
                                        for (int j = 0; j < cols; j++) pt[r * nr + j] = cptr[(long)r * Ldc + j];
                                if (Use512) Micro512(pa + si * kc, bs, kc, pt, nr, true);
                                else Micro256(pa + si * kc, bs, kc, pt, nr, true);
                                for (int r = 0; r < rows; r++)
                                    for (int j = 0; j < cols; j++) cptr[(long)r * Ldc + j] = pt[r * nr + j];
                            }
                        }
                    }
                }
            }
        }

        // Pack the op(A) block rows i0..i0+mc, panel P0..P0+kc into MR-row strips: pa[strip][p][r] (rows past mc zero).
        void PackA(float* pa, int i0, int mc, int kc)
        {
            int mr = MR;
            for (int s = 0; s < mc; s += mr)
            {
                float* dst = pa + s * kc;
                int rows = Math.Min(mr, mc - s);
                if (TransA && rows == 8 && mr == 8)
                {
                    // A stored [K, M]: the 8 rows of a strip are 8 adjacent floats of one stored row
                    float* src = A + (long)P0 * Lda + i0 + s;
                    for (int p = 0; p < kc; p++) Vector256.Store(Vector256.Load(src + (long)p * Lda), dst + p * 8);
                }
                else if (TransA)
                {
                    for (int p = 0; p < kc; p++)
                    {
                        float* src = A + (long)(P0 + p) * Lda + i0 + s;
                        int r = 0;
                        for (; r < rows; r++) dst[p * mr + r] = src[r];
                        for (; r < mr; r++) dst[p * mr + r] = 0;
                    }
                }
                else if (rows == 8 && mr == 8 && Avx.IsSupported)
                {
                    // A stored [M, K]: 8×8 blocks transposed in registers (a scalar gather wrote one float per store)
                    float* src = A + (long)(i0 + s) * Lda + P0;
                    int p = 0;
                    for (; p + 8 <= kc; p += 8) Transpose8x8(src + p, Lda, dst + p * 8);
                    for (; p < kc; p++)
                        for (int r = 0; r < 8; r++) dst[p * 8 + r] = src[(long)r * Lda + p];
                }
                else
                    for (int r = 0; r < mr; r++)
                    {
                        if (r < rows)
                        {
                            float* src = A + (long)(i0 + s + r) * Lda + P0;
                            for (int p = 0; p < kc; p++) dst[p * mr + r] = src[p];
                        }
                        else for (int p = 0; p < kc; p++) dst[p * mr + r] = 0;
                    }
            }
        }
    }

    // dst[c·8 + r] = src[r·ld + c] for an 8×8 block (rows r of src become the lanes of dst's 8 vectors).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(float* src, int ld, float* dst)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + ld);
        var r2 = Avx.LoadVector256(src + 2L * ld); var r3 = Avx.LoadVector256(src + 3L * ld);
        var r4 = Avx.LoadVector256(src + 4L * ld); var r5 = Avx.LoadVector256(src + 5L * ld);
        var r6 = Avx.LoadVector256(src + 6L * ld); var r7 = Avx.LoadVector256(src + 7L * ld);
        // pairs of rows interleaved, then 4-row groups, then the 128-bit halves exchanged
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1); var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5); var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE); var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE); var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20)); Avx.Store(dst + 8, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 16, Avx.Permute2x128(u2, u6, 0x20)); Avx.Store(dst + 24, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 32, Avx.Permute2x128(u0, u4, 0x31)); Avx.Store(dst + 40, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 48, Avx.Permute2x128(u2, u6, 0x31)); Avx.Store(dst + 56, Avx.Permute2x128(u3, u7, 0x31));
    }

    // C[8, 32] = (load ? C : 0) + Apack[kc][8] · Bpack[kc][32]; 16 zmm accumulators.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Micro512(float* a, float* b, int kc, float* c, int ldc, bool load)
    {
        // Accumulators start from C (or 0 on the first panel of C = A·B), so every element is C + Σ_k in ascending k with
        // one FMA per term: the same rounding as the scalar FMA reference (bit-identical), across K panels too.
        float* r0 = c, r1 = c + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc, r6 = r5 + ldc, r7 = r6 + ldc;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        if (load)
        {
            c00 = Vector512.Load(r0); c01 = Vector512.Load(r0 + 16); c10 = Vector512.Load(r1); c11 = Vector512.Load(r1 + 16);
            c20 = Vector512.Load(r2); c21 = Vector512.Load(r2 + 16); c30 = Vector512.Load(r3); c31 = Vector512.Load(r3 + 16);
            c40 = Vector512.Load(r4); c41 = Vector512.Load(r4 + 16); c50 = Vector512.Load(r5); c51 = Vector512.Load(r5 + 16);
            c60 = Vector512.Load(r6); c61 = Vector512.Load(r6 + 16); c70 = Vector512.Load(r7); c71 = Vector512.Load(r7 + 16);
        }
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

    // C[8, 16] = (load ? C : 0) + Apack[kc][8] · (the first 16 columns of Bpack[kc][32]); 8 zmm accumulators. The same
    // per-element FMA order as Micro512, for strips with 16 valid columns.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Micro512x16(float* a, float* b, int kc, float* c, int ldc, bool load)
    {
        float* r0 = c, r1 = c + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc, r6 = r5 + ldc, r7 = r6 + ldc;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        if (load)
        {
            c0 = Vector512.Load(r0); c1 = Vector512.Load(r1); c2 = Vector512.Load(r2); c3 = Vector512.Load(r3);
            c4 = Vector512.Load(r4); c5 = Vector512.Load(r5); c6 = Vector512.Load(r6); c7 = Vector512.Load(r7);
        }
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0); c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2); c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4); c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6); c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7);
            a += 8; b += 32;
        }
        c0.Store(r0); c1.Store(r1); c2.Store(r2); c3.Store(r3); c4.Store(r4); c5.Store(r5); c6.Store(r6); c7.Store(r7);
    }

    // C[6, 16] = (load ? C : 0) + Apack[kc][6] · Bpack[kc][16]; 12 ymm accumulators.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Micro256(float* a, float* b, int kc, float* c, int ldc, bool load)
    {
        float* r0 = c, r1 = c + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (load)
        {
            c00 = Vector256.Load(r0); c01 = Vector256.Load(r0 + 8); c10 = Vector256.Load(r1); c11 = Vector256.Load(r1 + 8);
            c20 = Vector256.Load(r2); c21 = Vector256.Load(r2 + 8); c30 = Vector256.Load(r3); c31 = Vector256.Load(r3 + 8);
            c40 = Vector256.Load(r4); c41 = Vector256.Load(r4 + 8); c50 = Vector256.Load(r5); c51 = Vector256.Load(r5 + 8);
        }
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
