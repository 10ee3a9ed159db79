using FalconMamba.Kernels;

namespace FalconMamba.Model;

/// <summary>Receives the logits of one position: row <paramref name="position"/> of the sequence, [V] floats.</summary>
public delegate void LogitsCallback(long position, ReadOnlySpan<float> logits);

/// <summary>
/// Scratch buffers and worker threads to run a <see cref="MambaModel"/>. Three paths share one set of kernels:
/// chunked prefill (<see cref="Prefill"/>: any prompt length, working memory O(chunk)), the one-token recurrent step
/// (<see cref="Decode"/>), and logits for every position streamed chunk by chunk (<see cref="Score"/>).
/// Not thread-safe: one context per concurrent user; the model itself is shared.
/// </summary>
public sealed class MambaContext : IDisposable
{
    readonly MambaModel _model;
    readonly MambaConfig _c;
    readonly WorkerPool _pool;
    readonly int _d, _e, _n, _r, _k, _v, _xw;

    /// <summary>Tokens processed per chunk.</summary>
    public int ChunkSize { get; }
    /// <summary>Threads used for products and the scan.</summary>
    public int Threads => _pool.ThreadCount;

    // Chunk buffers, row-major with T ≤ ChunkSize rows.
    readonly float[] _hidden;   // [T, D] residual stream (f32)
    readonly float[] _normed;   // [T, D]
    readonly float[] _xz;       // [T, 2E] in_proj output: x = [:, 0:E], z = [:, E:2E]
    readonly float[] _xc;       // [T, E] conv + SiLU output
    readonly float[] _xdbl;     // [T, R+2N] x_proj output
    readonly float[] _dt;       // [T, R] normed dt (contiguous for dt_proj)
    readonly float[] _bm, _cm;  // [T, N] normed B, C
    readonly float[] _delta;    // [T, E] Δ
    readonly float[] _y;        // [T, E] scan output
    readonly float[] _out;      // [T, D] out_proj output
    readonly float[] _logits;   // [T, V]
    readonly float[] _tmp;      // [T·max(E, D)] activation scratch
    readonly LinearJob _linear;
    readonly Kernels.Quantized.PreparedActivations _prepared = new();
    readonly ScanJob _scan;

