using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// The causal depthwise conv of the Mamba block followed by SiLU, forward and backward, on the token-major [M, ·]
/// activations of <see cref="MambaBackprop"/>: 8 adjacent channels per Vector256, so every load is contiguous (a
/// per-channel loop walks the rows with stride 2E and touches a new cache line per element). Each lane runs the scalar
/// reference's operation order (taps in order, products rounded then added, rows ascending), so the conv output and the
/// conv weight/bias/input gradients are bit-identical to <see cref="ForwardScalar"/> / <see cref="BackwardScalar"/>;
/// only SiLU uses the vector exp (within a few ulp of MathF.Exp). Sequences of T rows are independent (row % T = t).
/// Shapes: xz [M, 2E] (x = the first E columns), w [E, k], bias [E] or null, xc/xs [M, E].
/// </summary>
public static class CausalConv
{
    /// <summary>xc = conv(x) + bias, xs = SiLU(xc) for rows [r0, r1); channels in groups of 8, the rest scalar.</summary>
    public static void Forward(float[] xz, float[] w, float[]? bias, float[] xc, float[] xs, int r0, int r1, int T, int E, int k)
    {
        int v8 = Vector256.IsHardwareAccelerated ? E / 8 * 8 : 0;
        Span<Vector256<float>> wv = stackalloc Vector256<float>[k];
        for (int c = 0; c < v8; c += 8)
        {
            for (int j = 0; j < k; j++) wv[j] = Gather(w, c, k, j);
            var bv = bias != null ? Vector256.Create(bias.AsSpan(c, 8)) : Vector256<float>.Zero;
            for (int row = r0; row < r1; row++)
            {
                int t = row % T;
                var s = bv;
                for (int j = Math.Max(0, k - 1 - t); j < k; j++)
                    s += wv[j] * Vector256.Create(xz.AsSpan((row - (k - 1) + j) * 2 * E + c, 8));
                s.CopyTo(xc.AsSpan(row * E + c, 8));
                (s / (Vector256<float>.One + VectorExp.Exp(-s))).CopyTo(xs.AsSpan(row * E + c, 8));
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
    /// c0 must be a multiple of 8 for the vector part.
    /// </summary>
    public static void Backward(float[] xz, float[] xc, float[] dxs, float[] dxs2, float[] w, float[] gw, float[]? gbias, float[] dxz,
        int c0, int c1, int M, int T, int E, int k)
    {
        int cv = c0;
        if (Vector256.IsHardwareAccelerated)
        {
            Span<Vector256<float>> wv = stackalloc Vector256<float>[k];
            Span<Vector256<float>> gv = stackalloc Vector256<float>[k];
            for (; cv + 8 <= c1; cv += 8)
            {
                for (int j = 0; j < k; j++) { wv[j] = Gather(w, cv, k, j); gv[j] = Gather(gw, cv, k, j); }
                var gb = Vector256<float>.Zero;
                for (int row = 0; row < M; row++)
                {
                    int t = row % T;
                    var v = Vector256.Create(xc.AsSpan(row * E + cv, 8));
                    var sg = Vector256<float>.One / (Vector256<float>.One + VectorExp.Exp(-v));
                    var g = (Vector256.Create(dxs.AsSpan(row * E + cv, 8)) + Vector256.Create(dxs2.AsSpan(row * E + cv, 8))) * sg * (Vector256<float>.One + v * (Vector256<float>.One - sg));
                    gb += g;
                    for (int j = Math.Max(0, k - 1 - t); j < k; j++)
                    {
                        var slot = dxz.AsSpan((row - (k - 1) + j) * 2 * E + cv, 8);
                        gv[j] += g * Vector256.Create(xz.AsSpan((row - (k - 1) + j) * 2 * E + cv, 8));
                        (Vector256.Create((ReadOnlySpan<float>)slot) + g * wv[j]).CopyTo(slot);
                    }
                }
                for (int j = 0; j < k; j++) for (int l = 0; l < 8; l++) gw[(cv + l) * k + j] = gv[j][l];
                if (gbias != null) for (int l = 0; l < 8; l++) gbias[cv + l] += gb[l];
            }
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

    // (w[c·k + j], …, w[(c+7)·k + j]): tap j of 8 channels
    static Vector256<float> Gather(float[] w, int c, int k, int j) =>
        Vector256.Create(w[c * k + j], w[(c + 1) * k + j], w[(c + 2) * k + j], w[(c + 3) * k + j],
            w[(c + 4) * k + j], w[(c + 5) * k + j], w[(c + 6) * k + j], w[(c + 7) * k + j]);
}
