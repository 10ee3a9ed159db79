using System.Runtime.Intrinsics;

namespace FalconMamba.Kernels.Quantized;

/// <summary>Form of the activations a weight type's fast product consumes (ggml's <c>vec_dot_type</c>).</summary>
public enum ActivationFormat
{
    /// <summary>Plain f32 (f32/f16/bf16 weights and the dequantize-then-dot block types).</summary>
    F32,
    /// <summary>8-bit blocks of 32 with an f16 scale (ggml block_q8_0): used with Q8_0 and Q4_0 weights.</summary>
    Q8_0,
    /// <summary>8-bit super-blocks of 256 with an f32 scale and 16-element sums (ggml block_q8_K): used with K-quants.</summary>
    Q8_K,
}

/// <summary>
/// Activations X [T, Cols] quantized once per product (not once per row or per worker), as llama.cpp does before a
/// quantized matmul (<c>ggml_compute_forward_mul_mat</c> converts src1 to <c>vec_dot_type</c> first). Reused across
/// calls; arrays grow as needed.
/// </summary>
public sealed class PreparedActivations : IParallelBody
{
    /// <summary>The format held.</summary>
    public ActivationFormat Format { get; private set; }
    /// <summary>Rows (tokens).</summary>
    public int T { get; private set; }
    /// <summary>Elements per row.</summary>
    public int Cols { get; private set; }
    /// <summary>Quantized values [T·Cols].</summary>
    public sbyte[] Qs { get; private set; } = [];
    /// <summary>Block scales [T·Cols/32] (Q8_0, the f16 scale widened) or [T·Cols/256] (Q8_K).</summary>
    public float[] D { get; private set; } = [];
    /// <summary>Q8_K only: sums of each 16 quantized values [T·Cols/16].</summary>
    public int[] BSums { get; private set; } = [];

    float[] _dequantized = [];
    bool _hasDequantized;
    float[]? _source;

    /// <summary>
    /// The quantized activations decoded back to f32 (d·q) [T·Cols], for weight types that take a float dot after
    /// dequantizing their row but must see the same rounded activations ggml's integer kernels see
    /// (<see cref="BlockMatrix"/>). Only filled when <c>Prepare</c> was asked to: the integer kernels never read it, and
    /// writing it cost as much as the quantization itself.
    /// </summary>
    public float[] Dequantized => _hasDequantized ? _dequantized
        : throw new InvalidOperationException("these activations were prepared without their dequantized copy (Prepare(..., dequantize: true))");

    /// <summary>Quantizes <paramref name="X"/> [T, cols] into this buffer on the calling thread.</summary>
    public void Prepare(ActivationFormat format, ReadOnlySpan<float> X, int T, int cols, bool dequantize = true)
    {
        Resize(format, T, cols, dequantize);
        for (int t = 0; t < T; t++) QuantizeRow(X.Slice(t * cols, cols), t);
    }

    /// <summary>
    /// Quantizes <paramref name="X"/> [T, cols] (from offset 0) with the tokens split across <paramref name="pool"/>'s
    /// workers (each row is quantized alone, so the result does not depend on the split).
    /// </summary>
    public void Prepare(ActivationFormat format, float[] X, int T, int cols, bool dequantize, WorkerPool pool)
    {
        if (X.Length < (long)T * cols) throw new ArgumentException($"activations hold {X.Length} values, [{T}, {cols}] needs {(long)T * cols}", nameof(X));
        Resize(format, T, cols, dequantize);
        _source = X;
        try { pool.For(T, this); }
        finally { _source = null; }
    }

    void IParallelBody.Invoke(int start, int end, int worker)
    {
        for (int t = start; t < end; t++) QuantizeRow(_source.AsSpan(t * Cols, Cols), t);
    }

    void Resize(ActivationFormat format, int T, int cols, bool dequantize)
    {
        int block = format == ActivationFormat.Q8_K ? 256 : 32;
        if (format == ActivationFormat.F32) throw new ArgumentException("F32 activations need no preparation", nameof(format));
        if (cols % block != 0) throw new ArgumentException($"{format} activations need a row length that is a multiple of {block}, got {cols}", nameof(cols));
        Format = format; this.T = T; Cols = cols;
        int n = T * cols;
        if (Qs.Length < n) Qs = new sbyte[n];
        if (D.Length < n / block) D = new float[n / block];
        if (format == ActivationFormat.Q8_K && BSums.Length < n / 16) BSums = new int[n / 16];
        _hasDequantized = dequantize;
        if (dequantize && _dequantized.Length < n) _dequantized = new float[n];
    }

