using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FalconMamba.Training;

/// <summary>
/// The selective scan of <see cref="MambaBackprop"/> on 8 adjacent channels at once: Vector256 lanes = channels, so the
/// token-major [M, E] activations load contiguously and exp(Δ·A) is one inlined VectorExp.Exp per state index instead of
/// a TensorPrimitives call per (channel, step). Same recurrences as the scalar loop in MambaBackprop (which remains the
/// reference and handles channels left over); the dB/dC contributions of the 8 channels are summed across lanes (eight
/// state indices per reduction, <see cref="AddLaneSums"/>) before they are added.
/// <para>Layouts: every per-channel-block quantity is [N, 8] floats (state index n, then the 8 channels), so two state
/// indices are 16 contiguous floats. With AVX-512 the loops over n take them in pairs as one Vector512: one instruction
/// stream then carries two independent 8-lane chains (exp's ≈20-deep dependency chain otherwise fills the out-of-order
/// window long before the FMA units), and half as many instructions are issued. A = −exp(A_log) of the channels is
/// laid out so once per call (<see cref="BlockA"/>); B and C of a row are broadcast once per row into [N, 8], so every
/// operand of the inner loops is one aligned load. States are checkpointed at chunk starts in the scalar loop's layout
/// ((s·E + c)·chunks + q)·N.</para>
/// </summary>
public static unsafe class ScanVector8
{
    /// <summary>A = −exp(A_log) (A_log [E, N]) of channels c0..c0+8·groups−1 as [groups, N, 8].</summary>
    static void BlockA(float[] aLog, int c0, int groups, int N, float* dst)
    {
        for (int gi = 0; gi < groups; gi++)
            for (int n = 0; n < N; n++)
                for (int j = 0; j < 8; j++) dst[(gi * N + n) * 8 + j] = -MathF.Exp(aLog[(c0 + 8 * gi + j) * N + n]);
    }

    /// <summary>Floats of aligned scratch <see cref="Forward"/> needs for <paramref name="groups"/> blocks.</summary>
    public static int ForwardWorkFloats(int groups, int N) => 2 * groups * N * 8 + 2 * N * 8;

    /// <summary>
    /// Forward for channels c0..c0+8·groups−1 of the sequence starting at row r0; ck(b, c) = ckBase + c·nCk·N. Time is
    /// the outer loop and the groups of 8 channels the inner one, so each row's Δ, x and y segments are read and written
    /// contiguously (one group at a time over all T walks rows 2 KiB apart, a cache set and a page per access); every
    /// channel runs the same recurrence, so the result does not depend on <paramref name="groups"/>. work: 64-byte
    /// aligned, <see cref="ForwardWorkFloats"/> floats.
    /// </summary>
    public static void Forward(int c0, int groups, int r0, int T, int E, int N, int chunk,
        float[] x, float[] delta, float[] bc, int ldbc, int bOff, int cOff, float[] aLog, float[] dSkip, float[] y, float[] ck, int ckBase, int nCk,
        float* work)
    {
        int n8 = N * 8;
        // h [groups, N, 8]; A [groups, N, 8]; the row's B, C broadcast [N, 8]
        float* hAll = work, aBlk = hAll + groups * n8, b8 = aBlk + groups * n8, c8 = b8 + n8;
        new Span<float>(hAll, groups * n8).Clear();
        BlockA(aLog, c0, groups, N, aBlk);
        fixed (float* px = x, pd = delta, pbc = bc, py = y, pck = ck, pD = dSkip)
        {
            for (int t = 0; t < T; t++)
            {
                int r = r0 + t;
                Broadcast8(pbc + r * ldbc + bOff, b8, N);
                Broadcast8(pbc + r * ldbc + cOff, c8, N);
                for (int gi = 0; gi < groups; gi++)
                {
                    int cg = c0 + 8 * gi;
                    float* h = hAll + gi * n8, a = aBlk + gi * n8;
                    if (t % chunk == 0)
                        for (int j = 0; j < 8; j++)
                            for (int n = 0; n < N; n++) pck[ckBase + ((cg + j) * nCk + t / chunk) * N + n] = h[n * 8 + j];
                    var acc = StepForward(pd + r * E + cg, px + r * E + cg, a, b8, c8, h, N);
                    Vector256.FusedMultiplyAdd(Vector256.Load(pD + cg), Vector256.Load(px + r * E + cg), acc).Store(py + r * E + cg);
                }
            }
        }
    }

