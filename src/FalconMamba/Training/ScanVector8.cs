using System.Runtime.Intrinsics;

namespace FalconMamba.Training;

/// <summary>
/// The selective scan of <see cref="MambaBackprop"/> on 8 adjacent channels at once: Vector256 lanes = channels, so the
/// token-major [M, E] activations load contiguously and exp(Δ·A) is one inlined VectorExp.Exp per state index instead of
/// a TensorPrimitives call per (channel, step). Same recurrences and per-channel operation order as the scalar loop in
/// MambaBackprop (which remains the reference and handles channels left over); the dB/dC contributions of the 8
/// channels are summed across lanes (eight state indices per reduction, <see cref="AddLaneSums"/>) before they are added. aT is A = −exp(A_log) transposed, [N, E]. States are
/// checkpointed at chunk starts in the scalar loop's layout ((s·E + c)·chunks + q)·N.
/// </summary>
public static unsafe class ScanVector8
{
    /// <summary>
    /// Forward for channels c0..c0+8·groups−1 of the sequence starting at row r0; ck(b, c) = ckBase + c·nCk·N. Time is
    /// the outer loop and the groups of 8 channels the inner one, so each row's Δ, x and y segments are read and written
    /// contiguously (one group at a time over all T walks rows 2 KiB apart, a cache set and a page per access); every
    /// channel still runs the same recurrence in the same order, so the result does not depend on <paramref name="groups"/>.
    /// </summary>
    public static void Forward(int c0, int groups, int r0, int T, int E, int N, int chunk,
        float[] x, float[] delta, float[] bc, int ldbc, int bOff, int cOff, float[] aT, float[] dSkip, float[] y, float[] ck, int ckBase, int nCk)
    {
        var hAll = new Vector256<float>[groups * N];
        fixed (float* px = x, pd = delta, pbc = bc, pa = aT, py = y, pck = ck, pD = dSkip)
        fixed (Vector256<float>* ph = hAll)
        {
            for (int t = 0; t < T; t++)
            {
                int r = r0 + t;
                float* B = pbc + r * ldbc + bOff, C = pbc + r * ldbc + cOff;
                for (int gi = 0; gi < groups; gi++)
                {
                    int cg = c0 + 8 * gi;
                    var h = ph + gi * N;
                    if (t % chunk == 0)
                        for (int j = 0; j < 8; j++)
                            for (int n = 0; n < N; n++) pck[ckBase + ((cg + j) * nCk + t / chunk) * N + n] = h[n].GetElement(j);
                    var dt = Vector256.Load(pd + r * E + cg);
                    var xv = Vector256.Load(px + r * E + cg);
                    var bx = dt * xv;
                    var acc = Vector256<float>.Zero;
                    for (int n = 0; n < N; n++)
                    {
                        var e = VectorExp.Exp(dt * Vector256.Load(pa + n * E + cg));
                        h[n] = e * h[n] + bx * Vector256.Create(B[n]);
                        acc += h[n] * Vector256.Create(C[n]);
                    }
                    (acc + Vector256.Load(pD + cg) * xv).Store(py + r * E + cg);
                }
            }
        }
    }

