using System.Runtime.Intrinsics;
using FalconMamba.Kernels;
using FalconMamba.Model;

namespace FalconMamba.Training;

/// <summary>
/// Training forward and hand-written backward of the Mamba / Falcon Mamba causal LM (SPEC.md §2.1–2.2, the inference
/// order of the Falcon dt norm: RMS-norm of the rank-R dt vector before dt_proj) for a batch of B sequences of T tokens,
/// flattened to M = B·T rows. Activations of every layer are kept (linear in T); the selective-scan state h [E, N]
/// is kept only at every <see cref="ScanChunk"/>-th step and recomputed inside the chunk during the backward pass.
/// The loss is the mean cross-entropy over the M positions, computed over the vocabulary in chunks of
/// <see cref="LossChunk"/> rows so no more than LossChunk × V logits exist at once.
/// Glossary: D = d_model (hidden_size), E = d_inner (intermediate_size), N = d_state, R = dt_rank, k = conv width,
/// Δ = softplus(dt_proj(dt)) the step size, h the SSM state. Determinism: every reduction runs in a fixed order
/// (per-channel loops over tokens, fixed channel groups summed in order), so gradients do not depend on thread timing.
/// </summary>
public sealed class MambaBackprop
{
    readonly MambaConfig _c;
    readonly WorkerPool _pool;
    /// <summary>Steps of the scan between stored states (recompute granularity).</summary>
    public int ScanChunk { get; }
    /// <summary>Scan 8 channels per Vector256 (<see cref="ScanVector8"/>); false runs the scalar loop for every channel.</summary>
    public bool VectorScan { get; set; } = Vector256.IsHardwareAccelerated;
    /// <summary>Rows of logits materialised at once in the cross-entropy.</summary>
    public int LossChunk { get; }
    /// <summary>
    /// Operands of the Linear and lm_head products: f32, or rounded to bf16 with f32 accumulation (<see cref="TrainPrecision"/>).
    /// Only <see cref="LinearOperand"/> looks at it; saved activations stay f32 arrays either way.
    /// </summary>
    public TrainPrecision Precision { get; set; } = TrainPrecision.F32;
    const int Groups = 16;   // fixed channel groups for the dB/dC reduction (independent of thread count)

    int _m = -1, _b, _t;
    Layer[] _layers = [];
    float[] _hFinal = [], _rstdF = [], _yF = [];

