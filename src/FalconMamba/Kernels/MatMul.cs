using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FalconMamba.Kernels;

/// <summary>
/// Matrix–matrix product of an f32 weight block with a chunk of token activations, both contiguous along the
/// reduction axis K (nn.Linear layout): Y[t, r] = Σ_k W[r, k]·X[t, k].
/// W: [rows, K] row-major f32 (a block already widened from bf16/f16, or f32 weights in place);
/// X: [T, K] row-major; Y[t·ldy + r] for r in [0, rows).
///
/// Why this shape of kernel: prefill is compute-bound once each weight byte is read once per chunk, and the
/// per-token dot (one row × one token, two loads per FMA) leaves the FMA units waiting on loads. The micro-kernel
/// keeps a 3-row × 4-token tile of accumulators in 12 vector registers (+3 weight vectors +1 activation = 16,
/// the AVX2 register file), so each step does 7 loads for 12 FMAs and reuses every loaded vector 3–4 times; with
/// AVX-512's 32 registers a 4 × 6 tile runs first (10 loads per 24 FMAs). Leftover rows and tokens use the
/// one-row and four-row decode kernels.
///
/// Determinism: every output is one Vector256 accumulator over K in steps of 8, reduced with Vector256.Sum, then a
/// scalar tail — the canonical arithmetic shared with the decode kernels (<see cref="Dot"/>) — so the result does
/// not depend on how rows or tokens are grouped (multi-threaded = single-threaded, bit for bit) and a chunked
/// prefill computes exactly the projections a token-by-token decode computes.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>Rows per micro-tile of the 16-register tile.</summary>
    public const int TileRows = 3;
    /// <summary>Tokens per micro-tile of the 16-register tile.</summary>
    public const int TileTokens = 4;

    /// <summary>
    /// With AVX-512 the JIT may use 32 vector registers (EVEX encoding), so a 4-row × 6-token tile fits:
    /// 24 accumulators + 4 weights + 1 activation, 10 loads per 24 FMAs instead of 7 per 12.
    /// FM_TILE=3x4 in the environment forces the 16-register tile (for comparison).
    /// </summary>
    static readonly bool UseWideTile = System.Runtime.Intrinsics.X86.Avx512F.VL.IsSupported && Environment.GetEnvironmentVariable("FM_TILE") != "3x4";

    /// <summary>Scalar reference: straight triple loop.</summary>
    public static void Scalar(ReadOnlySpan<float> w, int rows, int K, ReadOnlySpan<float> x, int T, Span<float> y, int ldy)
    {
        for (int t = 0; t < T; t++)
            for (int r = 0; r < rows; r++)
            {
                float s = 0;
                for (int k = 0; k < K; k++) s += w[r * K + k] * x[t * K + k];
                y[t * ldy + r] = s;
            }
    }

    /// <summary>Tiled product (see the type summary). Spans are checked once here; the loops run on pointers.</summary>
    public static void Block(ReadOnlySpan<float> w, int rows, int K, ReadOnlySpan<float> x, int T, Span<float> y, int ldy)
    {
        if (w.Length < rows * K) throw new ArgumentException($"weight block has {w.Length} floats, needs {rows}×{K}", nameof(w));
        if (x.Length < T * K) throw new ArgumentException($"activations have {x.Length} floats, need {T}×{K}", nameof(x));
        if (T > 0 && y.Length < (T - 1) * ldy + rows) throw new ArgumentException($"output too short for {T} rows of stride {ldy}", nameof(y));
        fixed (float* pw = w)
        fixed (float* px = x)
        fixed (float* py = y)
            Block(pw, rows, K, px, T, py, ldy);
    }

    /// <summary>Pointer form of <see cref="Block(ReadOnlySpan{float}, int, int, ReadOnlySpan{float}, int, Span{float}, int)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block(float* w, int rows, int K, float* x, int T, float* y, int ldy)
    {
        int t0 = 0;
        if (Vector256.IsHardwareAccelerated && UseWideTile)
            for (; t0 + 6 <= T; t0 += 6)
            {
                float* xt = x + (long)t0 * K;
                float* yt = y + (long)t0 * ldy;
                int r0 = 0;
                for (; r0 + 4 <= rows; r0 += 4) Tile4x6(w + (long)r0 * K, xt, K, yt + r0, ldy);
                for (; r0 < rows; r0++)
                    for (int j = 0; j < 6; j++) yt[(long)j * ldy + r0] = Dot.RowF32(w + (long)r0 * K, xt + (long)j * K, K);
            }
        if (Vector256.IsHardwareAccelerated)
            for (; t0 + TileTokens <= T; t0 += TileTokens)
            {
                float* xt = x + (long)t0 * K;
                float* yt = y + (long)t0 * ldy;
                int r0 = 0;
                for (; r0 + TileRows <= rows; r0 += TileRows) Tile3x4(w + (long)r0 * K, xt, K, yt + r0, ldy);
                for (; r0 < rows; r0++)
                    for (int j = 0; j < TileTokens; j++) yt[(long)j * ldy + r0] = Dot.RowF32(w + (long)r0 * K, xt + (long)j * K, K);
            }
        // leftover tokens: the 4-row decode kernel, one token at a time
        for (; t0 < T; t0++) Dot.RowsF32(w, K, x + (long)t0 * K, y + (long)t0 * ldy, rows);
    }

    /// <summary>4 weight rows × 6 tokens: 24 accumulators (needs the 32 registers of AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile4x6(float* w, float* x, int K, float* y, int ldy)
    {
        float* w0 = w, w1 = w + K, w2 = w + 2 * (long)K, w3 = w + 3 * (long)K;
        float* x0 = x, x1 = x + K, x2 = x + 2 * (long)K, x3 = x + 3 * (long)K, x4 = x + 4 * (long)K, x5 = x + 5 * (long)K;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default, a04 = default, a05 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default, a24 = default, a25 = default;
        Vector256<float> a30 = default, a31 = default, a32 = default, a33 = default, a34 = default, a35 = default;
        int k = 0;
        for (; k + 8 <= K; k += 8)
        {
            var v0 = Vector256.Load(w0 + k);
            var v1 = Vector256.Load(w1 + k);
            var v2 = Vector256.Load(w2 + k);
            var v3 = Vector256.Load(w3 + k);
            var u = Vector256.Load(x0 + k);
            a00 = Vector256.FusedMultiplyAdd(v0, u, a00); a10 = Vector256.FusedMultiplyAdd(v1, u, a10); a20 = Vector256.FusedMultiplyAdd(v2, u, a20); a30 = Vector256.FusedMultiplyAdd(v3, u, a30);
            u = Vector256.Load(x1 + k);
            a01 = Vector256.FusedMultiplyAdd(v0, u, a01); a11 = Vector256.FusedMultiplyAdd(v1, u, a11); a21 = Vector256.FusedMultiplyAdd(v2, u, a21); a31 = Vector256.FusedMultiplyAdd(v3, u, a31);
            u = Vector256.Load(x2 + k);
            a02 = Vector256.FusedMultiplyAdd(v0, u, a02); a12 = Vector256.FusedMultiplyAdd(v1, u, a12); a22 = Vector256.FusedMultiplyAdd(v2, u, a22); a32 = Vector256.FusedMultiplyAdd(v3, u, a32);
            u = Vector256.Load(x3 + k);
            a03 = Vector256.FusedMultiplyAdd(v0, u, a03); a13 = Vector256.FusedMultiplyAdd(v1, u, a13); a23 = Vector256.FusedMultiplyAdd(v2, u, a23); a33 = Vector256.FusedMultiplyAdd(v3, u, a33);
            u = Vector256.Load(x4 + k);
            a04 = Vector256.FusedMultiplyAdd(v0, u, a04); a14 = Vector256.FusedMultiplyAdd(v1, u, a14); a24 = Vector256.FusedMultiplyAdd(v2, u, a24); a34 = Vector256.FusedMultiplyAdd(v3, u, a34);
            u = Vector256.Load(x5 + k);
            a05 = Vector256.FusedMultiplyAdd(v0, u, a05); a15 = Vector256.FusedMultiplyAdd(v1, u, a15); a25 = Vector256.FusedMultiplyAdd(v2, u, a25); a35 = Vector256.FusedMultiplyAdd(v3, u, a35);
        }
        Finish(Vector256.Sum(a00), w0, x0, k, K, y);
        Finish(Vector256.Sum(a10), w1, x0, k, K, y + 1);
        Finish(Vector256.Sum(a20), w2, x0, k, K, y + 2);
        Finish(Vector256.Sum(a30), w3, x0, k, K, y + 3);
        y += ldy;
        Finish(Vector256.Sum(a01), w0, x1, k, K, y); Finish(Vector256.Sum(a11), w1, x1, k, K, y + 1); Finish(Vector256.Sum(a21), w2, x1, k, K, y + 2); Finish(Vector256.Sum(a31), w3, x1, k, K, y + 3);
        y += ldy;
        Finish(Vector256.Sum(a02), w0, x2, k, K, y); Finish(Vector256.Sum(a12), w1, x2, k, K, y + 1); Finish(Vector256.Sum(a22), w2, x2, k, K, y + 2); Finish(Vector256.Sum(a32), w3, x2, k, K, y + 3);
        y += ldy;
        Finish(Vector256.Sum(a03), w0, x3, k, K, y); Finish(Vector256.Sum(a13), w1, x3, k, K, y + 1); Finish(Vector256.Sum(a23), w2, x3, k, K, y + 2); Finish(Vector256.Sum(a33), w3, x3, k, K, y + 3);
        y += ldy;
        Finish(Vector256.Sum(a04), w0, x4, k, K, y); Finish(Vector256.Sum(a14), w1, x4, k, K, y + 1); Finish(Vector256.Sum(a24), w2, x4, k, K, y + 2); Finish(Vector256.Sum(a34), w3, x4, k, K, y + 3);
        y += ldy;
        Finish(Vector256.Sum(a05), w0, x5, k, K, y); Finish(Vector256.Sum(a15), w1, x5, k, K, y + 1); Finish(Vector256.Sum(a25), w2, x5, k, K, y + 2); Finish(Vector256.Sum(a35), w3, x5, k, K, y + 3);
    }

    /// <summary>The scalar tail of one output (canonical order: after the vector sum) and its store.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Finish(float s, float* w, float* x, int k, int K, float* y)
    {
        for (; k < K; k++) s += w[k] * x[k];
        *y = s;
    }

    /// <summary>3 weight rows × 4 tokens: 12 accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile3x4(float* w, float* x, int K, float* y, int ldy)
    {
        float* w0 = w, w1 = w + K, w2 = w + 2 * (long)K;
        float* x0 = x, x1 = x + K, x2 = x + 2 * (long)K, x3 = x + 3 * (long)K;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        int k = 0;
        for (; k + 8 <= K; k += 8)
        {
            var v0 = Vector256.Load(w0 + k);
            var v1 = Vector256.Load(w1 + k);
            var v2 = Vector256.Load(w2 + k);
            var u = Vector256.Load(x0 + k);
            a00 = Vector256.FusedMultiplyAdd(v0, u, a00); a10 = Vector256.FusedMultiplyAdd(v1, u, a10); a20 = Vector256.FusedMultiplyAdd(v2, u, a20);
            u = Vector256.Load(x1 + k);
            a01 = Vector256.FusedMultiplyAdd(v0, u, a01); a11 = Vector256.FusedMultiplyAdd(v1, u, a11); a21 = Vector256.FusedMultiplyAdd(v2, u, a21);
            u = Vector256.Load(x2 + k);
            a02 = Vector256.FusedMultiplyAdd(v0, u, a02); a12 = Vector256.FusedMultiplyAdd(v1, u, a12); a22 = Vector256.FusedMultiplyAdd(v2, u, a22);
            u = Vector256.Load(x3 + k);
            a03 = Vector256.FusedMultiplyAdd(v0, u, a03); a13 = Vector256.FusedMultiplyAdd(v1, u, a13); a23 = Vector256.FusedMultiplyAdd(v2, u, a23);
        }
        float s00 = Vector256.Sum(a00), s01 = Vector256.Sum(a01), s02 = Vector256.Sum(a02), s03 = Vector256.Sum(a03);
        float s10 = Vector256.Sum(a10), s11 = Vector256.Sum(a11), s12 = Vector256.Sum(a12), s13 = Vector256.Sum(a13);
        float s20 = Vector256.Sum(a20), s21 = Vector256.Sum(a21), s22 = Vector256.Sum(a22), s23 = Vector256.Sum(a23);
        for (; k < K; k++)
        {
            float p0 = w0[k], p1 = w1[k], p2 = w2[k];
            s00 += p0 * x0[k]; s01 += p0 * x1[k]; s02 += p0 * x2[k]; s03 += p0 * x3[k];
            s10 += p1 * x0[k]; s11 += p1 * x1[k]; s12 += p1 * x2[k]; s13 += p1 * x3[k];
            s20 += p2 * x0[k]; s21 += p2 * x1[k]; s22 += p2 * x2[k]; s23 += p2 * x3[k];
        }
        y[0] = s00; y[1] = s10; y[2] = s20;
        y += ldy; y[0] = s01; y[1] = s11; y[2] = s21;
        y += ldy; y[0] = s02; y[1] = s12; y[2] = s22;
        y += ldy; y[0] = s03; y[1] = s13; y[2] = s23;
    }
}