    /// <summary>Whether the loops over n take state indices in pairs as Vector512.</summary>
    static bool Wide => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>
    /// One forward step of 8 channels (Δ and x at pdt, px): h[n] ← exp(Δ·A[n])·h[n] + (Δ·x)·B[n] for every n; returns
    /// Σ_n h[n]·C[n]. State indices in pairs as Vector512 where available (operands broadcast to both halves).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> StepForward(float* pdt, float* px, float* a, float* b8, float* c8, float* h, int N)
    {
        nint o = 0, n8 = N * 8;
        var acc = Vector256<float>.Zero;
        if (Wide)
        {
            var dt2 = Avx512F.BroadcastVector256ToVector512((double*)pdt).AsSingle();
            var bx2 = dt2 * Avx512F.BroadcastVector256ToVector512((double*)px).AsSingle();
            var acc2 = Vector512<float>.Zero;
            for (; o + 16 <= n8; o += 16)
            {
                var hn = Vector512.FusedMultiplyAdd(bx2, Vector512.Load(b8 + o), VectorExp.Exp(dt2 * Vector512.Load(a + o)) * Vector512.Load(h + o));
                hn.Store(h + o);
                acc2 = Vector512.FusedMultiplyAdd(hn, Vector512.Load(c8 + o), acc2);
            }
            acc = acc2.GetLower() + acc2.GetUpper();
        }
        var dt = Vector256.Load(pdt);
        var bx = dt * Vector256.Load(px);
        for (; o < n8; o += 8)
        {
            var hn = Vector256.FusedMultiplyAdd(bx, Vector256.Load(b8 + o), VectorExp.Exp(dt * Vector256.Load(a + o)) * Vector256.Load(h + o));
            hn.Store(h + o);
            acc = Vector256.FusedMultiplyAdd(hn, Vector256.Load(c8 + o), acc);
        }
        return acc;
    }

    /// <summary>
    /// The same step inside the backward's recompute: reads h, writes the next state to hOut and exp(Δ·A) to e (kept for
    /// the reverse sweep); the same operations as <see cref="StepForward"/>, so the states are recomputed exactly.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StepRecompute(float* pdt, float* px, float* a, float* b8, float* h, float* hOut, float* e, int N)
    {
        nint o = 0, n8 = N * 8;
        if (Wide)
        {
            var dt2 = Avx512F.BroadcastVector256ToVector512((double*)pdt).AsSingle();
            var bx2 = dt2 * Avx512F.BroadcastVector256ToVector512((double*)px).AsSingle();
            for (; o + 16 <= n8; o += 16)
            {
                var en = VectorExp.Exp(dt2 * Vector512.Load(a + o));
                en.Store(e + o);
                Vector512.FusedMultiplyAdd(bx2, Vector512.Load(b8 + o), en * Vector512.Load(h + o)).Store(hOut + o);
            }
        }
        var dt = Vector256.Load(pdt);
        var bx = dt * Vector256.Load(px);
        for (; o < n8; o += 8)
        {
            var en = VectorExp.Exp(dt * Vector256.Load(a + o));
            en.Store(e + o);
            Vector256.FusedMultiplyAdd(bx, Vector256.Load(b8 + o), en * Vector256.Load(h + o)).Store(hOut + o);
        }
    }

    /// <summary>Floats of aligned scratch <see cref="Backward"/> needs for <paramref name="groups"/> blocks and a chunk length.</summary>
    public static int BackwardWorkFloats(int groups, int N, int chunk) => groups * N * 8 * ((chunk + 1) + chunk + 2) + 4 * N * 8;

