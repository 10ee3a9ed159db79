using System.Numerics.Tensors;

namespace FalconMamba.Kernels.Bnb;

/// <summary>
/// A bitsandbytes 4-bit (FP4 or NF4) weight as transformers saves it (SPEC.md §6): packed codes, two per byte with the
/// EVEN element in the HIGH nibble; one absmax per block of <see cref="BlockSize"/> elements of the flattened
/// row-major weight (optionally itself 8-bit quantized: "double quantization"); a 16-entry code table. Dequantized
/// values are rounded to the original dtype (bitsandbytes returns the weight in that dtype before the product).
/// Runs from the mapped bytes: a row is dequantized into a small buffer and dotted, never the whole matrix.
/// </summary>
public sealed unsafe class Bnb4BitMatrix : WeightMatrix
{
    readonly byte* _codes;
    readonly float[] _absmax;      // [n / blocksize] block scales, already de-double-quantized
    readonly float[] _quantMap;    // [16]
    readonly Func<float, float> _round;
    [ThreadStatic] static float[]? _rowBuffer;

    /// <summary>"fp4" or "nf4".</summary>
    public string QuantType { get; }
    /// <summary>Elements per absmax block (64 in transformers' default).</summary>
    public int BlockSize { get; }
    /// <summary>Keeps the mapping alive.</summary>
    public object? Owner { get; }

    /// <summary>Wraps packed codes at <paramref name="codes"/> (⌈rows·cols/2⌉ bytes).</summary>
    public Bnb4BitMatrix(byte* codes, int rows, int cols, string quantType, int blockSize, float[] absmax, float[] quantMap, string dtype, object? owner)
        : base(rows, cols)
    {
        if (quantMap.Length != 16) throw new ArgumentException($"quant_map has {quantMap.Length} entries, expected 16");
        long n = (long)rows * cols;
        if (blockSize <= 0 || absmax.Length != (n + blockSize - 1) / blockSize)
            throw new ArgumentException($"absmax has {absmax.Length} blocks, expected ⌈{n}/{blockSize}⌉");
        _codes = codes;
        _absmax = absmax;
        _quantMap = quantMap;
        QuantType = quantType;
        BlockSize = blockSize;
        Owner = owner;
        _round = dtype switch
        {
            "float16" => v => (float)(Half)v,
            "bfloat16" => v => BitConverter.UInt32BitsToSingle((uint)Formats.Safetensors.BFloat16.FromSingle(v) << 16),
            _ => v => v,
        };
    }

    /// <inheritdoc />
    public override TensorType Type => QuantType == "nf4" ? TensorType.NF4 : TensorType.FP4;
    /// <inheritdoc />
    public override long ByteSize => ((long)Rows * Cols + 1) / 2 + 4L * _absmax.Length;

    /// <summary>Scalar reference of the bitsandbytes dequantization (element by element).</summary>
    public float DequantizeScalar(long k)
    {
        byte b = _codes[k >> 1];
        int code = (k & 1) == 0 ? b >> 4 : b & 0x0F;
        return _round(_quantMap[code] * _absmax[k / BlockSize]);
    }

    /// <inheritdoc />
    public override void DequantizeRow(int row, Span<float> dst)
    {
        long k0 = (long)row * Cols;
        for (int j = 0; j < Cols; j++)
        {
            long k = k0 + j;
            byte b = _codes[k >> 1];
            int code = (k & 1) == 0 ? b >> 4 : b & 0x0F;
            dst[j] = _round(_quantMap[code] * _absmax[k / BlockSize]);
        }
    }

    /// <inheritdoc />
    public override void DotRows(ReadOnlySpan<float> x, Span<float> y, int rowStart, int rowEnd)
    {
        var buf = _rowBuffer is { } b && b.Length >= Cols ? b : _rowBuffer = new float[Cols];
        var w = buf.AsSpan(0, Cols);
        for (int r = rowStart; r < rowEnd; r++)
        {
            DequantizeRow(r, w);
            y[r - rowStart] = TensorPrimitives.Dot(w, x);
        }
    }
}
