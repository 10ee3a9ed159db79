using System.Runtime.InteropServices;

namespace FalconMamba.Kernels;

/// <summary>
/// Base for matrices whose bytes live at a fixed address: a memory-mapped file region (used in place) or a
/// pinned managed array. <see cref="Owner"/> keeps the mapping or array alive as long as the matrix is.
/// </summary>
public abstract unsafe class NativeWeightMatrix : WeightMatrix
{
    /// <summary>Start of the row-major storage.</summary>
    protected readonly byte* Data;
    /// <summary>Keeps the backing memory alive.</summary>
    public object? Owner { get; }

    /// <summary>Wraps <paramref name="data"/> (rows × cols elements of this type).</summary>
    protected NativeWeightMatrix(byte* data, int rows, int cols, object? owner) : base(rows, cols)
    {
        Data = data;
        Owner = owner;
    }

    /// <summary>Start of the storage (for copying the matrix elsewhere, see <c>Model.WeightResidency</c>).</summary>
    internal byte* DataPointer => Data;

    /// <summary>Rows widened to f32 at a time for the tiled product (a multiple of <see cref="MatMul.TileRows"/>).</summary>
    public const int RowBlock = 24;

    /// <summary>
    /// Tiled prefill product: widens a block of up to <see cref="RowBlock"/> rows to f32 once into
    /// <paramref name="scratch"/> (as many rows as it holds, at least one) and multiplies it with all T tokens
    /// (<see cref="MatMul.Block(ReadOnlySpan{float}, int, int, ReadOnlySpan{float}, int, Span{float}, int)"/>),
    /// so each weight byte is read and converted once per chunk.
    /// </summary>
    public override void MatMulRows(ReadOnlySpan<float> X, int T, Span<float> Y, int rowStart, int rowEnd, Span<float> scratch)
    {
        int cols = Cols;
        int rb = Math.Clamp(scratch.Length / cols, 1, RowBlock);
        for (int r0 = rowStart; r0 < rowEnd; r0 += rb)
        {
            int n = Math.Min(rb, rowEnd - r0);
            for (int i = 0; i < n; i++) DequantizeRow(r0 + i, scratch.Slice(i * cols, cols));
            MatMul.Block(scratch[..(n * cols)], n, cols, X, T, Y[r0..], Rows);
        }
    }

    /// <summary>Pins a managed array for the lifetime of the matrix and returns its address.</summary>
    protected static byte* Pin<T>(T[] array, out GCHandle handle) where T : unmanaged
    {
        handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        return (byte*)handle.AddrOfPinnedObject();
    }
}

/// <summary>f32 weights.</summary>
public sealed unsafe class F32Matrix : NativeWeightMatrix
{
    readonly GCHandle _pin;
    /// <summary>Wraps mapped memory.</summary>
    public F32Matrix(byte* data, int rows, int cols, object? owner) : base(data, rows, cols, owner) { }
    /// <summary>Wraps (and pins) a managed array [rows·cols].</summary>
    public F32Matrix(float[] data, int rows, int cols) : this(Pin(data, out var h), rows, cols, data)
    {
        if (data.Length != (long)rows * cols) throw new ArgumentException($"f32 matrix data has {data.Length} elements, expected {rows}×{cols}");
        _pin = h;
    }
    /// <inheritdoc />
    public override TensorType Type => TensorType.F32;
    /// <inheritdoc />
    public override long ByteSize => (long)Rows * Cols * 4;
    /// <summary>Row r as a span over the storage.</summary>
    public ReadOnlySpan<float> Row(int r) => new((float*)Data + (long)r * Cols, Cols);
    /// <inheritdoc />
    public override void DequantizeRow(int row, Span<float> dst) => Row(row).CopyTo(dst);
    /// <inheritdoc />
    public override void DotRows(ReadOnlySpan<float> x, Span<float> y, int rowStart, int rowEnd)
    {
        if (x.Length < Cols || y.Length < rowEnd - rowStart) throw new ArgumentException("activation or output span too short");
        fixed (float* px = x)
        fixed (float* py = y)
            Dot.RowsF32((float*)Data + (long)rowStart * Cols, Cols, px, py, rowEnd - rowStart);
    }
    /// <summary>Tiled product straight on the stored rows (no widening needed), <see cref="NativeWeightMatrix.RowBlock"/> rows at a time.</summary>
    public override void MatMulRows(ReadOnlySpan<float> X, int T, Span<float> Y, int rowStart, int rowEnd, Span<float> scratch)
    {
        for (int r0 = rowStart; r0 < rowEnd; r0 += RowBlock)
        {
            int n = Math.Min(RowBlock, rowEnd - r0);
            MatMul.Block(new ReadOnlySpan<float>((float*)Data + (long)r0 * Cols, n * Cols), n, Cols, X, T, Y[r0..], Rows);
        }
    }
    /// <summary>Unpins a managed array.</summary>
    ~F32Matrix() { if (_pin.IsAllocated) _pin.Free(); }
}