    /// <summary>
    /// Backward for channels c0..c0+8·groups−1 of one sequence: writes dx, dDelta (overwrite), adds to dBC (row stride
    /// dld, B at dbOff, C at dcOff), dA ([groups, N, 8], gradient wrt A) and dD ([groups, 8]). The dB/dC contributions
    /// are summed per slice of <paramref name="sliceBlocks"/> consecutive blocks — as vectors over the slice's blocks,
    /// then across lanes once per row — into the slice's own partial dBC, <paramref name="sliceStride"/> floats after the
    /// previous one; so a caller can hand several slices to one call (the per-row work — the row's loads, B and C
    /// broadcast — is then shared by more blocks) and get the same sums as from one call per slice. work: 64-byte aligned, <see cref="BackwardWorkFloats"/>
    /// floats (the chunk's recomputed states and exp(Δ·A), the adjoint of h, the row's broadcast B and C and the dB/dC
    /// partial sums). exp(Δ·A) is computed once per (step, state, channel): the recompute of a chunk's states keeps it
    /// for the reverse sweep. Time is the outer loop and the groups the inner one (contiguous row segments, as in Forward).
    /// </summary>
    public static void Backward(int c0, int groups, int r0, int T, int E, int N, int chunk,
        float[] x, float[] delta, float[] bc, int ldbc, int bOff, int cOff, float[] aLog, float[] dSkip, float[] ck, int ckBase, int nCk,
        float[] dy, float[] dx, float[] dDelta, float[] dBC, int dld, int dbOff, int dcOff, int sliceBlocks, int sliceStride, float* dA, float* dD, float* work)
    {
        if (sliceBlocks < 1 || groups % sliceBlocks != 0) throw new ArgumentException("the blocks must divide into whole slices");
        int n8 = N * 8, nChunks = (T + chunk - 1) / chunk, hStride = (chunk + 1) * n8, eStride = chunk * n8;
        // hs [groups, chunk+1, N, 8]: hs[i] = state before step t0+i; ea [groups, chunk, N, 8]: exp(Δ·A) of step t0+i;
        // g [groups, N, 8]: dLoss/dh after the step being processed
        // A [groups, N, 8]
        float* hs = work, ea = hs + groups * hStride, gAll = ea + groups * eStride, aBlk = gAll + groups * n8, b8 = aBlk + groups * n8, c8 = b8 + n8,
            pB = c8 + n8, pC = pB + n8;
        new Span<float>(gAll, groups * n8).Clear();
        BlockA(aLog, c0, groups, N, aBlk);
        fixed (float* px = x, pd = delta, pbc = bc, pck = ck, pdy = dy, pdx = dx, pdd = dDelta, pdbc = dBC, pD = dSkip)
        {
            for (int q = nChunks - 1; q >= 0; q--)
            {
                int t0 = q * chunk, len = Math.Min(T, t0 + chunk) - t0;
                for (int gi = 0; gi < groups; gi++)
                    for (int n = 0; n < N; n++)
                        for (int j = 0; j < 8; j++) hs[gi * hStride + n * 8 + j] = pck[ckBase + ((c0 + 8 * gi + j) * nCk + q) * N + n];
                // recompute the chunk's states from its checkpoint, keeping exp(Δ·A)
                for (int i = 0; i < len; i++)
                {
                    int r = r0 + t0 + i;
                    Broadcast8(pbc + r * ldbc + bOff, b8, N);
                    for (int gi = 0; gi < groups; gi++)
                    {
                        int cg = c0 + 8 * gi;
                        float* h = hs + gi * hStride + i * n8;
                        StepRecompute(pd + r * E + cg, px + r * E + cg, aBlk + gi * n8, b8, h, h + n8, ea + gi * eStride + i * n8, N);
                    }
                }
                // reverse sweep: g ← g + dy·C; the step's gradients; g ← g·exp(Δ·A) (to the previous state)
                for (int i = len - 1; i >= 0; i--)
                {
                    int r = r0 + t0 + i;
                    Broadcast8(pbc + r * ldbc + bOff, b8, N);
                    Broadcast8(pbc + r * ldbc + cOff, c8, N);
                    for (int sl = 0; sl < groups; sl += sliceBlocks)
                    {
                        new Span<float>(pB, 2 * n8).Clear();
                        for (int gi = sl; gi < sl + sliceBlocks; gi++)
                        {
                            int cg = c0 + 8 * gi;
                            var dt = Vector256.Load(pd + r * E + cg);
                            var xv = Vector256.Load(px + r * E + cg);
                            var dyv = Vector256.Load(pdy + r * E + cg);
                            var dDt = StepBackward(pd + r * E + cg, px + r * E + cg, pdy + r * E + cg, aBlk + gi * n8, b8, c8, hs + gi * hStride + i * n8,
                                ea + gi * eStride + i * n8, gAll + gi * n8, dA + gi * n8, pB, pC, N, out var sgb);
                            Vector256.FusedMultiplyAdd(sgb, xv, dDt).Store(pdd + r * E + cg);
                            // dx = Σ_n g·B·Δ + D·dy
                            Vector256.FusedMultiplyAdd(Vector256.Load(pD + cg), dyv, sgb * dt).Store(pdx + r * E + cg);
                            (Vector256.Load(dD + 8 * gi) + dyv * xv).Store(dD + 8 * gi);
                        }
                        // dB[n] += Σ_lanes Σ_slice's blocks pB[n], dC likewise: eight state indices per transposing reduction
                        long so = (long)(sl / sliceBlocks) * sliceStride + (long)r * dld;
                        AddLaneSums((Vector256<float>*)pB, N, pdbc + so + dbOff);
                        AddLaneSums((Vector256<float>*)pC, N, pdbc + so + dcOff);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The reverse step of 8 channels, with h = the state before the step (h + N·8 after it) and e = exp(Δ·A):
    /// gn = g + dy·C; dC += dy·h'; dB += gn·Δ·x; dA += gn·e·h·Δ; dΔ = Σ_n gn·e·h·A + x·Σ_n gn·B (returned as dDt and
    /// sgb = Σ_n gn·B, which also gives dx = Δ·sgb); g ← gn·e. Δ, x and dy of the 8 channels at pdt, px, pdy.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> StepBackward(float* pdt, float* px, float* pdy, float* a, float* b8, float* c8, float* h, float* e,
        float* g, float* dA, float* pB, float* pC, int N, out Vector256<float> sgb)
    {
        nint o = 0, n8 = N * 8;
        var dDt = Vector256<float>.Zero;
        sgb = Vector256<float>.Zero;
        if (Wide)
        {
            var dt2 = Avx512F.BroadcastVector256ToVector512((double*)pdt).AsSingle();
            var dy2 = Avx512F.BroadcastVector256ToVector512((double*)pdy).AsSingle();
            var dtx2 = dt2 * Avx512F.BroadcastVector256ToVector512((double*)px).AsSingle();
            var dDt2 = Vector512<float>.Zero; var sgb2 = Vector512<float>.Zero;
            for (; o + 16 <= n8; o += 16)
            {
                var gn = Vector512.FusedMultiplyAdd(dy2, Vector512.Load(c8 + o), Vector512.Load(g + o));
                Vector512.FusedMultiplyAdd(dy2, Vector512.Load(h + n8 + o), Vector512.Load(pC + o)).Store(pC + o);
                var ge = gn * Vector512.Load(e + o);
                ge.Store(g + o);
                var geh = ge * Vector512.Load(h + o);
                dDt2 = Vector512.FusedMultiplyAdd(geh, Vector512.Load(a + o), dDt2);
                Vector512.FusedMultiplyAdd(geh, dt2, Vector512.Load(dA + o)).Store(dA + o);
                Vector512.FusedMultiplyAdd(gn, dtx2, Vector512.Load(pB + o)).Store(pB + o);
                sgb2 = Vector512.FusedMultiplyAdd(gn, Vector512.Load(b8 + o), sgb2);
            }
            dDt = dDt2.GetLower() + dDt2.GetUpper();
            sgb = sgb2.GetLower() + sgb2.GetUpper();
        }
        var dt = Vector256.Load(pdt);
        var dyv = Vector256.Load(pdy);
        var dtx = dt * Vector256.Load(px);
        for (; o < n8; o += 8)
        {
            var gn = Vector256.FusedMultiplyAdd(dyv, Vector256.Load(c8 + o), Vector256.Load(g + o));
            Vector256.FusedMultiplyAdd(dyv, Vector256.Load(h + n8 + o), Vector256.Load(pC + o)).Store(pC + o);
            var ge = gn * Vector256.Load(e + o);
            ge.Store(g + o);
            var geh = ge * Vector256.Load(h + o);
            dDt = Vector256.FusedMultiplyAdd(geh, Vector256.Load(a + o), dDt);
            Vector256.FusedMultiplyAdd(geh, dt, Vector256.Load(dA + o)).Store(dA + o);
            Vector256.FusedMultiplyAdd(gn, dtx, Vector256.Load(pB + o)).Store(pB + o);
            sgb = Vector256.FusedMultiplyAdd(gn, Vector256.Load(b8 + o), sgb);
        }
        return dDt;
    }

    /// <summary>dst[n·8 + l] = src[n] for l &lt; 8 (one row's B or C, broadcast across the 8 channel lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Broadcast8(float* src, float* dst, int N)
    {
        for (int n = 0; n < N; n++) Vector256.Create(src[n]).Store(dst + 8 * n);
    }

    /// <summary>64-byte aligned native scratch of <paramref name="floats"/> floats (free with <see cref="FreeWork"/>).</summary>
    public static float* AllocWork(int floats) => (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);

    /// <summary>Frees scratch from <see cref="AllocWork"/>.</summary>
    public static void FreeWork(float* work) => NativeMemory.AlignedFree(work);

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