    // seconds per section since construction: where a training step's time goes (printed by the benchmark)
    readonly double[] _sec = new double[6];
    static readonly string[] SectionNames = ["linear (GEMM)", "scan forward", "scan backward", "cross-entropy + head", "total", "conv + SiLU (fwd, bwd)"];
    /// <summary>Accumulated seconds per section (linear layers, scan forward/backward, loss with lm_head, total, conv).</summary>
    public IReadOnlyDictionary<string, double> Seconds => SectionNames.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => _sec[x.i]);
    /// <summary>Zeroes <see cref="Seconds"/> (e.g. after a warm-up step).</summary>
    public void ResetProfile() => Array.Clear(_sec);
    long Tick() => System.Diagnostics.Stopwatch.GetTimestamp();
    void Tock(int section, long start) => _sec[section] += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;

    /// <summary>Bytes of activations kept for the backward pass at the current batch shape (the memory that grows with B·T).</summary>
    public long ActivationBytes => 4L * (_layers.Sum(a => (long)a.H.Length + a.U.Length + a.Rstd.Length + a.Xz.Length + a.Xc.Length + a.Xs.Length + a.Dbl.Length
        + a.Dbn.Length + a.Rstd3.Length + a.DtRaw.Length + a.Delta.Length + a.Y.Length + a.Yg.Length + a.Hb.Length) + _hFinal.Length + _rstdF.Length + _yF.Length);

    /// <summary>Saved activations of one layer. Shapes per row m of the M = B·T rows.</summary>
    sealed class Layer
    {
        public float[] H = [];        // [M, D] block input (residual stream)
        public float[] U = [];        // [M, D] normed input
        public float[] Rstd = [];     // [M]
        public float[] Xz = [];       // [M, 2E] in_proj output: x | z
        public float[] Xc = [];       // [M, E] conv output before SiLU
        public float[] Xs = [];       // [M, E] SiLU(conv)
        public float[] Dbl = [];      // [M, R+2N] x_proj output (raw)
        public float[] Dbn = [];      // [M, R+2N] after the weightless norms (= Dbl for mamba)
        public float[] Rstd3 = [];    // [M, 3] rstd of dt, B, C
        public float[] DtRaw = [];    // [M, E] dt_proj output + bias
        public float[] Delta = [];    // [M, E] softplus
        public float[] Y = [];        // [M, E] scan output incl. D skip, before the gate
        public float[] Yg = [];       // [M, E] gated
        public float[] Hb = [];       // [B, E, chunks, N] scan state at chunk starts
    }

    /// <summary>Creates the trainer's compute for a config; <paramref name="pool"/> runs the parallel parts.</summary>
    public MambaBackprop(MambaConfig config, WorkerPool pool, int scanChunk = 64, int lossChunk = 64)
    {
        _c = config;
        _pool = pool;
        if (scanChunk < 1) throw new ArgumentOutOfRangeException(nameof(scanChunk));
        if (lossChunk < 1) throw new ArgumentOutOfRangeException(nameof(lossChunk));
        ScanChunk = scanChunk;
        LossChunk = lossChunk;
    }

    void Ensure(int b, int t)
    {
        if (_b == b && _t == t) return;
        int m = b * t, d = _c.HiddenSize, e = _c.IntermediateSize, n = _c.StateSize, r = _c.TimeStepRank;
        int chunks = (t + ScanChunk - 1) / ScanChunk;
        _layers = new Layer[_c.NumHiddenLayers];
        for (int l = 0; l < _layers.Length; l++)
            _layers[l] = new Layer
            {
                H = new float[m * d], U = new float[m * d], Rstd = new float[m], Xz = new float[m * 2 * e], Xc = new float[m * e],
                Xs = new float[m * e], Dbl = new float[m * (r + 2 * n)], Dbn = _c.UseBcdtRms ? new float[m * (r + 2 * n)] : [],
                Rstd3 = new float[m * 3], DtRaw = new float[m * e], Delta = new float[m * e], Y = new float[m * e], Yg = new float[m * e],
                Hb = new float[(long)b * e * chunks * n is var hb && hb < int.MaxValue ? (int)hb : throw new ArgumentException("batch too large")],
            };
        _hFinal = new float[m * d]; _rstdF = new float[m]; _yF = new float[m * d];
        _m = m; _b = b; _t = t;
    }

    /// <summary>
    /// Forward over tokens [B·T] (row-major by sequence) and, when <paramref name="grads"/> is given, the backward pass
    /// that ADDS <paramref name="gradScale"/> × d(sum of per-position cross-entropies)/dθ into it. Returns the sum of
    /// the per-position cross-entropies (natural log).
    /// </summary>
    public double Run(MambaParameters p, int[] tokens, int[] targets, int batch, int length, MambaParameters? grads, float gradScale = 1)
    {
        if (tokens.Length != batch * length || targets.Length != batch * length)
            throw new ArgumentException($"tokens/targets must hold batch×length = {batch * length} ids");
        int v = _c.VocabSize;
        foreach (var id in tokens) if ((uint)id >= (uint)v) throw new ArgumentException($"token id {id} is outside the vocabulary [0, {v})");
        foreach (var id in targets) if ((uint)id >= (uint)v) throw new ArgumentException($"target id {id} is outside the vocabulary [0, {v})");
        Ensure(batch, length);
        long t0 = Tick();
        try { return RunCore(p, tokens, targets, grads, gradScale); }
        finally { Tock(4, t0); }
    }

    double RunCore(MambaParameters p, int[] tokens, int[] targets, MambaParameters? grads, float gradScale)
    {
        int m = _m, d = _c.HiddenSize;
        // h⁰ = Embedding[ids]
        var emb = p[MambaParameters.EmbeddingName];
        var h = _layers.Length > 0 ? _layers[0].H : _hFinal;
        for (int i = 0; i < m; i++) Array.Copy(emb, (long)tokens[i] * d, h, (long)i * d, d);
        for (int l = 0; l < _layers.Length; l++)
        {
            var next = l + 1 < _layers.Length ? _layers[l + 1].H : _hFinal;
            LayerForward(p, l, _layers[l], next);
        }
        // y = RMSNorm_f(h_L)
        RmsNormRows(_hFinal, p[MambaParameters.NormFName], _yF, _rstdF, m, d, (float)_c.LayerNormEpsilon);
        var head = _c.TieWordEmbeddings ? emb : p[MambaParameters.LmHeadName];
        float[]? dy = grads != null ? Scratch("dyF", m * d, false) : null;
        float[]? dHead = grads == null ? null : _c.TieWordEmbeddings ? grads[MambaParameters.EmbeddingName] : grads[MambaParameters.LmHeadName];
        long tc = Tick();
        double loss = CrossEntropy(head, targets, dy, dHead, gradScale);
        Tock(3, tc);
        if (grads == null) return loss;

        // backward: norm_f, then the layers in reverse (residual: dh passes straight through and collects dMixer·…)
        var dh = Scratch("dh", m * d, true);
        RmsNormBackward(_hFinal, p[MambaParameters.NormFName], _rstdF, dy!, dh, grads[MambaParameters.NormFName], m, d);
        for (int l = _layers.Length - 1; l >= 0; l--) LayerBackward(p, grads, l, _layers[l], dh);
        // embedding: dEmb[id] += dh⁰ (serial over rows: fixed order for repeated ids)
        var dEmb = grads[MambaParameters.EmbeddingName];
        for (int i = 0; i < m; i++)
        {
            long o = (long)tokens[i] * d;
            for (int j = 0; j < d; j++) dEmb[o + j] += dh[i * d + j];
        }
        return loss;
    }

    // ---------------------------------------------------------------- forward of one block
    void LayerForward(MambaParameters p, int l, Layer a, float[] hOut)
    {
        int m = _m, d = _c.HiddenSize, e = _c.IntermediateSize, n = _c.StateSize, r = _c.TimeStepRank, k = _c.ConvKernel, xw = r + 2 * n;
        string pre = $"backbone.layers.{l}.";
        // u = RMSNorm(h)·w                                   [M, D]
        RmsNormRows(a.H, p[pre + "norm.weight"], a.U, a.Rstd, m, d, (float)_c.LayerNormEpsilon);
        // xz = u·W_inᵀ (+ b)                                 [M, 2E]
        Linear(a.U, p[pre + "mixer.in_proj.weight"], _c.UseBias ? p[pre + "mixer.in_proj.bias"] : null, a.Xz, m, d, 2 * e);
        // causal depthwise conv over x + SiLU               [M, E]
        var cw = p[pre + "mixer.conv1d.weight"];
        var cb = _c.UseConvBias ? p[pre + "mixer.conv1d.bias"] : null;
        int T = _t;
        long tcv = Tick();
        Par.For(_pool, m, (r0, r1) => CausalConv.Forward(a.Xz, cw, cb, a.Xc, a.Xs, r0, r1, T, e, k), grain: 4);
        Tock(5, tcv);
        // (dt, B, C) = x·W_xᵀ                                [M, R+2N]
        Linear(a.Xs, p[pre + "mixer.x_proj.weight"], null, a.Dbl, m, e, xw);
        var dbn = a.Dbl;
        if (_c.UseBcdtRms)
        {
            // Falcon: weightless RMS norms of dt (R), B (N), C (N), eps = mixer_rms_eps
            dbn = a.Dbn;
            float eps = (float)_c.MixerRmsEps;
            var dbnN = dbn;
            Par.For(_pool, m, (r0, r1) =>
            {
                for (int row = r0; row < r1; row++)
                {
                    int o = row * xw;
                    a.Rstd3[row * 3] = NormSeg(a.Dbl, dbnN, o, r, eps);
                    a.Rstd3[row * 3 + 1] = NormSeg(a.Dbl, dbnN, o + r, n, eps);
                    a.Rstd3[row * 3 + 2] = NormSeg(a.Dbl, dbnN, o + r + n, n, eps);
                }
            }, grain: 64);
        }
        // Δ = softplus(dt·W_dtᵀ + b_dt)                      [M, E]
        LinearStrided(dbn, xw, p[pre + "mixer.dt_proj.weight"], p[pre + "mixer.dt_proj.bias"], a.DtRaw, m, r, e);
        Par.For(_pool, m * e, (i0, i1) => Activations.Softplus(a.DtRaw.AsSpan(i0, i1 - i0), a.Delta.AsSpan(i0, i1 - i0)), grain: 1024);
        // selective scan per (sequence, channel), state kept at chunk starts
        var aLog = p[pre + "mixer.A_log"];
        var dSkip = p[pre + "mixer.D"];
        int chunks = (T + ScanChunk - 1) / ScanChunk, L = ScanChunk;
        long ts = Tick();
        // Units per sequence: blocks of up to 16 groups of 8 channels (ScanVector8, lanes = channels, time outer), then the
        // channels left over one by one (scalar; exp via DecayFactors, as in their backward recompute).
        const int groupsPerBlock = 16;
        int v8 = VectorScan ? e / 8 : 0, vb = (v8 + groupsPerBlock - 1) / groupsPerBlock, units = vb + (e - 8 * v8);
        float[] delta = a.Delta, xs = a.Xs, y = a.Y, hbAll = a.Hb;
        Par.For(_pool, _b * units, (w0, w1) =>
        {
            var h = new float[n];
            var aa = new float[n];
            var da = new float[n];
            for (int w = w0; w < w1; w++)
            {
                int s = w / units, u = w % units;
                if (u < vb)
                {
                    unsafe
                    {
                        float* work = ScanVector8.AllocWork(ScanVector8.ForwardWorkFloats(groupsPerBlock, n));
                        try
                        {
                            ScanVector8.Forward(8 * groupsPerBlock * u, Math.Min(groupsPerBlock, v8 - groupsPerBlock * u), s * T, T, e, n, L,
                                xs, delta, dbn, xw, r, r + n, aLog, dSkip, y, hbAll, s * e * chunks * n, chunks, work);
                        }
                        finally { ScanVector8.FreeWork(work); }
                    }
                    continue;
                }
                int c = 8 * v8 + (u - vb);
                Array.Clear(h);
                for (int j = 0; j < n; j++) aa[j] = -MathF.Exp(aLog[c * n + j]);
                for (int t = 0; t < T; t++)
                {
                    int row = s * T + t, o = row * xw;
                    if (t % L == 0) h.CopyTo(hbAll.AsSpan((int)(((long)s * e + c) * chunks * n + t / L * n), n));
                    float dl = delta[row * e + c], xv = xs[row * e + c], acc = 0;
                    DecayFactors(dl, aa, da);
                    for (int j = 0; j < n; j++)
                    {
                        h[j] = da[j] * h[j] + dl * dbn[o + r + j] * xv;
                        acc += h[j] * dbn[o + r + n + j];
                    }
                    y[row * e + c] = acc + dSkip[c] * xv;
                }
            }
        });
        Tock(1, ts);
        // gate: yg = y·SiLU(z); out = yg·W_outᵀ; h_{l+1} = h_l + out
        Par.For(_pool, m, (r0, r1) =>
        {
            for (int row = r0; row < r1; row++)
                Activations.Gate(a.Y.AsSpan(row * e, e), a.Xz.AsSpan(row * 2 * e + e, e), a.Yg.AsSpan(row * e, e));
        }, grain: 4);
        Linear(a.Yg, p[pre + "mixer.out_proj.weight"], _c.UseBias ? p[pre + "mixer.out_proj.bias"] : null, hOut, m, e, d);
        Par.For(_pool, m, (r0, r1) => System.Numerics.Tensors.TensorPrimitives.Add(hOut.AsSpan(r0 * d, (r1 - r0) * d), a.H.AsSpan(r0 * d, (r1 - r0) * d), hOut.AsSpan(r0 * d, (r1 - r0) * d)), grain: 64);
    }

    // ---------------------------------------------------------------- backward of one block; dh: [M, D] in/out
    void LayerBackward(MambaParameters p, MambaParameters g, int l, Layer a, float[] dh)
    {
        int m = _m, d = _c.HiddenSize, e = _c.IntermediateSize, n = _c.StateSize, r = _c.TimeStepRank, k = _c.ConvKernel, xw = r + 2 * n;
        int T = _t;
        string pre = $"backbone.layers.{l}.";
        // out_proj: dW_out += dhᵀ·yg, dyg = dh·W_out
        var dyg = Scratch("dyg", m * e, false);
        LinearBackward(dh, a.Yg, p[pre + "mixer.out_proj.weight"], g[pre + "mixer.out_proj.weight"], _c.UseBias ? g[pre + "mixer.out_proj.bias"] : null, dyg, m, e, d);
        // gate: dy = dyg·SiLU(z), dz = dyg·y·SiLU'(z)
        var dy = Scratch("dy", m * e, false);
        var dxz = Scratch("dxz", m * 2 * e, true);
        Par.For(_pool, m, (r0, r1) =>
        {
            for (int row = r0; row < r1; row++)
                Activations.GateBackward(dyg.AsSpan(row * e, e), a.Y.AsSpan(row * e, e), a.Xz.AsSpan(row * 2 * e + e, e), dy.AsSpan(row * e, e), dxz.AsSpan(row * 2 * e + e, e));
        }, grain: 4);
        // scan backward: reverse time, h recomputed per chunk from the stored chunk-start state
        var dbn = _c.UseBcdtRms ? a.Dbn : a.Dbl;
        var aLog = p[pre + "mixer.A_log"];
        var dSkip = p[pre + "mixer.D"];
        var gALog = g[pre + "mixer.A_log"];
        var gD = g[pre + "mixer.D"];
        var dDelta = Scratch("dDelta", m * e, false);
        var dXs = Scratch("dXs", m * e, false);
        var dBC = Scratch("dBC", Groups * m * 2 * n, true);   // per channel group: [M, 2N] partial dB | dC
        int chunks = (T + ScanChunk - 1) / ScanChunk, L = ScanChunk, per = (e + Groups - 1) / Groups;
        long ts = Tick();
        // Consecutive groups run as one unit when every group is whole 8-channel blocks: the vector scan's per-row work
        // (the row's loads, B and C broadcast) is then shared by more blocks, while the dB/dC partial sums stay per group,
        // so the results do not depend on the grouping (or on the thread count it is chosen from).
        int gpu = VectorScan && e % (8 * Groups) == 0 ? Math.Clamp(Groups / (2 * _pool.ThreadCount), 1, 4) : 1;
        Par.For(_pool, Groups / gpu, (u0, u1) =>
        {
            var hs = new float[(L + 1) * n];
            var das = new float[L * n];   // exp(Δ·A) of the chunk, reused by the reverse sweep
            var dhs = new float[n];
            var aa = new float[n];
            var gA = new float[n];
            int vg = VectorScan ? gpu * per / 8 : 0;   // 8-channel blocks per unit (the most; a group's tail has fewer)
            unsafe
            {
                // aligned scratch: dA [vg, N, 8], dD [vg, 8], then the kernel's work
                float* buf = vg > 0 ? ScanVector8.AllocWork(vg * n * 8 + vg * 8 + ScanVector8.BackwardWorkFloats(vg, n, L)) : null;
                try
                {
                    for (int u = u0; u < u1; u++)
                    {
                        int grp = u * gpu, off = grp * m * 2 * n;
                        int cg0 = grp * per, cg1 = Math.Min(e, (grp + gpu) * per), cv = VectorScan ? cg0 + Math.Max(0, cg1 - cg0) / 8 * 8 : cg0;
                        int groups8 = (cv - cg0) / 8, slice = gpu > 1 ? per / 8 : groups8;
                        if (groups8 > 0)
                        {
                            float* dAv = buf, dDv = buf + vg * n * 8;
                            new Span<float>(buf, vg * n * 8 + vg * 8).Clear();
                            for (int s = 0; s < _b; s++)
                                ScanVector8.Backward(cg0, groups8, s * T, T, e, n, L, a.Xs, a.Delta, dbn, xw, r, r + n, aLog, dSkip, a.Hb, s * e * chunks * n, chunks,
                                    dy, dXs, dDelta, dBC, 2 * n, off, off + n, slice, m * 2 * n, dAv, dDv, dDv + vg * 8);
                            for (int gi = 0; gi < groups8; gi++)
                                for (int j8 = 0; j8 < 8; j8++)
                                {
                                    int c = cg0 + 8 * gi + j8;
                                    gD[c] += dDv[gi * 8 + j8];
                                    for (int j = 0; j < n; j++) gALog[c * n + j] += dAv[(gi * n + j) * 8 + j8] * -MathF.Exp(aLog[c * n + j]);   // dA_log = dA·A
                                }
                        }
                        for (int c = cv; c < cg1; c++)
                        {
                            for (int j = 0; j < n; j++) { aa[j] = -MathF.Exp(aLog[c * n + j]); gA[j] = 0; }
                            float gDc = 0;
                            for (int s = 0; s < _b; s++)
                            {
                                Array.Clear(dhs);
                                long hb = ((long)s * e + c) * chunks * n;
                                for (int ch = chunks - 1; ch >= 0; ch--)
                                {
                                    int t0 = ch * L, t1 = Math.Min(T, t0 + L);
                                    // hs[0] = state before t0; hs[i+1] = state after step t0+i
                                    Array.Copy(a.Hb, hb + ch * n, hs, 0, n);
                                    for (int t = t0; t < t1; t++)
                                    {
                                        int row = s * T + t, o = row * xw, hi = (t - t0 + 1) * n;
                                        float dl = a.Delta[row * e + c], xv = a.Xs[row * e + c];
                                        var da = das.AsSpan((t - t0) * n, n);
                                        DecayFactors(dl, aa, da);
                                        for (int j = 0; j < n; j++) hs[hi + j] = da[j] * hs[hi - n + j] + dl * dbn[o + r + j] * xv;
                                    }
                                    for (int t = t1 - 1; t >= t0; t--)
                                    {
                                        int row = s * T + t, o = row * xw, hi = (t - t0 + 1) * n, bo = off + row * 2 * n;
                                        float dl = a.Delta[row * e + c], xv = a.Xs[row * e + c], gy = dy[row * e + c];
                                        gDc += gy * xv;
                                        float gx = gy * dSkip[c], gdl = 0;
                                        int j = 0;
                                        if (Vector256.IsHardwareAccelerated && n >= 8)
                                        {
                                            // the loop below, eight states at a time; lanes summed at the end (fixed order)
                                            var vgdl = Vector256<float>.Zero; var vgx = Vector256<float>.Zero;
                                            var vgy = Vector256.Create(gy); var vdl = Vector256.Create(dl); var vxv = Vector256.Create(xv); var vdlxv = Vector256.Create(dl * xv);
                                            for (; j + 8 <= n; j += 8)
                                            {
                                                var bj = Vector256.Create(dbn.AsSpan(o + r + j, 8));
                                                var cj = Vector256.Create(dbn.AsSpan(o + r + n + j, 8));
                                                var dh = Vector256.FusedMultiplyAdd(vgy, cj, Vector256.Create(dhs.AsSpan(j, 8)));
                                                var ht = Vector256.Create(hs.AsSpan(hi + j, 8));
                                                var hp = Vector256.Create(hs.AsSpan(hi - n + j, 8));
                                                var dA = Vector256.Create(das.AsSpan((t - t0) * n + j, 8));
                                                var av = Vector256.Create(aa.AsSpan(j, 8));
                                                var cSlot = dBC.AsSpan(bo + n + j, 8);
                                                Vector256.FusedMultiplyAdd(vgy, ht, Vector256.Create((ReadOnlySpan<float>)cSlot)).CopyTo(cSlot);
                                                var gdA = dh * hp * dA;
                                                vgdl = Vector256.FusedMultiplyAdd(gdA, av, vgdl);
                                                vgdl = Vector256.FusedMultiplyAdd(dh * bj, vxv, vgdl);
                                                var gAs = gA.AsSpan(j, 8);
                                                Vector256.FusedMultiplyAdd(gdA, vdl, Vector256.Create((ReadOnlySpan<float>)gAs)).CopyTo(gAs);
                                                var bSlot = dBC.AsSpan(bo + j, 8);
                                                Vector256.FusedMultiplyAdd(dh, vdlxv, Vector256.Create((ReadOnlySpan<float>)bSlot)).CopyTo(bSlot);
                                                vgx = Vector256.FusedMultiplyAdd(dh * vdl, bj, vgx);
                                                (dh * dA).CopyTo(dhs.AsSpan(j, 8));
                                            }
                                            gdl += Vector256.Sum(vgdl);
                                            gx += Vector256.Sum(vgx);
                                        }
                                        for (; j < n; j++)
                                        {
                                            float bj = dbn[o + r + j];
                                            dhs[j] += gy * dbn[o + r + n + j];              // y_t = Σ h_t C_t
                                            dBC[bo + n + j] += gy * hs[hi + j];             // dC
                                            float dA = das[(t - t0) * n + j];
                                            float gdA = dhs[j] * hs[hi - n + j] * dA;       // h_t = dA·h_{t-1} + Δ·B·x
                                            gdl += gdA * aa[j] + dhs[j] * bj * xv;
                                            gA[j] += gdA * dl;
                                            dBC[bo + j] += dhs[j] * (dl * xv);              // dB
                                            gx += dhs[j] * dl * bj;
                                            dhs[j] *= dA;                                   // to h_{t-1}
                                        }
                                        dDelta[row * e + c] = gdl;
                                        dXs[row * e + c] = gx;
                                    }
                                }
                            }
                            // A = −exp(A_log) ⇒ dA_log = dA·A
                            for (int j = 0; j < n; j++) gALog[c * n + j] += gA[j] * aa[j];
                            gD[c] += gDc;
                        }
                    }
                }
                finally { if (buf != null) ScanVector8.FreeWork(buf); }
            }
        });
        Tock(2, ts);
        // d(dbl normed): dt part from dt_proj backward, B/C from the group partials (summed in group order)
        var dDbn = Scratch("dDbn", m * xw, true);
        Par.For(_pool, m, (r0, r1) =>
        {
            for (int row = r0; row < r1; row++)
                for (int grp = 0; grp < Groups; grp++)
                {
                    var dst = dDbn.AsSpan(row * xw + r, 2 * n);
                    System.Numerics.Tensors.TensorPrimitives.Add(dst, dBC.AsSpan(grp * m * 2 * n + row * 2 * n, 2 * n), dst);
                }
        }, grain: 16);
        // softplus: dDtRaw = dΔ·σ(dtraw) (identity above the threshold 20, as torch)
        Par.For(_pool, m * e, (i0, i1) => Activations.SoftplusBackward(a.DtRaw.AsSpan(i0, i1 - i0), dDelta.AsSpan(i0, i1 - i0)), grain: 1024);
        // dt_proj: dW_dt += dDtRawᵀ·dt, db += Σ dDtRaw, d(dt) = dDtRaw·W_dt (into the first R columns of dDbn)
        var dtIn = Scratch("dtIn", m * r, false);
        Par.For(_pool, m, (r0, r1) => { for (int row = r0; row < r1; row++) Array.Copy(dbn, row * xw, dtIn, row * r, r); }, grain: 64);
        var dDt = Scratch("dDt", m * r, false);
        LinearBackward(dDelta, dtIn, p[pre + "mixer.dt_proj.weight"], g[pre + "mixer.dt_proj.weight"], g[pre + "mixer.dt_proj.bias"], dDt, m, r, e);
        Par.For(_pool, m, (r0, r1) => { for (int row = r0; row < r1; row++) for (int j = 0; j < r; j++) dDbn[row * xw + j] += dDt[row * r + j]; }, grain: 64);
        // weightless norms (Falcon): dx = rstd·(dy − x̂·mean(dy·x̂))
        var dDbl = dDbn;
        if (_c.UseBcdtRms)
        {
            var dDblN = dDbl = Scratch("dDbl", m * xw, false);
            Par.For(_pool, m, (r0, r1) =>
            {
                for (int row = r0; row < r1; row++)
                {
                    int o = row * xw;
                    NormSegBackward(dbn, dDbn, dDblN, o, r, a.Rstd3[row * 3]);
                    NormSegBackward(dbn, dDbn, dDblN, o + r, n, a.Rstd3[row * 3 + 1]);
                    NormSegBackward(dbn, dDbn, dDblN, o + r + n, n, a.Rstd3[row * 3 + 2]);
                }
            }, grain: 64);
        }
        // x_proj: dW_x += dDblᵀ·xs, dxs += dDbl·W_x
        var dXs2 = Scratch("dXs2", m * e, false);
        LinearBackward(dDbl, a.Xs, p[pre + "mixer.x_proj.weight"], g[pre + "mixer.x_proj.weight"], null, dXs2, m, e, xw);
        // SiLU' and the conv backward in one pass, 8 channels per unit (fixed order over sequences and time per channel)
        var cw = p[pre + "mixer.conv1d.weight"];
        var gcw = g[pre + "mixer.conv1d.weight"];
        var gcb = _c.UseConvBias ? g[pre + "mixer.conv1d.bias"] : null;
        long tcv = Tick();
        Par.For(_pool, (e + 7) / 8, (b0, b1) => CausalConv.Backward(a.Xz, a.Xc, dXs, dXs2, cw, gcw, gcb, dxz, 8 * b0, Math.Min(e, 8 * b1), m, T, e, k));
        Tock(5, tcv);
        // in_proj: dW_in += dxzᵀ·u, du = dxz·W_in
        var du = Scratch("du", m * d, false);
        LinearBackward(dxz, a.U, p[pre + "mixer.in_proj.weight"], g[pre + "mixer.in_proj.weight"], _c.UseBias ? g[pre + "mixer.in_proj.bias"] : null, du, m, d, 2 * e);
        // block norm: dh += RMSNorm'ᵀ·du (the residual path already carries dh)
        RmsNormBackward(a.H, p[pre + "norm.weight"], a.Rstd, du, dh, g[pre + "norm.weight"], m, d);
    }

    // ---------------------------------------------------------------- cross-entropy over vocabulary chunks
    PackedGemm.PackedB? _headForLogits, _headForDx;

    double CrossEntropy(float[] head, int[] targets, float[]? dy, float[]? dHead, float scale)
    {
        int m = _m, d = _c.HiddenSize, v = _c.VocabSize, rows = Math.Min(LossChunk, m);
        // W_head [V, D] packed once per call for both of its products (not once per chunk): logits = x·W_headᵀ and
        // dx = dlogits·W_head
        var headW = LinearOperand("head", head, v * d);
        _headForLogits = PackedGemm.PackB(headW, d, true, d, v, _pool, _headForLogits);
        if (dy != null) _headForDx = PackedGemm.PackB(headW, d, false, v, d, _pool, _headForDx);
        var x = Scratch("ceX", rows * d, false);
        var logits = Scratch("logits", rows * v, false);
        var lossRow = new double[rows];
        double total = 0;
        for (int r0 = 0; r0 < m; r0 += rows)
        {
            int cnt = Math.Min(rows, m - r0);
            Array.Copy(_yF, r0 * d, x, 0, cnt * d);
            LinearOperand("ceX", x, cnt * d, inPlace: true);
            PackedGemm.MatMul(x, 0, d, false, _headForLogits, logits, 0, v, cnt, false, _pool);
            Par.For(_pool, cnt, (i0, i1) =>
            {
                for (int i = i0; i < i1; i++)
                {
                    var row = logits.AsSpan(i * v, v);
                    int tg = targets[r0 + i];
                    float max = System.Numerics.Tensors.TensorPrimitives.Max(row), target = row[tg];
                    System.Numerics.Tensors.TensorPrimitives.Subtract(row, max, row);
                    System.Numerics.Tensors.TensorPrimitives.Exp(row, row);
                    float sum = System.Numerics.Tensors.TensorPrimitives.Sum(row);
                    lossRow[i] = max + Math.Log(sum) - target;
                    if (dy == null) continue;
                    // d(CE)/dlogit = softmax − onehot, times the caller's scale
                    System.Numerics.Tensors.TensorPrimitives.Multiply(row, scale / sum, row);
                    row[tg] -= scale;
                }
            });
            for (int i = 0; i < cnt; i++) total += lossRow[i];
            if (dy == null) continue;
            // dx = dlogits·W_head; dW_head += dlogitsᵀ·x
            LinearOperand("dlogits", logits, cnt * v, inPlace: true);
            PackedGemm.MatMul(logits, 0, v, false, _headForDx!, dy, r0 * d, d, cnt, false, _pool);
            Gemm.MatMulAT(logits, x, dHead!, v, cnt, d, true, _pool);
        }
        return total;
    }

    // ---------------------------------------------------------------- building blocks
    // Temporaries reused across layers and steps (one per purpose; each is used by one call at a time). Buffers that are
    // accumulated into are cleared; the others are fully overwritten before they are read.
    readonly Dictionary<(string, int), float[]> _scratch = new();
    float[] Scratch(string key, int length, bool zero)
    {
        if (!_scratch.TryGetValue((key, length), out var buf)) _scratch[(key, length)] = buf = new float[length];
        else if (zero) Array.Clear(buf);
        return buf;
    }

    /// <summary>dA[j] = exp(Δ·A[j]) (ZOH discretisation); forward and the backward recompute share it, so h is recomputed exactly.</summary>
    static void DecayFactors(float dl, ReadOnlySpan<float> aa, Span<float> dst)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vd = Vector256.Create(dl);
            for (; j + 8 <= aa.Length; j += 8) VectorExp.Exp(vd * Vector256.Create(aa.Slice(j, 8))).CopyTo(dst.Slice(j, 8));
        }
        for (; j < aa.Length; j++) dst[j] = MathF.Exp(dl * aa[j]);
    }

    /// <summary>y[M,O] = x[M,I]·Wᵀ (+b).</summary>
    void Linear(float[] x, float[] w, float[]? b, float[] y, int m, int i, int o)
    {
        long t0 = Tick();
        Gemm.MatMulBT(LinearOperand("x", x, m * i), LinearOperand("w", w, o * i), y, m, i, o, false, _pool);
        if (b != null) Par.For(_pool, m, (r0, r1) => { for (int row = r0; row < r1; row++) System.Numerics.Tensors.TensorPrimitives.Add(y.AsSpan(row * o, o), b.AsSpan(0, o), y.AsSpan(row * o, o)); }, grain: 16);
        Tock(0, t0);
    }

    // x rows with stride xs (the first i columns used)
    void LinearStrided(float[] x, int xs, float[] w, float[]? b, float[] y, int m, int i, int o)
    {
        var xc = Scratch("xStrided", m * i, false);
        Par.For(_pool, m, (r0, r1) => { for (int row = r0; row < r1; row++) Array.Copy(x, row * xs, xc, row * i, i); }, grain: 64);
        Linear(xc, w, b, y, m, i, o);
    }

    /// <summary>Backward of y = x·Wᵀ + b given dy [M,O]: gW += dyᵀ·x, gb += Σ dy, dx = dy·W.</summary>
    void LinearBackward(float[] dy, float[] x, float[] w, float[] gw, float[]? gb, float[] dx, int m, int i, int o)
    {
        long t0 = Tick();
        dy = LinearOperand("dy", dy, m * o);
        x = LinearOperand("x", x, m * i);
        Gemm.MatMulAT(dy, x, gw, o, m, i, true, _pool);
        if (gb != null)
            Par.For(_pool, (o + RowKernels.ColumnBlock - 1) / RowKernels.ColumnBlock, (b0, b1) => RowKernels.AddColumnSums(dy, m, o, gb, b0, b1));
        Gemm.MatMul(dy, LinearOperand("w", w, o * i), dx, m, o, i, false, _pool);
        Tock(0, t0);
    }

    /// <summary>
    /// The hook where weights, activations and output gradients enter a Linear / lm_head product: <paramref name="src"/>
    /// itself in f32; in bf16 its first <paramref name="length"/> values rounded to bf16 (ties to even) into a scratch
    /// buffer named <paramref name="key"/>, or into <paramref name="src"/> when <paramref name="inPlace"/> (a temporary the
    /// caller owns). The GEMM then multiplies bf16-valued operands exactly in f32 FMAs and accumulates in f32, which is
    /// what a bf16 GEMM with f32 accumulation (cuBLAS / autocast) computes, up to the summation order.
    /// </summary>
    float[] LinearOperand(string key, float[] src, int length, bool inPlace = false)
    {
        if (Precision == TrainPrecision.F32) return src;
        var dst = inPlace ? src : Scratch("bf16 " + key, length, false);
        Par.For(_pool, length, (i0, i1) => Bf16Round.Round(src.AsSpan(i0, i1 - i0), dst.AsSpan(i0, i1 - i0)), grain: 4096);
        return dst;
    }

    void RmsNormRows(float[] x, float[] w, float[] y, float[] rstd, int m, int d, float eps) =>
        Par.For(_pool, m, (r0, r1) => RowKernels.RmsNormForward(x, w, y, rstd, r0, r1, d, eps), grain: 8);

    /// <summary>y = w·x·rstd: dx += rstd·(w·dy) − x·rstd³/d·Σ(w·dy·x); gw += Σ_rows dy·x·rstd.</summary>
    void RmsNormBackward(float[] x, float[] w, float[] rstd, float[] dy, float[] dx, float[] gw, int m, int d)
    {
        Par.For(_pool, m, (r0, r1) => RowKernels.RmsNormBackwardInput(x, w, rstd, dy, dx, r0, r1, d), grain: 8);
        Par.For(_pool, (d + RowKernels.ColumnBlock - 1) / RowKernels.ColumnBlock, (b0, b1) => RowKernels.AddWeightedColumnSums(dy, x, rstd, m, d, gw, b0, b1));
    }

    static float NormSeg(float[] x, float[] y, int o, int len, float eps)
    {
        float ss = 0;
        for (int j = 0; j < len; j++) ss += x[o + j] * x[o + j];
        float rs = 1 / MathF.Sqrt(ss / len + eps);
        for (int j = 0; j < len; j++) y[o + j] = x[o + j] * rs;
        return rs;
    }

    // y = x·rstd (no weight), given y: dx = rstd·(dy − y·mean(dy·y))
    static void NormSegBackward(float[] y, float[] dy, float[] dx, int o, int len, float rs)
    {
        float dot = 0;
        for (int j = 0; j < len; j++) dot += dy[o + j] * y[o + j];
        dot /= len;
        for (int j = 0; j < len; j++) dx[o + j] = rs * (dy[o + j] - y[o + j] * dot);
    }
}