/// <summary>bf16 weights: the high 16 bits of an f32 (SPEC.md §5).</summary>
public sealed unsafe class BF16Matrix : NativeWeightMatrix
{
    readonly GCHandle _pin;
    /// <summary>Wraps mapped memory.</summary>
    public BF16Matrix(byte* data, int rows, int cols, object? owner) : base(data, rows, cols, owner) { }
    /// <summary>Wraps (and pins) a managed array of raw bf16 bits [rows·cols].</summary>
    public BF16Matrix(ushort[] data, int rows, int cols) : this(Pin(data, out var h), rows, cols, data) => _pin = h;
    /// <inheritdoc />
    public override TensorType Type => TensorType.BF16;
    /// <inheritdoc />
    public override long ByteSize => (long)Rows * Cols * 2;
    /// <summary>Row r's raw bf16 bits.</summary>
    public ReadOnlySpan<ushort> Row(int r) => new((ushort*)Data + (long)r * Cols, Cols);
    /// <inheritdoc />
    public override void DequantizeRow(int row, Span<float> dst) => Dot.BF16ToF32(Row(row), dst);
    /// <inheritdoc />
    public override void DotRows(ReadOnlySpan<float> x, Span<float> y, int rowStart, int rowEnd)
    {
        if (x.Length < Cols) throw new ArgumentException($"activations have {x.Length} values, the matrix {Cols} columns", nameof(x));
        Dot.Rows<Bf16>((ushort*)Data, Cols, x, y, rowStart, rowEnd);
    }
    /// <summary>Unpins a managed array.</summary>
    ~BF16Matrix() { if (_pin.IsAllocated) _pin.Free(); }
}

/// <summary>IEEE binary16 weights.</summary>
public sealed unsafe class F16Matrix : NativeWeightMatrix
{
    readonly GCHandle _pin;
    /// <summary>
    /// No value is ±inf or NaN, checked once here (a vectorised pass over the matrix, rows in parallel: about 1.3 s for
    /// the 7B's 13 GiB from the page cache), so decode can widen with 3 operations instead of 7 against pre-scaled
    /// activations (F16 decode is bound by the widening, not by memory, without F16C). A matrix that holds inf/NaN keeps
    /// the exact general widening.
    /// </summary>
    readonly bool _finite;
    [ThreadStatic] static float[]? t_scaled;
    /// <summary>Wraps mapped memory.</summary>
    public F16Matrix(byte* data, int rows, int cols, object? owner) : base(data, rows, cols, owner) => _finite = CheckFinite(data, rows, cols);
    /// <summary>Wraps (and pins) a managed array [rows·cols].</summary>
    public F16Matrix(Half[] data, int rows, int cols) : this(Pin(data, out var h), rows, cols, data) => _pin = h;

    static bool CheckFinite(byte* data, int rows, int cols)
    {
        long p = (long)data;
        int blocks = Math.Max(1, Math.Min(rows, 64));
        int bad = 0;
        Parallel.For(0, blocks, k =>
        {
            long r0 = (long)rows * k / blocks, r1 = (long)rows * (k + 1) / blocks;
            if (!Dot.AllFiniteF16((ushort*)p + r0 * cols, (r1 - r0) * cols)) Interlocked.Exchange(ref bad, 1);
        });
        return bad == 0;
    }
    /// <inheritdoc />
    public override TensorType Type => TensorType.F16;
    /// <inheritdoc />
    public override long ByteSize => (long)Rows * Cols * 2;
    /// <summary>Row r.</summary>
    public ReadOnlySpan<Half> Row(int r) => new((Half*)Data + (long)r * Cols, Cols);
    /// <inheritdoc />
    public override void DequantizeRow(int row, Span<float> dst) => Dot.F16ToF32(Row(row), dst);
    /// <inheritdoc />
    public override void DotRows(ReadOnlySpan<float> x, Span<float> y, int rowStart, int rowEnd)
    {
        if (x.Length < Cols) throw new ArgumentException($"activations have {x.Length} values, the matrix {Cols} columns", nameof(x));
        if (!_finite) { Dot.Rows<F16Bits>((ushort*)Data, Cols, x, y, rowStart, rowEnd); return; }
        // x·2^112 once per call (shared by every row), so each widening needs no multiply: exact, and the same bits,
        // while |x| < 2^15 (else the finite widening with its multiply)
        var xs = (t_scaled is { } b && b.Length >= Cols ? b : t_scaled = new float[Cols]).AsSpan(0, Cols);
        if (System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(x[..Cols]) is var m && MathF.Abs(m) < 32768f)
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply(x[..Cols], 5.192296858534828e33f, xs);   // 2^112
            Dot.Rows<F16ScaledBits>((ushort*)Data, Cols, xs, y, rowStart, rowEnd);
        }
        else Dot.Rows<F16FiniteBits>((ushort*)Data, Cols, x, y, rowStart, rowEnd);
    }
    /// <summary>Whether decode uses the finite-only widening (no inf/NaN in the matrix).</summary>
    internal bool AllFinite => _finite;
    /// <summary>Unpins a managed array.</summary>
    ~F16Matrix() { if (_pin.IsAllocated) _pin.Free(); }
}
