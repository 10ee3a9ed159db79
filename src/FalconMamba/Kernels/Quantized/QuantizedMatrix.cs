using System.Runtime.InteropServices;

namespace FalconMamba.Kernels.Quantized;

/// <summary>
/// A weight matrix stored in a ggml block format, used in place (memory-mapped GGUF or a pinned managed array): each
/// row is Cols / block-size consecutive blocks. Types with an 8-bit activation path (<see cref="ActivationFormat"/>)
/// quantize the activations once per product and multiply in integers; the others dequantize one row at a time
/// into scratch and take an f32 dot (never the whole matrix).
/// </summary>
public abstract unsafe class QuantizedMatrix : NativeWeightMatrix
{
    readonly GCHandle _pin;
    [ThreadStatic] static PreparedActivations? t_prepared;
    [ThreadStatic] static float[]? t_row;

    /// <summary>Bytes per row.</summary>
    public int RowBytes { get; }

    /// <summary>Wraps mapped memory (<paramref name="owner"/> keeps it alive).</summary>
    protected QuantizedMatrix(byte* data, int rows, int cols, object? owner, TensorType type) : base(data, rows, cols, owner)
    {
        var (bs, ts) = BlockFormats.Geometry(type);
        if (cols % bs != 0) throw new ArgumentException($"{type} matrix: in_features {cols} is not a multiple of the block size {bs}");
        RowBytes = cols / bs * ts;
    }

    /// <summary>Wraps (and pins) a managed array holding rows × RowBytes bytes.</summary>
    protected QuantizedMatrix(byte[] data, int rows, int cols, TensorType type) : this(Pin(data, out var h), rows, cols, data, type)
    {
        _pin = h;
        if (data.LongLength != (long)rows * RowBytes) throw new ArgumentException($"{type} matrix [{rows}, {cols}] needs {(long)rows * RowBytes} bytes, got {data.LongLength}");
    }

    /// <summary>Frees the pin of a managed array.</summary>
    ~QuantizedMatrix() { if (_pin.IsAllocated) _pin.Free(); }

    /// <inheritdoc />
    public override long ByteSize => (long)Rows * RowBytes;

    /// <summary>Row r's block bytes.</summary>
    public ReadOnlySpan<byte> Row(int r) => new(Data + (long)r * RowBytes, RowBytes);

    /// <summary>Address of row r.</summary>
    protected byte* RowPointer(int r) => Data + (long)r * RowBytes;

    /// <inheritdoc />
    public override void DequantizeRow(int row, Span<float> dst) => BlockFormats.DequantizeRow(Type, Row(row), dst[..Cols]);

    /// <summary>Dot of row r with prepared activation row t (only for types whose format is not F32).</summary>
    protected virtual float DotPrepared(int r, PreparedActivations a, int t) => throw new NotSupportedException($"{Type} has no 8-bit activation path");

    /// <inheritdoc />
    public override void MatMulPrepared(PreparedActivations a, Span<float> Y, int rowStart, int rowEnd)
    {
        if (a.Format != PreferredActivations || a.Cols != Cols) throw new ArgumentException($"{Type} matrix needs {PreferredActivations} activations of {Cols} columns, got {a.Format} × {a.Cols}");
        if (a.T == 1)
        {
            // decode: rows in pairs from the two halves of the range (two sequential weight streams, two independent
            // accumulation chains, each row's arithmetic unchanged — the bf16 kernel does the same, see Dot.Rows)
            int half = (rowEnd - rowStart) / 2;
            for (int j = 0; j < half; j++) DotPrepared2(rowStart + j, rowStart + half + j, a, Y);
            for (int k = rowStart + 2 * half; k < rowEnd; k++) Y[k] = DotPrepared(k, a, 0);
            return;
        }
        int r = rowStart;
        if (HasRowPairs4)
            for (; r + 2 <= rowEnd; r += 2)
            {
                int t = 0;
                for (; t + 4 <= a.T; t += 4) DotPrepared4x2(r, a, t, Y);
                for (; t < a.T; t++) { Y[t * Rows + r] = DotPrepared(r, a, t); Y[t * Rows + r + 1] = DotPrepared(r + 1, a, t); }
            }
        for (; r < rowEnd; r++)
        {
            int t = 0;
            for (; t + 4 <= a.T; t += 4) DotPrepared4(r, a, t, Y);
            for (; t < a.T; t++) Y[t * Rows + r] = DotPrepared(r, a, t);
        }
    }

