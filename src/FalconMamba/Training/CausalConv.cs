using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// The causal depthwise conv of the Mamba block followed by SiLU, forward and backward, on the token-major [M, ·]
/// activations of <see cref="MambaBackprop"/>: row by row, 8 adjacent channels per Vector256, so every load is
/// contiguous (a per-channel loop walks the rows with stride 2E = 4 KiB, one page and one cache set per element, which
/// misses every cache level and the TLB). Each lane runs the scalar
/// reference's operation order (taps in order, products rounded then added, rows ascending), so the conv output and the
/// conv weight/bias/input gradients are bit-identical to <see cref="ForwardScalar"/> / <see cref="BackwardScalar"/>;
/// only SiLU uses the vector exp (within a few ulp of MathF.Exp). Sequences of T rows are independent (row % T = t).
/// Shapes: xz [M, 2E] (x = the first E columns), w [E, k], bias [E] or null, xc/xs [M, E].
/// </summary>
public static class CausalConv
{
    /// <summary>xc = conv(x) + bias, xs = SiLU(xc) for rows [r0, r1); row by row, channels in groups of 8, the rest scalar.</summary>
    public static unsafe void Forward(float[] xz, float[] w, float[]? bias, float[] xc, float[] xs, int r0, int r1, int T, int E, int k)
    {
        int v8 = Vector256.IsHardwareAccelerated ? E / 8 * 8 : 0;
        var wT = Transposed(w, E, k);   // [k, E]: tap j of 8 adjacent channels is one load
        fixed (float* pxz = xz, pw = wT, pb = bias, pxc = xc, pxs = xs)
            for (int row = r0; row < r1; row++)
            {
                int t = row % T, j0 = Math.Max(0, k - 1 - t);
                float* x0 = pxz + (long)(row - (k - 1)) * 2 * E;   // tap j reads row − (k−1) + j (never before the sequence start: j ≥ j0)
                for (int c = 0; c < v8; c += 8)
                {
                    var s = pb != null ? Vector256.Load(pb + c) : Vector256<float>.Zero;
                    for (int j = j0; j < k; j++) s += Vector256.Load(pw + j * E + c) * Vector256.Load(x0 + (long)j * 2 * E + c);
                    s.Store(pxc + (long)row * E + c);
                    (s / (Vector256<float>.One + VectorExp.Exp(-s))).Store(pxs + (long)row * E + c);
                }
            }
        if (v8 < E) ForwardScalar(xz, w, bias, xc, xs, r0, r1, T, E, k, v8, E);
    }

    /// <summary>Scalar reference of <see cref="Forward"/> for channels [c0, c1).</summary>
    public static void ForwardScalar(float[] xz, float[] w, float[]? bias, float[] xc, float[] xs, int r0, int r1, int T, int E, int k, int c0, int c1)
    {
        for (int row = r0; row < r1; row++)
        {
            int t = row % T;
            for (int c = c0; c < c1; c++)
            {
                float s = bias?[c] ?? 0;
                for (int j = Math.Max(0, k - 1 - t); j < k; j++) s += w[c * k + j] * xz[(row - (k - 1) + j) * 2 * E + c];
                xc[row * E + c] = s;
                xs[row * E + c] = s / (1 + MathF.Exp(-s));
            }
        }
    }

