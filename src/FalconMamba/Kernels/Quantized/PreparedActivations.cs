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
public sealed class PreparedActivations
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

    /// <summary>
    /// The quantized activations decoded back to f32 (d·q) [T·Cols], for weight types that take a float dot after
    /// dequantizing their row but must see the same rounded activations ggml's integer kernels see.
    /// </summary>
    public float[] Dequantized { get; private set; } = [];

    /// <summary>Quantizes <paramref name="X"/> [T, cols] into this buffer.</summary>
    public void Prepare(ActivationFormat format, ReadOnlySpan<float> X, int T, int cols)
    {
        int block = format == ActivationFormat.Q8_K ? 256 : 32;
        if (format == ActivationFormat.F32) throw new ArgumentException("F32 activations need no preparation", nameof(format));
        if (cols % block != 0) throw new ArgumentException($"{format} activations need a row length that is a multiple of {block}, got {cols}", nameof(cols));
        Format = format; this.T = T; Cols = cols;
        int n = T * cols;
        if (Qs.Length < n) Qs = new sbyte[n];
        if (D.Length < n / block) D = new float[n / block];
        if (format == ActivationFormat.Q8_K && BSums.Length < n / 16) BSums = new int[n / 16];
        if (Dequantized.Length < n) Dequantized = new float[n];
        for (int t = 0; t < T; t++)
        {
            var x = X.Slice(t * cols, cols);
            var q = Qs.AsSpan(t * cols, cols);
            if (format == ActivationFormat.Q8_0) ActivationQuantizer.Q8_0(x, q, D.AsSpan(t * cols / 32, cols / 32));
            else ActivationQuantizer.Q8_K(x, q, D.AsSpan(t * cols / 256, cols / 256), BSums.AsSpan(t * cols / 16, cols / 16));
        }
        for (int i = 0; i < n; i++) Dequantized[i] = D[i / block] * Qs[i];
    }
}

/// <summary>Quantization of activation rows to 8-bit blocks, matching ggml's CPU path.</summary>
public static class ActivationQuantizer
{
    /// <summary>
    /// ggml-cpu x86 <c>quantize_row_q8_0</c>: per 32 values d = max|x|/127 (stored as f16), q = round-half-even(x·127/max).
    /// <paramref name="d"/> receives the f16-rounded scale as f32 (what the dot product multiplies by).
    /// </summary>
    public static void Q8_0(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> d)
    {
        for (int b = 0; b < x.Length / 32; b++)
        {
            var xb = x.Slice(32 * b, 32);
            float amax = System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(xb);
            amax = MathF.Abs(amax);
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