    /// <summary>Y[r0] and Y[r1] for token 0. The default calls <see cref="DotPrepared"/> twice; Q8_0 and Q4_0 run both rows in one loop.</summary>
    protected virtual void DotPrepared2(int r0, int r1, PreparedActivations a, Span<float> Y)
    {
        Y[r0] = DotPrepared(r0, a, 0);
        Y[r1] = DotPrepared(r1, a, 0);
    }

    /// <summary>
    /// Whether <see cref="DotPrepared4x2"/> runs two rows in one pass: Q8_0 (prefill kernel 72.8 → 78.1 GFLOP/s, one
    /// thread, five interleaved pairs). Q4_0's two-row form spilled accumulators (two rows of unpacked nibbles) and
    /// measured no faster, so Q4_0 keeps one row at a time.
    /// </summary>
    protected virtual bool HasRowPairs4 => false;

    /// <summary>Y[t..t+4, r] and Y[t..t+4, r+1], each exactly as <see cref="DotPrepared4"/> computes it.</summary>
    protected virtual void DotPrepared4x2(int r, PreparedActivations a, int t, Span<float> Y)
    {
        DotPrepared4(r, a, t, Y);
        DotPrepared4(r + 1, a, t, Y);
    }

    /// <summary>
    /// Y[t..t+4, r]: row r with four tokens. The default calls <see cref="DotPrepared"/> four times; Q8_0 and Q4_0 load
    /// (and unpack) each weight block once for the four tokens, with each token's arithmetic unchanged (same bits).
    /// </summary>
    protected virtual void DotPrepared4(int r, PreparedActivations a, int t, Span<float> Y)
    {
        for (int j = 0; j < 4; j++) Y[(t + j) * Rows + r] = DotPrepared(r, a, t + j);
    }

    /// <inheritdoc />
    public override void DotRows(ReadOnlySpan<float> x, Span<float> y, int rowStart, int rowEnd)
    {
        if (PreferredActivations == ActivationFormat.F32)
        {
            var w = (t_row is { } buf && buf.Length >= Cols ? buf : t_row = new float[Cols]).AsSpan(0, Cols);
            for (int r = rowStart; r < rowEnd; r++)
            {
                DequantizeRow(r, w);
                y[r - rowStart] = Dot.F32(w, x);
            }
            return;
        }
        // Standalone call: quantize x here (the model prepares once per product and calls MatMulPrepared instead).
        var a = t_prepared ??= new PreparedActivations();
        a.Prepare(PreferredActivations, x[..Cols], 1, Cols, dequantize: this is BlockMatrix);
        for (int r = rowStart; r < rowEnd; r++) y[r - rowStart] = DotPrepared(r, a, 0);
    }

    /// <inheritdoc />
    public override void MatMulRows(ReadOnlySpan<float> X, int T, Span<float> Y, int rowStart, int rowEnd, Span<float> scratch)
    {
        if (PreferredActivations == ActivationFormat.F32) { base.MatMulRows(X, T, Y, rowStart, rowEnd, scratch); return; }
        var a = t_prepared ??= new PreparedActivations();
        a.Prepare(PreferredActivations, X[..(T * Cols)], T, Cols, dequantize: this is BlockMatrix);
        MatMulPrepared(a, Y, rowStart, rowEnd);
    }

    /// <summary>A matrix of <paramref name="type"/> over mapped memory.</summary>
    public static WeightMatrix Create(TensorType type, byte* data, int rows, int cols, object? owner) => type switch
    {
        TensorType.F32 => new F32Matrix(data, rows, cols, owner),
        TensorType.F16 => new F16Matrix(data, rows, cols, owner),
        TensorType.BF16 => new BF16Matrix(data, rows, cols, owner),
        TensorType.Q8_0 => new Q8_0Matrix(data, rows, cols, owner),
        TensorType.Q4_0 => new Q4_0Matrix(data, rows, cols, owner),
        TensorType.Q4_K => new Q4_KMatrix(data, rows, cols, owner),
        TensorType.Q6_K => new Q6_KMatrix(data, rows, cols, owner),
        TensorType.Q4_1 or TensorType.Q5_0 or TensorType.Q5_1 or TensorType.Q2_K or TensorType.Q3_K or TensorType.Q5_K
            => new BlockMatrix(type, data, rows, cols, owner),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no weight matrix for this type"),
    };

