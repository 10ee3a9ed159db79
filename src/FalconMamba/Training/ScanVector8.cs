using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// The selective scan of <see cref="MambaBackprop"/> on 8 adjacent channels at once: Vector256 lanes = channels, so the
/// token-major [M, E] activations load contiguously and exp(Δ·A) is one inline Vector256.Exp per state index instead of
/// a TensorPrimitives call per (channel, step). Same recurrences and per-channel operation order as the scalar loop in
/// MambaBackprop (which remains the reference and handles channels left over); the dB/dC contributions of the 8
/// channels are summed across lanes before they are added. aT is A = −exp(A_log) transposed, [N, E]. States are
/// checkpointed at chunk starts in the scalar loop's layout ((s·E + c)·chunks + q)·N.
/// </summary>
public static unsafe class ScanVector8
{
    /// <summary>Forward for channels c0..c0+7 of the sequence starting at row r0; ck(b, c) = ckBase + c·nCk·N.</summary>
    public static void Forward(int c0, int r0, int T, int E, int N, int chunk,
        float[] x, float[] delta, float[] bc, int ldbc, int bOff, int cOff, float[] aT, float[] dSkip, float[] y, float[] ck, int ckBase, int nCk)
    {
        var h = stackalloc Vector256<float>[N];
        for (int n = 0; n < N; n++) h[n] = default;
        fixed (float* px = x, pd = delta, pbc = bc, pa = aT, py = y, pck = ck, pD = dSkip)
        {
            var dv = Vector256.Load(pD + c0);
            for (int t = 0; t < T; t++)
            {
                if (t % chunk == 0)
                    for (int j = 0; j < 8; j++)
                        for (int n = 0; n < N; n++) pck[ckBase + ((c0 + j) * nCk + t / chunk) * N + n] = h[n].GetElement(j);
                int r = r0 + t;
                var dt = Vector256.Load(pd + r * E + c0);
                var xv = Vector256.Load(px + r * E + c0);
                var bx = dt * xv;
                var acc = Vector256<float>.Zero;
                float* B = pbc + r * ldbc + bOff, C = pbc + r * ldbc + cOff;
                for (int n = 0; n < N; n++)
                {
                    var e = Vector256.Exp(dt * Vector256.Load(pa + n * E + c0));
                    h[n] = e * h[n] + bx * Vector256.Create(B[n]);
                    acc += h[n] * Vector256.Create(C[n]);
                }
                (acc + dv * xv).Store(py + r * E + c0);
            }
        }
    }

    /// <summary>
    /// Backward for channels c0..c0+7 of one sequence: writes dx, dDelta (overwrite), adds to dBC (group partial, row
    /// stride dld, B at dbOff, C at dcOff),
    /// dA (N vectors, gradient wrt A) and dD (one vector). hs: [(chunk+1)·N], ea: [chunk·N] scratch vectors.
    /// </summary>
    public static void Backward(int c0, int r0, int T, int E, int N, int chunk,
        float[] x, float[] delta, float[] bc, int ldbc, int bOff, int cOff, float[] aT, float[] dSkip, float[] ck, int ckBase, int nCk,
        float[] dy, float[] dx, float[] dDelta, float[] dBC, int dld, int dbOff, int dcOff, Vector256<float>[] dA, ref Vector256<float> dD,
        Vector256<float>[] hs, Vector256<float>[] ea)
    {
        var g = stackalloc Vector256<float>[N];
        for (int n = 0; n < N; n++) g[n] = default;
        int nChunks = (T + chunk - 1) / chunk;
        fixed (float* px = x, pd = delta, pbc = bc, pa = aT, pck = ck, pdy = dy, pdx = dx, pdd = dDelta, pdbc = dBC, pD = dSkip)
        {
            var dv = Vector256.Load(pD + c0);
            var lane = stackalloc float[8];
            for (int q = nChunks - 1; q >= 0; q--)
            {
                int t0 = q * chunk, len = Math.Min(T, t0 + chunk) - t0;
                for (int n = 0; n < N; n++)
                {
                    for (int j = 0; j < 8; j++) lane[j] = pck[ckBase + ((c0 + j) * nCk + q) * N + n];
                    hs[n] = Vector256.Load(lane);
                }
                for (int i = 0; i < len; i++)
                {
                    int r = r0 + t0 + i;
                    var dt = Vector256.Load(pd + r * E + c0);
                    var bx = dt * Vector256.Load(px + r * E + c0);
                    float* B = pbc + r * ldbc + bOff;
                    for (int n = 0; n < N; n++)
                    {
                        var e = Vector256.Exp(dt * Vector256.Load(pa + n * E + c0));
                        ea[i * N + n] = e;
                        hs[(i + 1) * N + n] = e * hs[i * N + n] + bx * Vector256.Create(B[n]);
                    }
                }
                for (int i = len - 1; i >= 0; i--)
                {
                    int r = r0 + t0 + i;
                    var dt = Vector256.Load(pd + r * E + c0);
                    var xv = Vector256.Load(px + r * E + c0);
                    var dyv = Vector256.Load(pdy + r * E + c0);
                    float* B = pbc + r * ldbc + bOff, C = pbc + r * ldbc + cOff;
                    float* dB = pdbc + (long)r * dld + dbOff, dC = pdbc + (long)r * dld + dcOff;
                    var dDt = Vector256<float>.Zero;
                    var dxv = Vector256<float>.Zero;
                    var dtx = dt * xv;
                    for (int n = 0; n < N; n++)
                    {
                        var gn = g[n] + dyv * Vector256.Create(C[n]);
                        dC[n] += Vector256.Sum(dyv * hs[(i + 1) * N + n]);
                        var bn = Vector256.Create(B[n]);
                        var e = ea[i * N + n];
                        var ge = gn * e * hs[i * N + n];
                        dDt += ge * Vector256.Load(pa + n * E + c0) + gn * bn * xv;
                        dA[n] += ge * dt;
                        dB[n] += Vector256.Sum(gn * dtx);
                        dxv += gn * dt * bn;
                        g[n] = gn * e;
                    }
                    dDt.Store(pdd + r * E + c0);
                    (dxv + dv * dyv).Store(pdx + r * E + c0);
                    dD += dyv * xv;
                }
            }
        }
    }
}
