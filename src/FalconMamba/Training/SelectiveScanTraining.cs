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