    /// <summary>A matrix of <paramref name="type"/> over a managed byte array (rows × RowBytes), pinned for its lifetime.</summary>
    public static WeightMatrix Create(TensorType type, byte[] data, int rows, int cols) => type switch
    {
        TensorType.F32 => new F32Matrix(MemoryMarshal.Cast<byte, float>(data).ToArray(), rows, cols),
        TensorType.F16 => new F16Matrix(MemoryMarshal.Cast<byte, Half>(data).ToArray(), rows, cols),
        TensorType.BF16 => new BF16Matrix(MemoryMarshal.Cast<byte, ushort>(data).ToArray(), rows, cols),
        TensorType.Q8_0 => new Q8_0Matrix(data, rows, cols),
        TensorType.Q4_0 => new Q4_0Matrix(data, rows, cols),
        TensorType.Q4_K => new Q4_KMatrix(data, rows, cols),
        TensorType.Q6_K => new Q6_KMatrix(data, rows, cols),
        _ => new BlockMatrix(type, data, rows, cols),
    };

    /// <summary>
    /// Re-encodes any matrix as <paramref name="type"/>, row by row (rows in parallel); no f32 copy of the whole matrix.
    /// The result lives in a <see cref="LargePageBuffer"/> (2 MiB pages where the OS gives them), as a mapped file's
    /// weights do, so <c>--quantize</c> at load decodes as fast as the same type read from a GGUF.
    /// </summary>
    public static WeightMatrix Quantize(TensorType type, WeightMatrix source)
    {
        var (bs, ts) = BlockFormats.Geometry(type);
        if (source.Cols % bs != 0) throw new ArgumentException($"{type}: in_features {source.Cols} is not a multiple of the block size {bs}");
        int rowBytes = source.Cols / bs * ts;
        var buffer = new LargePageBuffer((long)source.Rows * rowBytes);
        byte* data = buffer.Pointer;
        Parallel.For(0, source.Rows, () => new float[source.Cols], (r, _, row) =>
        {
            source.DequantizeRow(r, row);
            Quantizers.QuantizeRow(type, row, new Span<byte>(data + (long)r * rowBytes, rowBytes));
            return row;
        }, _ => { });
        return Create(type, data, source.Rows, source.Cols, buffer);
    }

    /// <summary>Quantizes an f32 matrix [rows, cols] to <paramref name="type"/> (llama.cpp reference quantizers).</summary>
    public static WeightMatrix Quantize(TensorType type, ReadOnlySpan<float> values, int rows, int cols)
    {
        var (bs, ts) = BlockFormats.Geometry(type);
        int rowBytes = cols / bs * ts;
        var bytes = new byte[(long)rows * rowBytes];
        for (int r = 0; r < rows; r++) Quantizers.QuantizeRow(type, values.Slice(r * cols, cols), bytes.AsSpan(r * rowBytes, rowBytes));
        return Create(type, bytes, rows, cols);
    }
}