    internal MambaContext(MambaModel model, int threads, int chunkSize)
    {
        if (chunkSize < 1 || chunkSize > 65536) throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "--chunk must be between 1 and 65536");
        if (threads < 0 || threads > 1024) throw new ArgumentOutOfRangeException(nameof(threads), threads, "--threads must be between 1 and 1024 (0 = all cores)");
        _model = model;
        _c = model.Config;
        _d = _c.HiddenSize; _e = _c.IntermediateSize; _n = _c.StateSize; _r = _c.TimeStepRank; _k = _c.ConvKernel; _v = _c.VocabSize;
        _xw = _r + 2 * _n;
        ChunkSize = chunkSize;
        _pool = new WorkerPool(threads == 0 ? Environment.ProcessorCount : threads);
        int T = chunkSize;
        _hidden = new float[T * _d]; _normed = new float[T * _d]; _xz = new float[T * 2 * _e]; _xc = new float[T * _e];
        _xdbl = new float[T * _xw]; _dt = new float[T * _r]; _bm = new float[T * _n]; _cm = new float[T * _n];
        _delta = new float[T * _e]; _y = new float[T * _e]; _out = new float[T * _d]; _logits = new float[T * _v];
        _tmp = new float[T * Math.Max(_e, _d)];
        int maxCols = Math.Max(Math.Max(_d, _e), _r);
        // per worker: one block of rows widened to f32 for the tiled prefill product
        _linear = new LinearJob(_pool.ThreadCount, NativeWeightMatrix.RowBlock * maxCols);
        _scan = new ScanJob(_pool.ThreadCount, Math.Max(T * _n, 2048), NativeWeightMatrix.RowBlock * _r); // ≥ 2048: a decode step batches exp(Δ·A) over 128 channels
    }

    /// <summary>
    /// Feeds <paramref name="tokens"/> into <paramref name="state"/> chunk by chunk and returns the logits after the
    /// last token ([V], valid until the next call). Memory does not grow with the prompt.
    /// </summary>
    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens, MambaState state, CancellationToken cancellationToken = default)
    {
        if (tokens.IsEmpty) throw new ArgumentException("prefill needs at least one token", nameof(tokens));
        int T = 0;
        for (int start = 0; start < tokens.Length; start += ChunkSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            T = Math.Min(ChunkSize, tokens.Length - start);
            bool last = start + T == tokens.Length;
            ProcessChunk(tokens.Slice(start, T), state, last ? 1 : 0);
        }
        return _logits.AsSpan(0, _v);
    }

    /// <summary>One recurrent step: feeds one token and returns its next-token logits ([V], valid until the next call).</summary>
    public ReadOnlySpan<float> Decode(int token, MambaState state)
    {
        ProcessChunk([token], state, 1);
        return _logits.AsSpan(0, _v);
    }

    /// <summary>
    /// Feeds <paramref name="tokens"/> and reports the logits after every position (for scoring / evaluation),
    /// streamed chunk by chunk: only ChunkSize rows of logits exist at a time.
    /// </summary>
    public void Score(ReadOnlySpan<int> tokens, MambaState state, LogitsCallback onLogits, CancellationToken cancellationToken = default)
    {
        for (int start = 0; start < tokens.Length; start += ChunkSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int T = Math.Min(ChunkSize, tokens.Length - start);
            long pos0 = state.Position;
            ProcessChunk(tokens.Slice(start, T), state, T);
            for (int t = 0; t < T; t++) onLogits(pos0 + t, _logits.AsSpan(t * _v, _v));
        }
    }

    /// <summary>
    /// Runs T ≤ ChunkSize tokens through every layer, updating the state; computes logits for the last
    /// <paramref name="logitRows"/> positions into _logits[0 .. logitRows·V).
    /// </summary>
    void ProcessChunk(ReadOnlySpan<int> tokens, MambaState state, int logitRows)
    {
        if (state.Config != _c && (state.Config.NumHiddenLayers != _c.NumHiddenLayers || state.Config.IntermediateSize != _e || state.Config.StateSize != _n || state.Config.ConvKernel != _k))
            throw new ArgumentException("the state was made for a different model shape");
        int T = tokens.Length;
        var w = _model.Weights;
        var hidden = _hidden.AsSpan(0, T * _d);

        // h⁰ = Embedding[tokens]  [T, D]
        for (int t = 0; t < T; t++)
        {
            int id = tokens[t];
            if ((uint)id >= (uint)_v) throw new ArgumentOutOfRangeException(nameof(tokens), id, $"token id {id} is outside the vocabulary (vocab_size {_v})");
            w.Embedding.DequantizeRow(id, hidden.Slice(t * _d, _d));
        }

        float eps = (float)_c.LayerNormEpsilon, mixEps = _model.MixerEps;
        for (int l = 0; l < w.Layers.Count; l++)
        {
            var L = w.Layers[l];
            // u = RMSNorm(h) · norm.weight   [T, D]
            RmsNorm.Rows(hidden, L.Norm, _normed, T, _d, _d, eps);
            // xz = u · W_inᵀ   [T, 2E]
            Linear(L.InProj, _normed, T, _xz, L.InProjBias);
            // x = conv1d(xz[:, 0:E]) + bias, SiLU   [T, E]   (state: last k−1 inputs)
            CausalConv1d.Forward(_xz, 2 * _e, T, _e, _k, state.Conv[l], _model.ConvWeightT[l], L.ConvBias, _xc);
            Activations.SiluInPlace(_xc.AsSpan(0, T * _e), _tmp);
            // x_dbl = x · W_xᵀ   [T, R+2N] → dt [T,R], B [T,N], C [T,N]
            Linear(L.XProj, _xc, T, _xdbl, null);
            for (int t = 0; t < T; t++)
            {
                var row = _xdbl.AsSpan(t * _xw, _xw);
                var dt = _dt.AsSpan(t * _r, _r);
                var b = _bm.AsSpan(t * _n, _n);
                var c = _cm.AsSpan(t * _n, _n);
                if (_c.UseBcdtRms)
                {
                    // Falcon Mamba's weightless RMS norms, each over its own width (SPEC.md §2.2 step 7)
                    RmsNorm.Forward(row[.._r], default, dt, mixEps);
                    RmsNorm.Forward(row.Slice(_r, _n), default, b, mixEps);
                    RmsNorm.Forward(row.Slice(_r + _n, _n), default, c, mixEps);
                }
                else
                {
                    row[.._r].CopyTo(dt);
                    row.Slice(_r, _n).CopyTo(b);
                    row.Slice(_r + _n, _n).CopyTo(c);
                }
            }
            // Δ = softplus(dt · W_dtᵀ + b_dt)   [T, E], then y = scan(x, Δ, A, B, C) + D·x, gated by silu(z)   [T, E].
            // One parallel job: dt_proj's output rows are the channels, so each worker computes Δ for its own channels
            // (the same per-row product a separate Linear would compute, so the same bits) and scans them right away —
            // one pool round trip per layer fewer, and no serial pass over [T, E].
            Kernels.Quantized.PreparedActivations? dtPrepared = null;
            if (L.DtProj.PreferredActivations != Kernels.Quantized.ActivationFormat.F32)
            {
                _prepared.Prepare(L.DtProj.PreferredActivations, _dt, T, _r, dequantize: L.DtProj is Kernels.Quantized.BlockMatrix, _pool);
                dtPrepared = _prepared;
            }
            _scan.Set(T, _e, _n, _xc, _delta, L.DtBias, _xz, _bm, _cm, L.A, L.D, state.Ssm[l], _y, L.DtProj, _dt, dtPrepared);
            _pool.For(_e, _scan, grain: 8);
            // h += y · W_outᵀ   [T, D]
            Linear(L.OutProj, _y, T, _out, L.OutProjBias);
            System.Numerics.Tensors.TensorPrimitives.Add(hidden, _out.AsSpan(0, T * _d), hidden);
        }
        state.Position += T;

        if (logitRows > 0)
        {
            int first = T - logitRows;
            // logits = RMSNorm_f(h) · lm_headᵀ for the requested rows   [rows, V]
            RmsNorm.Rows(hidden[(first * _d)..], w.NormF, _normed, logitRows, _d, _d, eps);
            Linear(w.LmHead, _normed, logitRows, _logits, null);
        }
    }

    void Linear(WeightMatrix w, float[] x, int T, float[] y, float[]? bias)
    {
        // Quantized weights with an 8-bit activation path: quantize X once here, not once per worker or row.
        Kernels.Quantized.PreparedActivations? prepared = null;
        if (w.PreferredActivations != Kernels.Quantized.ActivationFormat.F32)
        {
            // (tokens split across the pool; the dequantized copy only for the types that read it)
            _prepared.Prepare(w.PreferredActivations, x, T, w.Cols, dequantize: w is Kernels.Quantized.BlockMatrix, _pool);
            prepared = _prepared;
        }
        _linear.Set(w, x, T, y, prepared);
        // rows are independent: chunks taken in turn, so a thread slowed by a noisy neighbour does not hold up the
        // other (a row's bits do not depend on which thread computes it). Up to 8 chunks per thread, but each worth at
        // least 1 MiB of weight traffic: on small models each chunk's fixed cost showed (tiny model decode 290 → 250
        // tok/s with 8 per thread); whole row blocks for the tiled product when T > 1
        int grain = T > 1 ? NativeWeightMatrix.RowBlock : 16;
        int perThread = (int)Math.Clamp(w.ByteSize * T >> 20, 1, 8);
        int chunk = (w.Rows / (perThread * _pool.ThreadCount) + grain - 1) / grain * grain;
        _pool.ForDynamic(w.Rows, _linear, Math.Max(grain, chunk));
        if (bias != null)
            for (int t = 0; t < T; t++)
                System.Numerics.Tensors.TensorPrimitives.Add(y.AsSpan(t * w.Rows, w.Rows), bias, y.AsSpan(t * w.Rows, w.Rows));
    }

    /// <summary>Managed bytes allocated so far on each thread of this context's pool (tests).</summary>
    internal long[] AllocatedBytesPerThread() => _pool.AllocatedBytesPerThread();

    /// <summary>Stops the worker threads.</summary>
    public void Dispose() => _pool.Dispose();

    /// <summary>Y[T, rows] = X[T, cols] · Wᵀ split by output rows across workers.</summary>
    sealed class LinearJob(int workers, int scratchSize) : IParallelBody
    {
        readonly float[][] _scratch = Enumerable.Range(0, workers).Select(_ => new float[scratchSize]).ToArray();
        WeightMatrix _w = null!;
        float[] _x = null!, _y = null!;
        int _t;
        Kernels.Quantized.PreparedActivations? _prepared;

        public void Set(WeightMatrix w, float[] x, int T, float[] y, Kernels.Quantized.PreparedActivations? prepared) { _w = w; _x = x; _t = T; _y = y; _prepared = prepared; }

        public void Invoke(int start, int end, int worker)
        {
            if (_prepared != null) _w.MatMulPrepared(_prepared, _y.AsSpan(0, _t * _w.Rows), start, end);
            else if (_t == 1) _w.DotRows(_x.AsSpan(0, _w.Cols), _y.AsSpan(start, end - start), start, end);
            else _w.MatMulRows(_x.AsSpan(0, _t * _w.Cols), _t, _y.AsSpan(0, _t * _w.Rows), start, end, _scratch[worker]);
        }
    }

    /// <summary>
    /// Δ = softplus(dt_proj(dt) + b_dt), then the selective scan with D skip and gate, split by channels across
    /// workers: each worker computes Δ for its own channels (rows of dt_proj) right before scanning them.
    /// </summary>
    sealed class ScanJob(int workers, int scratchSize, int dtScratchSize) : IParallelBody
    {
        readonly float[][] _scratch = Enumerable.Range(0, workers).Select(_ => new float[scratchSize]).ToArray();
        readonly float[][] _dtScratch = Enumerable.Range(0, workers).Select(_ => new float[dtScratchSize]).ToArray();
        int _t, _e, _n;
        float[] _x = null!, _delta = null!, _dtBias = null!, _xz = null!, _b = null!, _c = null!, _a = null!, _d = null!, _h = null!, _y = null!, _dt = null!;
        WeightMatrix _dtProj = null!;
        Kernels.Quantized.PreparedActivations? _dtPrepared;

        public void Set(int T, int E, int N, float[] x, float[] delta, float[] dtBias, float[] xz, float[] b, float[] c, float[] a, float[] d, float[] h, float[] y,
            WeightMatrix dtProj, float[] dt, Kernels.Quantized.PreparedActivations? dtPrepared)
        {
            _t = T; _e = E; _n = N; _x = x; _delta = delta; _dtBias = dtBias; _xz = xz; _b = b; _c = c; _a = a; _d = d; _h = h; _y = y;
            _dtProj = dtProj; _dt = dt; _dtPrepared = dtPrepared;
        }

        public void Invoke(int start, int end, int worker)
        {
            // Δ[:, start:end] = dt · W_dt[start:end, :]ᵀ   (what LinearJob would do for these rows)
            int R = _dtProj.Cols;
            if (_dtPrepared != null) _dtProj.MatMulPrepared(_dtPrepared, _delta.AsSpan(0, _t * _e), start, end);
            else if (_t == 1) _dtProj.DotRows(_dt.AsSpan(0, R), _delta.AsSpan(start, end - start), start, end);
            else _dtProj.MatMulRows(_dt.AsSpan(0, _t * R), _t, _delta.AsSpan(0, _t * _e), start, end, _dtScratch[worker]);
            var bias = _dtBias.AsSpan(start, end - start);
            for (int t = 0; t < _t; t++)
            {
                var row = _delta.AsSpan(t * _e + start, end - start);
                System.Numerics.Tensors.TensorPrimitives.Add(row, bias, row);
                Activations.SoftplusInPlace(row);
            }
            SelectiveScan.Forward(_t, _e, _n, start, end, _x, _e, _delta, _xz.AsSpan(_e), 2 * _e, _b, _c, _a, _d, _h, _y, _scratch[worker]);
        }
    }
}