    /// <summary>
    /// Backward for channels [c0, c1) over all M = B·T rows: dxc = (dxs + dxs2)·SiLU'(xc) (the two paths into xs: scan
    /// and x_proj), then gw += Σ dxc·x, gbias += Σ dxc, dxz[x part] += dxc·w, rows ascending per channel (fixed order).
    /// Any channel range: whole groups of 8 run vectorised, the rest scalar.
    /// </summary>
    public static unsafe void Backward(float[] xz, float[] xc, float[] dxs, float[] dxs2, float[] w, float[] gw, float[]? gbias, float[] dxz,
        int c0, int c1, int M, int T, int E, int k)
    {
        int cv = c0;
        if (Vector256.IsHardwareAccelerated && c1 - c0 >= 8)
        {
            // Row by row over the channel range (contiguous, no stride-2E column walks); per-channel sums stay in
            // [k, width] accumulators that are read and written once, so each channel still sums rows in ascending order.
            int cw = (c1 - c0) / 8 * 8;
            var wT = new float[k * cw];
            var gT = new float[k * cw];
            var gbs = new float[cw];
            for (int j = 0; j < k; j++)
                for (int c = 0; c < cw; c++) { wT[j * cw + c] = w[(c0 + c) * k + j]; gT[j * cw + c] = gw[(c0 + c) * k + j]; }
            var one = Vector256<float>.One;
            fixed (float* pxz = xz, pxc = xc, pd1 = dxs, pd2 = dxs2, pdxz = dxz, pw = wT, pg = gT, pgb = gbs)
                for (int row = 0; row < M; row++)
                {
                    int t = row % T, j0 = Math.Max(0, k - 1 - t);
                    long src0 = (long)(row - (k - 1)) * 2 * E;   // tap j: row − (k−1) + j (j ≥ j0 stays inside the sequence)
                    for (int c = 0; c < cw; c += 8)
                    {
                        int ce = c0 + c;
                        var v = Vector256.Load(pxc + (long)row * E + ce);
                        var sg = one / (one + VectorExp.Exp(-v));
                        var g = (Vector256.Load(pd1 + (long)row * E + ce) + Vector256.Load(pd2 + (long)row * E + ce)) * sg * (one + v * (one - sg));
                        (Vector256.Load(pgb + c) + g).Store(pgb + c);
                        for (int j = j0; j < k; j++)
                        {
                            float* src = pxz + src0 + (long)j * 2 * E + ce, dst = pdxz + src0 + (long)j * 2 * E + ce;
                            (Vector256.Load(pg + j * cw + c) + g * Vector256.Load(src)).Store(pg + j * cw + c);
                            (Vector256.Load(dst) + g * Vector256.Load(pw + j * cw + c)).Store(dst);
                        }
                    }
                }
            for (int j = 0; j < k; j++) for (int c = 0; c < cw; c++) gw[(c0 + c) * k + j] = gT[j * cw + c];
            if (gbias != null) for (int c = 0; c < cw; c++) gbias[c0 + c] += gbs[c];
            cv = c0 + cw;
        }
        if (cv < c1) BackwardScalar(xz, xc, dxs, dxs2, w, gw, gbias, dxz, cv, c1, M, T, E, k);
    }

    /// <summary>Scalar reference of <see cref="Backward"/>.</summary>
    public static void BackwardScalar(float[] xz, float[] xc, float[] dxs, float[] dxs2, float[] w, float[] gw, float[]? gbias, float[] dxz,
        int c0, int c1, int M, int T, int E, int k)
    {
        for (int c = c0; c < c1; c++)
        {
            float gb = 0;
            for (int row = 0; row < M; row++)
            {
                int t = row % T;
                float v = xc[row * E + c], sg = 1 / (1 + MathF.Exp(-v));
                float g = (dxs[row * E + c] + dxs2[row * E + c]) * sg * (1 + v * (1 - sg));
                gb += g;
                for (int j = Math.Max(0, k - 1 - t); j < k; j++)
                {
                    int src = (row - (k - 1) + j) * 2 * E + c;
                    gw[c * k + j] += g * xz[src];
                    dxz[src] += g * w[c * k + j];
                }
            }
            if (gbias != null) gbias[c] += gb;
        }
    }

    // w [E, k] → [k, E]
    static float[] Transposed(float[] w, int E, int k)
    {
        var t = new float[k * E];
        for (int c = 0; c < E; c++) for (int j = 0; j < k; j++) t[j * E + c] = w[c * k + j];
        return t;
    }
}
