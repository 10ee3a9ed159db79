namespace FalconMamba.Kernels;

/// <summary>
/// A linear layer's weight W [rows = out_features, cols = in_features], row-major as nn.Linear stores it,
/// in some storage type (f32, bf16, f16, quantized blocks). Products compute in f32: y = W·x.
/// Each storage type is its own subclass (one seam, no if-ladders in kernels); the storage may be a
/// memory-mapped file region used in place, never copied whole into managed memory.
/// Instances are immutable and safe to share across threads.
/// </summary>
public abstract class WeightMatrix
{
    /// <summary>out_features.</summary>
    public int Rows { get; }
    /// <summary>in_features.</summary>
    public int Cols { get; }
    /// <summary>Storage type of the elements.</summary>
    public abstract TensorType Type { get; }
    /// <summary>Bytes of storage read by one full product (what a decode step streams from memory).</summary>
    public abstract long ByteSize { get; }

    /// <summary>Creates a matrix of the given shape.</summary>
    protected WeightMatrix(int rows, int cols)
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), $"weight shape [{rows}, {cols}] must be positive");
        Rows = rows;
        Cols = cols;
    }

    /// <summary>Writes row <paramref name="row"/> as f32 into <paramref name="dst"/> (length Cols).</summary>
    public abstract void DequantizeRow(int row, Span<float> dst);

    /// <summary>y[r - rowStart] = Σ_c W[r, c]·x[c] for r in [rowStart, rowEnd). x: [Cols]; y: [rowEnd - rowStart].</summary>
    public abstract void DotRows(ReadOnlySpan<float> x, Span<float> y, int rowStart, int rowEnd);

    /// <summary>
    /// Y[t, r] = Σ_c W[r, c]·X[t, c] for t in [0, T) and r in [rowStart, rowEnd).
    /// X: [T, Cols] row-major; Y: [T, Rows] row-major (full width; only the given rows are written).
    /// The default dequantizes a row once into <paramref name="scratch"/> (length ≥ Cols) and reuses it for all
    /// T tokens, so weight bytes are read once per chunk instead of once per token.
    /// </summary>
    public virtual void MatMulRows(ReadOnlySpan<float> X, int T, Span<float> Y, int rowStart, int rowEnd, Span<float> scratch)
    {
        var w = scratch[..Cols];
        for (int r = rowStart; r < rowEnd; r++)
        {
            DequantizeRow(r, w);
            for (int t = 0; t < T; t++)
                Y[t * Rows + r] = Dot.F32(w, X.Slice(t * Cols, Cols));
        }
    }

    /// <summary>
    /// Activations this matrix's fast product wants. When not F32 the caller quantizes X once per product into a
    /// <see cref="Quantized.PreparedActivations"/> and calls <see cref="MatMulPrepared"/> from every worker, instead of
    /// each row range re-quantizing X (ggml converts src1 to <c>vec_dot_type</c> once per matmul).
    /// </summary>
    public virtual Quantized.ActivationFormat PreferredActivations => Quantized.ActivationFormat.F32;

    /// <summary>
    /// Y[t, r] for t in [0, a.T) and r in [rowStart, rowEnd) from activations prepared in <see cref="PreferredActivations"/>
    /// format. Y: [a.T, Rows] row-major.
    /// </summary>
    public virtual void MatMulPrepared(Quantized.PreparedActivations a, Span<float> Y, int rowStart, int rowEnd) =>
        throw new NotSupportedException($"{Type} weights take f32 activations");

    /// <summary>Copies the whole matrix into a new f32 array [Rows·Cols] (tests, conversion; not the hot path).</summary>
    public float[] ToFloat32()
    {
        var result = new float[(long)Rows * Cols];
        for (int r = 0; r < Rows; r++) DequantizeRow(r, result.AsSpan(r * Cols, Cols));
        return result;
    }
}