    /// <summary>
    /// Backward for channels c0..c0+8·groups−1 of one sequence: writes dx, dDelta (overwrite), adds to dBC (row stride
    /// dld, B at dbOff, C at dcOff; the groups' contributions are summed as vectors, then across lanes once per row),
    /// dA ([groups·N] vectors, gradient wrt A) and dD ([groups] vectors). hs: [groups·(chunk+1)·N], ea: [groups·chunk·N]
    /// scratch vectors. Time is the outer loop and the groups the inner one (contiguous row segments, as in Forward).
    /// </summary>
    public static void Backward(int c0, int groups, int r0, int T, int E, int N, int chunk,
        float[] x, float[] delta, float[] bc, int ldbc, int bOff, int cOff, float[] aT, float[] dSkip, float[] ck, int ckBase, int nCk,
        float[] dy, float[] dx, float[] dDelta, float[] dBC, int dld, int dbOff, int dcOff, Vector256<float>[] dA, Vector256<float>[] dD,
        Vector256<float>[] hs, Vector256<float>[] ea)
    {
        var gAll = stackalloc Vector256<float>[groups * N];
        for (int n = 0; n < groups * N; n++) gAll[n] = default;
        var pB = stackalloc Vector256<float>[N];
        var pC = stackalloc Vector256<float>[N];
        int nChunks = (T + chunk - 1) / chunk, hStride = (chunk + 1) * N, eStride = chunk * N;
        fixed (float* px = x, pd = delta, pbc = bc, pa = aT, pck = ck, pdy = dy, pdx = dx, pdd = dDelta, pdbc = dBC, pD = dSkip)
        fixed (Vector256<float>* phs = hs, pea = ea, pdA = dA, pdD = dD)
        {
            var lane = stackalloc float[8];
            for (int q = nChunks - 1; q >= 0; q--)
            {
                int t0 = q * chunk, len = Math.Min(T, t0 + chunk) - t0;
                for (int gi = 0; gi < groups; gi++)
                    for (int n = 0; n < N; n++)
                    {
                        for (int j = 0; j < 8; j++) lane[j] = pck[ckBase + ((c0 + 8 * gi + j) * nCk + q) * N + n];
                        phs[gi * hStride + n] = Vector256.Load(lane);
                    }
                for (int i = 0; i < len; i++)
                {
                    int r = r0 + t0 + i;
                    float* B = pbc + r * ldbc + bOff;
                    for (int gi = 0; gi < groups; gi++)
                    {
                        int cg = c0 + 8 * gi;
                        Vector256<float>* h = phs + gi * hStride + i * N, e8 = pea + gi * eStride + i * N;
                        var dt = Vector256.Load(pd + r * E + cg);
                        var bx = dt * Vector256.Load(px + r * E + cg);
                        for (int n = 0; n < N; n++)
                        {
                            var e = VectorExp.Exp(dt * Vector256.Load(pa + n * E + cg));
                            e8[n] = e;
                            h[N + n] = e * h[n] + bx * Vector256.Create(B[n]);
                        }
                    }
                }
                for (int i = len - 1; i >= 0; i--)
                {
                    int r = r0 + t0 + i;
                    float* B = pbc + r * ldbc + bOff, C = pbc + r * ldbc + cOff;
                    float* dB = pdbc + (long)r * dld + dbOff, dC = pdbc + (long)r * dld + dcOff;
                    for (int n = 0; n < N; n++) { pB[n] = default; pC[n] = default; }
                    for (int gi = 0; gi < groups; gi++)
                    {
                        int cg = c0 + 8 * gi;
                        Vector256<float>* h = phs + gi * hStride + i * N, e8 = pea + gi * eStride + i * N, g = gAll + gi * N, dAg = pdA + gi * N;
                        var dt = Vector256.Load(pd + r * E + cg);
                        var xv = Vector256.Load(px + r * E + cg);
                        var dyv = Vector256.Load(pdy + r * E + cg);
                        var dDt = Vector256<float>.Zero;
                        var dxv = Vector256<float>.Zero;
                        var dtx = dt * xv;
                        for (int n = 0; n < N; n++)
                        {
                            var gn = g[n] + dyv * Vector256.Create(C[n]);
                            pC[n] += dyv * h[N + n];
                            var bn = Vector256.Create(B[n]);
                            var e = e8[n];
                            var ge = gn * e * h[n];
                            dDt += ge * Vector256.Load(pa + n * E + cg) + gn * bn * xv;
                            dAg[n] += ge * dt;
                            pB[n] += gn * dtx;
                            dxv += gn * dt * bn;
                            g[n] = gn * e;
                        }
                        dDt.Store(pdd + r * E + cg);
                        (dxv + Vector256.Load(pD + cg) * dyv).Store(pdx + r * E + cg);
                        pdD[gi] += dyv * xv;
                    }
                    // dB[n] += Σ_lanes Σ_groups pB[n], dC likewise: eight state indices per transposing reduction
                    AddLaneSums(pB, N, dB);
                    AddLaneSums(pC, N, dC);
                }
            }
        }
    }

    /// <summary>
    /// dst[n] += Σ_lanes v[n] for n &lt; N. With AVX, eight vectors at a time by a horizontal-add tree that leaves the eight
    /// sums in one vector (9 shuffle/add instructions instead of a 6-instruction reduction per vector); fixed order, so
    /// deterministic. The scalar form (<see cref="AddLaneSumsScalar"/>) sums lanes pairwise in the same tree order.
    /// </summary>
    public static void AddLaneSums(Vector256<float>* v, int N, float* dst)
    {
        int n = 0;
        if (System.Runtime.Intrinsics.X86.Avx.IsSupported)
            for (; n + 8 <= N; n += 8)
            {
                var h01 = System.Runtime.Intrinsics.X86.Avx.HorizontalAdd(v[n], v[n + 1]);
                var h23 = System.Runtime.Intrinsics.X86.Avx.HorizontalAdd(v[n + 2], v[n + 3]);
                var h45 = System.Runtime.Intrinsics.X86.Avx.HorizontalAdd(v[n + 4], v[n + 5]);
                var h67 = System.Runtime.Intrinsics.X86.Avx.HorizontalAdd(v[n + 6], v[n + 7]);
                var h0123 = System.Runtime.Intrinsics.X86.Avx.HorizontalAdd(h01, h23);   // per 128-bit half: sums of lanes 0-3 / 4-7
                var h4567 = System.Runtime.Intrinsics.X86.Avx.HorizontalAdd(h45, h67);
                var sum = System.Runtime.Intrinsics.X86.Avx.Permute2x128(h0123, h4567, 0x20) + System.Runtime.Intrinsics.X86.Avx.Permute2x128(h0123, h4567, 0x31);
                (Vector256.Load(dst + n) + sum).Store(dst + n);
            }
        for (; n < N; n++) dst[n] += LaneSumScalar(v[n]);
    }

    /// <summary>Scalar reference of <see cref="AddLaneSums"/>: ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)).</summary>
    public static void AddLaneSumsScalar(ReadOnlySpan<Vector256<float>> v, Span<float> dst)
    {
        for (int n = 0; n < v.Length; n++) dst[n] += LaneSumScalar(v[n]);
    }

    static float LaneSumScalar(Vector256<float> x) => ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));
}