/// <summary>Q8_0 weights; products run on Q8_0 activations.</summary>
public sealed unsafe class Q8_0Matrix : QuantizedMatrix
{
    /// <summary>Wraps mapped memory.</summary>
    public Q8_0Matrix(byte* data, int rows, int cols, object? owner) : base(data, rows, cols, owner, TensorType.Q8_0) { }
    /// <summary>Wraps a managed array.</summary>
    public Q8_0Matrix(byte[] data, int rows, int cols) : base(data, rows, cols, TensorType.Q8_0) { }
    /// <inheritdoc />
    public override TensorType Type => TensorType.Q8_0;
    /// <inheritdoc />
    public override ActivationFormat PreferredActivations => ActivationFormat.Q8_0;
    /// <inheritdoc />
    protected override float DotPrepared(int r, PreparedActivations a, int t)
    {
        fixed (sbyte* q = &a.Qs[t * Cols]) fixed (float* d = &a.D[t * Cols / 32])
            return QuantDot.Q8_0(RowPointer(r), q, d, Cols / 32);
    }
    /// <inheritdoc />
    protected override void DotPrepared4(int r, PreparedActivations a, int t, Span<float> Y)
    {
        fixed (sbyte* q = &a.Qs[t * Cols]) fixed (float* d = &a.D[t * Cols / 32]) fixed (float* y = Y)
            QuantDot.Q8_0x4(RowPointer(r), q, d, Cols / 32, Cols, y + (long)t * Rows + r, Rows);
    }
    /// <inheritdoc />
    protected override bool HasRowPairs4 => true;
    /// <inheritdoc />
    protected override void DotPrepared4x2(int r, PreparedActivations a, int t, Span<float> Y)
    {
        fixed (sbyte* q = &a.Qs[t * Cols]) fixed (float* d = &a.D[t * Cols / 32]) fixed (float* y = Y)
            QuantDot.Rows2Tokens4Q8_0(RowPointer(r), RowPointer(r + 1), q, d, Cols / 32, Cols, y + (long)t * Rows + r, y + (long)t * Rows + r + 1, Rows);
    }
    /// <inheritdoc />
    protected override void DotPrepared2(int r0, int r1, PreparedActivations a, Span<float> Y)
    {
        fixed (sbyte* q = &a.Qs[0]) fixed (float* d = &a.D[0])
            (Y[r0], Y[r1]) = QuantDot.Q8_0Rows2(RowPointer(r0), RowPointer(r1), q, d, Cols / 32);
    }
}

/// <summary>Q4_0 weights; products run on Q8_0 activations.</summary>
public sealed unsafe class Q4_0Matrix : QuantizedMatrix
{
    /// <summary>Wraps mapped memory.</summary>
    public Q4_0Matrix(byte* data, int rows, int cols, object? owner) : base(data, rows, cols, owner, TensorType.Q4_0) { }
    /// <summary>Wraps a managed array.</summary>
    public Q4_0Matrix(byte[] data, int rows, int cols) : base(data, rows, cols, TensorType.Q4_0) { }
    /// <inheritdoc />
    public override TensorType Type => TensorType.Q4_0;
    /// <inheritdoc />
    public override ActivationFormat PreferredActivations => ActivationFormat.Q8_0;
    /// <inheritdoc />
    protected override float DotPrepared(int r, PreparedActivations a, int t)
    {
        fixed (sbyte* q = &a.Qs[t * Cols]) fixed (float* d = &a.D[t * Cols / 32])
            return QuantDot.Q4_0(RowPointer(r), q, d, Cols / 32);
    }
    /// <inheritdoc />
    protected override void DotPrepared4(int r, PreparedActivations a, int t, Span<float> Y)
    {
        fixed (sbyte* q = &a.Qs[t * Cols]) fixed (float* d = &a.D[t * Cols / 32]) fixed (float* y = Y)
            QuantDot.Q4_0x4(RowPointer(r), q, d, Cols / 32, Cols, y + (long)t * Rows + r, Rows);
    }
    /// <inheritdoc />
    protected override void DotPrepared2(int r0, int r1, PreparedActivations a, Span<float> Y)
    {
        fixed (sbyte* q = &a.Qs[0]) fixed (float* d = &a.D[0])
            (Y[r0], Y[r1]) = QuantDot.Q4_0Rows2(RowPointer(r0), RowPointer(r1), q, d, Cols / 32);
    }
}

/// <summary>Q4_K weights; products run on Q8_K activations (scalar integer kernel).</summary>
public sealed unsafe class Q4_KMatrix : QuantizedMatrix
{
    /// <summary>Wraps mapped memory.</summary>
    public Q4_KMatrix(byte* data, int rows, int cols, object? owner) : base(data, rows, cols, owner, TensorType.Q4_K) { }
    /// <summary>Wraps a managed array.</summary>
    public Q4_KMatrix(byte[] data, int rows, int cols) : base(data, rows, cols, TensorType.Q4_K) { }
    /// <inheritdoc />
    public override TensorType Type => TensorType.Q4_K;
    /// <inheritdoc />
    public override ActivationFormat PreferredActivations => ActivationFormat.Q8_K;
    /// <inheritdoc />
    protected override float DotPrepared(int r, PreparedActivations a, int t)
    {
        fixed (sbyte* q = &a.Qs[t * Cols]) fixed (float* d = &a.D[t * Cols / 256]) fixed (int* s = &a.BSums[t * Cols / 16])
            return QuantDot.Q4_K(RowPointer(r), q, d, s, Cols / 256);
    }
}