    void QuantizeRow(ReadOnlySpan<float> x, int t)
    {
        int cols = Cols;
        var q = Qs.AsSpan(t * cols, cols);
        int block = Format == ActivationFormat.Q8_K ? 256 : 32;
        var d = D.AsSpan(t * cols / block, cols / block);
        if (Format == ActivationFormat.Q8_0) ActivationQuantizer.Q8_0(x, q, d);
        else ActivationQuantizer.Q8_K(x, q, d, BSums.AsSpan(t * cols / 16, cols / 16));
        if (!_hasDequantized) return;
        var y = _dequantized.AsSpan(t * cols, cols);
        for (int b = 0; b < d.Length; b++)
            for (int j = b * block; j < (b + 1) * block; j++) y[j] = d[b] * q[j];
    }
}

/// <summary>Quantization of activation rows to 8-bit blocks, matching ggml's CPU path.</summary>
public static class ActivationQuantizer
{
    /// <summary>
    /// ggml-cpu x86 <c>quantize_row_q8_0</c>: per 32 values d = max|x|/127 (stored as f16), q = round-half-even(x·127/max).
    /// <paramref name="d"/> receives the f16-rounded scale as f32 (what the dot product multiplies by). Vectorised as
    /// ggml's AVX2 path is (four 8-lane multiplies by 127/max, vroundps to nearest even), so each value sees exactly
    /// the scalar reference's operations (<see cref="Q8_0Scalar"/>; the tests compare them bit for bit).
    /// </summary>
    public static unsafe void Q8_0(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> d)
    {
        if (!Vector256.IsHardwareAccelerated) { Q8_0Scalar(x, q, d); return; }
        int nb = x.Length / 32;
        if (q.Length < nb * 32 || d.Length < nb) throw new ArgumentException($"Q8_0 of {x.Length} values needs {nb * 32} quantized values and {nb} scales");
        fixed (float* px = x) fixed (sbyte* pq = q)
        {
            for (int b = 0; b < nb; b++)
            {
                float* xb = px + 32 * b;
                var v0 = Vector256.Load(xb); var v1 = Vector256.Load(xb + 8); var v2 = Vector256.Load(xb + 16); var v3 = Vector256.Load(xb + 24);
                var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
                var m4 = Vector128.Max(m.GetLower(), m.GetUpper());
                m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
                float amax = MathF.Max(m4.ToScalar(), m4.GetElement(1));
                d[b] = (float)(Half)(amax / 127f);
                var id = Vector256.Create(amax != 0 ? 127f / amax : 0f);
                var i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * id)); var i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * id));
                var i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * id)); var i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * id));
                // |q| ≤ 127, so the truncating narrows are exact
                Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).Store(pq + 32 * b);
            }
        }
    }

    /// <summary>Scalar reference for <see cref="Q8_0"/>.</summary>
    public static void Q8_0Scalar(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> d)
    {
        for (int b = 0; b < x.Length / 32; b++)
        {
            var xb = x.Slice(32 * b, 32);
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(xb[j]));
            d[b] = (float)(Half)(amax / 127f);
            float id = amax != 0 ? 127f / amax : 0f;
            for (int j = 0; j < 32; j++) q[32 * b + j] = (sbyte)MathF.Round(xb[j] * id, MidpointRounding.ToEven);
        }
    }

    /// <summary>ggml <c>quantize_row_q8_K_ref</c>: per 256 values iscale = −127/max (signed), q = min(127, nearest(iscale·x)), d = 1/iscale.</summary>
    public static void Q8_K(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> d, Span<int> bsums)
    {
        for (int b = 0; b < x.Length / 256; b++)
        {
            var xb = x.Slice(256 * b, 256);
            var qb = q.Slice(256 * b, 256);
            float max = 0, amax = 0;
            for (int j = 0; j < 256; j++)
            {
                float ax = MathF.Abs(xb[j]);
                if (ax > amax) { amax = ax; max = xb[j]; }
            }
            if (amax == 0)
            {
                d[b] = 0;
                qb.Clear();
                bsums.Slice(16 * b, 16).Clear();
                continue;
            }
            float iscale = -127f / max;
            for (int j = 0; j < 256; j++) qb[j] = (sbyte)Math.Min(127, Quantizers.NearestInt(iscale * xb[j]));
            for (int j = 0; j < 16; j++)
            {
                int s = 0;
                for (int i = 0; i < 16; i++) s += qb[16 * j + i];
                bsums[16 * b + j] = s;
            }
            d[b] = 1 / iscale;
        }
    }
}
