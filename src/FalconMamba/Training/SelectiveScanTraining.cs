using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// The selective scan (SPEC.md §2.2 steps 9–12, without the gate) for training, per channel c of one sequence:
/// <code>
///   h_t[n] = exp(Δ_t·A[c,n]) · h_{t-1}[n] + Δ_t · B_t[n] · x_t      (h_{-1} = 0)
///   y_t    = Σ_n h_t[n] · C_t[n] + D[c] · x_t
/// </code>
/// Forward stores only h at every <c>chunk</c>-th step (the state before step t, t % chunk == 0); backward walks the
/// chunks in reverse, recomputes the chunk's states from its checkpoint and runs the reverse-time recurrence
/// <code>
///   g_t = dy_t·C_t + g_{t+1} ⊙ exp(Δ_{t+1}·A)          (dL/dh_t)
///   dΔ_t = Σ_n g_t[n]·(A[n]·exp(Δ_t A[n])·h_{t-1}[n] + B_t[n]·x_t)
///   dA[n] += g_t[n]·Δ_t·exp(Δ_t A[n])·h_{t-1}[n];  dB_t[n] += g_t[n]·Δ_t·x_t;  dC_t[n] += dy_t·h_t[n]
///   dx_t = Σ_n g_t[n]·Δ_t·B_t[n] + D[c]·dy_t;  dD[c] += dy_t·x_t
/// </code>
/// Memory per sequence and channel is N·(T/chunk + chunk) floats instead of N·T. Scalar per channel: the reference and
/// the implementation (parallelism is across channels).
/// </summary>
public static class SelectiveScanTraining
{
    /// <summary>
    /// Forward for channel c of the sequence whose rows start at r0. x, delta, y: [*, E] row-major; bc: [*, ldbc] with B at
    /// column bOff and C at cOff; a: [E, N] (A = −exp(A_log)); ck: checkpoints for this (sequence, channel): [nChunks, N].
    /// </summary>
    public static void Forward(int c, int r0, int T, int E, int N, int chunk,
        float[] x, float[] delta, float[] bc, int ldbc, int bOff, int cOff, float[] a, float dSkip, float[] y, Span<float> ck)
    {
        Span<float> h = stackalloc float[N];
        h.Clear();
        var aRow = a.AsSpan(c * N, N);
        for (int t = 0; t < T; t++)
        {
            if (t % chunk == 0) h.CopyTo(ck.Slice(t / chunk * N, N));
            int r = r0 + t;
            float dt = delta[r * E + c], xv = x[r * E + c], bx = dt * xv;
            var B = bc.AsSpan(r * ldbc + bOff, N);
            var C = bc.AsSpan(r * ldbc + cOff, N);
            float acc = 0;
            for (int n = 0; n < N; n++)
            {
                h[n] = MathF.Exp(dt * aRow[n]) * h[n] + bx * B[n];
                acc += h[n] * C[n];
            }
            y[r * E + c] = acc + dSkip * xv;
        }
    }

    /// <summary>
    /// Backward for channel c of one sequence. dy: [*, E] gradient of y (before the gate). Writes dx[r, c] (overwrite),
    /// dDelta[r, c] (overwrite), accumulates dBC[r, bOff/cOff + n] (a per-channel-block partial, [*, ldbc]),
    /// dA[n] (gradient wrt A, not A_log) and returns dD contribution. hs: scratch [(chunk+1)·N], ea: scratch [chunk·N].
    /// </summary>
    public static float Backward(int c, int r0, int T, int E, int N, int chunk,
        float[] x, float[] delta, float[] bc, int ldbc, int bOff, int cOff, float[] a, float dSkip, ReadOnlySpan<float> ck,
        float[] dy, float[] dx, float[] dDelta, float[] dBC, Span<float> dA, Span<float> hs, Span<float> ea)
    {
        Span<float> g = stackalloc float[N];
        g.Clear();
        var aRow = a.AsSpan(c * N, N);
        float dD = 0;
        int nChunks = (T + chunk - 1) / chunk;
        for (int q = nChunks - 1; q >= 0; q--)
        {
            int t0 = q * chunk, t1 = Math.Min(T, t0 + chunk), len = t1 - t0;
            // Recompute the chunk: hs[0] = state before t0, hs[i+1] = h_{t0+i}; ea[i] = exp(Δ·A).
            ck.Slice(q * N, N).CopyTo(hs[..N]);
            for (int i = 0; i < len; i++)
            {
                int r = r0 + t0 + i;
                float dt = delta[r * E + c], bx = dt * x[r * E + c];
                int bi = r * ldbc + bOff;
                var hp = hs.Slice(i * N, N); var hn = hs.Slice((i + 1) * N, N); var e = ea.Slice(i * N, N);
                for (int n = 0; n < N; n++)
                {
                    e[n] = MathF.Exp(dt * aRow[n]);
                    hn[n] = e[n] * hp[n] + bx * bc[bi + n];
                }
            }
            for (int i = len - 1; i >= 0; i--)
            {
                int r = r0 + t0 + i;
                float dt = delta[r * E + c], xv = x[r * E + c], dyv = dy[r * E + c];
                int bi = r * ldbc + bOff, ci = r * ldbc + cOff;
                var hp = hs.Slice(i * N, N); var hn = hs.Slice((i + 1) * N, N); var e = ea.Slice(i * N, N);
                float dDt = 0, dxv = 0;
                for (int n = 0; n < N; n++)
                {
                    float gn = g[n] + dyv * bc[ci + n];
                    dBC[ci + n] += dyv * hn[n];
                    float bn = bc[bi + n];
                    float ge = gn * e[n] * hp[n];
                    dDt += ge * aRow[n] + gn * bn * xv;
                    dA[n] += ge * dt;
                    dBC[bi + n] += gn * dt * xv;
                    dxv += gn * dt * bn;
                    g[n] = gn * e[n];
                }
                dDelta[r * E + c] = dDt;
                dx[r * E + c] = dxv + dSkip * dyv;
                dD += dyv * xv;
            }
        }
        return dD;
    }
}

/// <summary>
/// The same scan on 8 adjacent channels at once (Vector256 lanes = channels, so the token-major [*, E] activations load
/// contiguously). Same math and operation order per channel as <see cref="SelectiveScanTraining"/> except that
/// exp is Vector256.Exp and the
/// dB/dC contributions of the 8 channels are summed before they are added. aT is A transposed, [N, E].
/// </summary>
public static unsafe class SelectiveScanTraining8
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
    /// Backward for channels c0..c0+7 of one sequence: writes dx, dDelta (overwrite), adds to dBC (block partial),
    /// dA (N vectors, gradient wrt A) and dD (one vector). hs: [(chunk+1)·N], ea: [chunk·N] scratch vectors.
    /// </summary>
    public static void Backward(int c0, int r0, int T, int E, int N, int chunk,
        float[] x, float[] delta, float[] bc, int ldbc, int bOff, int cOff, float[] aT, float[] dSkip, float[] ck, int ckBase, int nCk,
        float[] dy, float[] dx, float[] dDelta, float[] dBC, Vector256<float>[] dA, ref Vector256<float> dD,
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
                    float* dB = pdbc + r * ldbc + bOff, dC = pdbc + r * ldbc + cOff;
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