/// <summary>Q6_K weights; products run on Q8_K activations (scalar integer kernel).</summary>
public sealed unsafe class Q6_KMatrix : QuantizedMatrix
{
    /// <summary>Wraps mapped memory.</summary>
    public Q6_KMatrix(byte* data, int rows, int cols, object? owner) : base(data, rows, cols, owner, TensorType.Q6_K) { }
    /// <summary>Wraps a managed array.</summary>
    public Q6_KMatrix(byte[] data, int rows, int cols) : base(data, rows, cols, TensorType.Q6_K) { }
    /// <inheritdoc />
    public override TensorType Type => TensorType.Q6_K;
    /// <inheritdoc />
    public override ActivationFormat PreferredActivations => ActivationFormat.Q8_K;
    /// <inheritdoc />
    protected override float DotPrepared(int r, PreparedActivations a, int t)
    {
        fixed (sbyte* q = &a.Qs[t * Cols]) fixed (float* d = &a.D[t * Cols / 256])
            return QuantDot.Q6_K(RowPointer(r), q, d, Cols / 256);
    }
    /// <inheritdoc />
    protected override void DotPrepared2(int r0, int r1, PreparedActivations a, Span<float> Y)
    {
        fixed (sbyte* q = &a.Qs[0]) fixed (float* d = &a.D[0])
            (Y[r0], Y[r1]) = QuantDot.Q6_KRows2(RowPointer(r0), RowPointer(r1), q, d, Cols / 256);
    }
}

/// <summary>
/// Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K weights: each row dequantized once into scratch, then f32 dots with the 8-bit
/// activations ggml would use for that type (Q8_0 for Q5_0; Q8_1 ≈ Q8_0 values for Q4_1/Q5_1; Q8_K for K-quants),
/// decoded back to f32. Same numbers as ggml's integer kernels up to f32 summation order (and Q8_1's f16-rounded sum).
/// </summary>
public sealed unsafe class BlockMatrix : QuantizedMatrix
{
    readonly TensorType _type;
    [ThreadStatic] static float[]? t_w;
    /// <summary>Wraps mapped memory.</summary>
    public BlockMatrix(TensorType type, byte* data, int rows, int cols, object? owner) : base(data, rows, cols, owner, type) => _type = type;
    /// <summary>Wraps a managed array.</summary>
    public BlockMatrix(TensorType type, byte[] data, int rows, int cols) : base(data, rows, cols, type) => _type = type;
    /// <inheritdoc />
    public override TensorType Type => _type;
    /// <inheritdoc />
    public override ActivationFormat PreferredActivations =>
        _type is TensorType.Q4_1 or TensorType.Q5_0 or TensorType.Q5_1 ? ActivationFormat.Q8_0 : ActivationFormat.Q8_K;

    /// <inheritdoc />
    public override void MatMulPrepared(PreparedActivations a, Span<float> Y, int rowStart, int rowEnd)
    {
        if (a.Format != PreferredActivations || a.Cols != Cols) throw new ArgumentException($"{Type} matrix needs {PreferredActivations} activations of {Cols} columns, got {a.Format} × {a.Cols}");
        var w = (t_w is { } buf && buf.Length >= Cols ? buf : t_w = new float[Cols]).AsSpan(0, Cols);
        for (int r = rowStart; r < rowEnd; r++)
        {
            DequantizeRow(r, w);
            for (int t = 0; t < a.T; t++) Y[t * Rows + r] = Dot.F32(w, a.Dequantized.AsSpan(t * Cols, Cols));
        }
    }

    /// <inheritdoc />
    protected override float DotPrepared(int r, PreparedActivations a, int t)
    {
        var w = (t_w is { } buf && buf.Length >= Cols ? buf : t_w = new float[Cols]).AsSpan(0, Cols);
        DequantizeRow(r, w);
        return Dot.F32(w, a.Dequantized.AsSpan(t * Cols, Cols));
    }
}
