using FalconMamba.Kernels;
using FalconMamba.Kernels.Quantized;

namespace FalconMamba.Tests.Gguf;

/// <summary>Block formats: quantization error bounds, requantization stability, SIMD kernels against their scalar references.</summary>
public unsafe class BlockFormatTests
{
    static float[] Random(int n, int seed, double scale = 1)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale * (rng.Next(10) == 0 ? 4 : 1))).ToArray();
    }

    /// <summary>
    /// Max error of dequantize(quantize(x)) relative to the block's max |x|: Q8_0 rounds to 1/127 steps (≤ 1/254 + f16 scale),
    /// Q4_0 to 1/8 steps on the asymmetric grid −8..7 (the largest element sits on −8, so an element of the opposite sign
    /// near the max clamps at 7: ≤ 1/8), Q4_K to sub-block steps (4 bits over max−min, with 6-bit scale/min codes), Q6_K 6 bits.
    /// </summary>
    [Theory]
    [InlineData(TensorType.Q8_0, 0.0045)]
    [InlineData(TensorType.Q4_0, 0.13)]
    [InlineData(TensorType.Q4_K, 0.12)]
    [InlineData(TensorType.Q6_K, 0.035)]
    [InlineData(TensorType.F16, 0.0005)]
    [InlineData(TensorType.BF16, 0.004)]
    public void QuantizeDequantizeErrorAndStability(TensorType type, double bound)
    {
        const int n = 1024;
        var x = Random(n, (int)type);
        int rb = (int)BlockFormats.RowBytes(type, n);
        var q = new byte[rb];
        Quantizers.QuantizeRow(type, x, q);
        var y = new float[n];
        BlockFormats.DequantizeRow(type, q, y);
        double worst = 0;
        int bs = BlockFormats.Geometry(type).BlockSize;
        int group = Math.Max(bs, 32);
        for (int b = 0; b < n / group; b++)
        {
            double amax = 0;
            for (int j = 0; j < group; j++) amax = Math.Max(amax, Math.Abs(x[b * group + j]));
            for (int j = 0; j < group; j++) worst = Math.Max(worst, Math.Abs(x[b * group + j] - y[b * group + j]) / amax);
        }
        // requantizing the dequantized values reproduces them (the grid is a fixed point up to the f16 scale rounding)
        var q2 = new byte[rb];
        Quantizers.QuantizeRow(type, y, q2);
        var y2 = new float[n];
        BlockFormats.DequantizeRow(type, q2, y2);
        double drift = 0, scale = y.Max(Math.Abs);
        for (int i = 0; i < n; i++) drift = Math.Max(drift, Math.Abs(y2[i] - y[i]) / scale);
        int sameBytes = q.Zip(q2).Count(p => p.First == p.Second);
        TestContext.Current.TestOutputHelper?.WriteLine($"{type}: max|x − deq(q(x))|/block max = {worst:E2}; requantize drift {drift:E2}, {sameBytes}/{rb} bytes unchanged");
        Assert.True(worst <= bound, $"{type}: error {worst:E2} > {bound}");
        Assert.True(drift <= bound / 4, $"{type}: requantization drift {drift:E2}");
    }

    /// <summary>Hand-built blocks decoded element by element: Q4_0's nibble order and Q6_K's trailing scale (pitfall 28).</summary>
    [Fact]
    public void Q4_0NibbleOrderAndQ6_KScaleAtEnd()
    {
        // Q4_0: d = 1, qs[j] = (j & 15) | ((15 − j) << 4) → y[j] = j − 8, y[j+16] = 7 − j (pitfall 28)
        var b = new byte[18];
        BitConverter.TryWriteBytes(b.AsSpan(0), BitConverter.HalfToUInt16Bits((Half)1));
        for (int j = 0; j < 16; j++) b[2 + j] = (byte)(j | ((15 - j) << 4));
        var y = new float[32];
        BlockFormats.DequantizeRow(TensorType.Q4_0, b, y);
        for (int j = 0; j < 16; j++) { Assert.Equal(j - 8, y[j]); Assert.Equal(7 - j, y[j + 16]); }
        // Q6_K: all quants 32 (value 0) except element 5 → 33; scale[0] = 3, d = 0.5 at offset 208
        var k = new byte[210];
        for (int i = 0; i < 64; i++) k[i] = 0x00;
        for (int i = 0; i < 32; i++) k[128 + i] = 0xAA; // high bits 2 → +32 for all four quarter-rows (first half)
        for (int i = 0; i < 32; i++) k[160 + i] = 0xAA;
        for (int i = 64; i < 128; i++) k[i] = 0x00;
        k[5] = 0x01;
        for (int i = 0; i < 16; i++) k[192 + i] = 3;
        BitConverter.TryWriteBytes(k.AsSpan(208), BitConverter.HalfToUInt16Bits((Half)0.5f));
        var z = new float[256];
        BlockFormats.DequantizeRow(TensorType.Q6_K, k, z);
        for (int i = 0; i < 256; i++) Assert.Equal(i == 5 ? 1.5f : 0f, z[i]);
    }

    [Fact]
    public void SimdDotsMatchScalarReferences()
    {
        var rng = new Random(7);
        double worst = 0;
        for (int trial = 0; trial < 200; trial++)
        {
            int nb = rng.Next(1, 40);      // blocks of 32: odd counts and single blocks exercise every loop tail
            int n = nb * 32;
            var w = Random(n, trial, 2);
            var x = Random(n, trial + 1000, 3);
            var act = new PreparedActivations();
            act.Prepare(ActivationFormat.Q8_0, x, 1, n);
            foreach (var type in new[] { TensorType.Q8_0, TensorType.Q4_0 })
            {
                var q = new byte[BlockFormats.RowBytes(type, n)];
                Quantizers.QuantizeRow(type, w, q);
                fixed (byte* pw = q) fixed (sbyte* pa = act.Qs) fixed (float* pd = act.D)
                {
                    float fast = type == TensorType.Q8_0 ? QuantDot.Q8_0(pw, pa, pd, nb) : QuantDot.Q4_0(pw, pa, pd, nb);
                    float slow = type == TensorType.Q8_0 ? QuantDot.Q8_0Scalar(pw, pa, pd, nb) : QuantDot.Q4_0Scalar(pw, pa, pd, nb);
                    // both sum exact integer block dots; only the f32 accumulation order differs
                    double scale = 0;
                    for (int b = 0; b < nb; b++) scale += Math.Abs(pd[b] * (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(q, b * (type == TensorType.Q8_0 ? 34 : 18)))) * 32 * 127 * 127;
                    worst = Math.Max(worst, Math.Abs(fast - slow) / scale);
                    Assert.True(Math.Abs(fast - slow) <= 1e-6 * scale, $"{type} nb={nb}: {fast} vs {slow}");
                }
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"SIMD vs scalar Q8_0/Q4_0 dots over 200 random lengths: max |Δ| / Σ|block bound| = {worst:E2} (Avx2 {System.Runtime.Intrinsics.X86.Avx2.IsSupported}, AvxVnni {System.Runtime.Intrinsics.X86.AvxVnni.IsSupported})");
    }

    [Fact]
    public void KQuantSimdMatchesScalar()
    {
        for (int trial = 0; trial < 40; trial++)
        {
            int nb = 1 + trial % 5, n = 256 * nb;
            var q = new byte[BlockFormats.RowBytes(TensorType.Q4_K, n)];
            Quantizers.QuantizeRow(TensorType.Q4_K, Random(n, trial, 2), q);
            var act = new PreparedActivations();
            act.Prepare(ActivationFormat.Q8_K, Random(n, trial + 77, 3), 1, n);
            fixed (byte* pw = q) fixed (sbyte* pa = act.Qs) fixed (float* pd = act.D) fixed (int* ps = act.BSums)
                Assert.Equal(QuantDot.Q4_KScalar(pw, pa, pd, ps, nb), QuantDot.Q4_K(pw, pa, pd, ps, nb));   // same integer sums → identical
            var q6 = new byte[BlockFormats.RowBytes(TensorType.Q6_K, n)];
            Quantizers.QuantizeRow(TensorType.Q6_K, Random(n, trial + 5, 2), q6);
            fixed (byte* pw = q6) fixed (sbyte* pa = act.Qs) fixed (float* pd = act.D) fixed (int* ps = act.BSums)
            {
                float slow = QuantDot.Q6_KScalar(pw, pa, pd, nb), fast = QuantDot.Q6_K(pw, pa, pd, nb);
                Assert.True(Math.Abs(slow - fast) <= 1e-6 * Math.Max(1, Math.Abs(slow)), $"Q6_K nb={nb}: {fast} vs {slow}");
            }
        }
    }

    /// <summary>The quantized products (prepared once) against dequantized-weight f32 products on the same 8-bit activations.</summary>
    /// <summary>
    /// The vectorised Q8_0 activation quantizer equals its scalar reference bit for bit (scales and values), on random
    /// blocks, an all-zero block, and values that land exactly on .5 after scaling (round half to even); the pooled
    /// Prepare equals the serial one, and the dequantized copy is refused when it was not asked for.
    /// </summary>
    [Fact]
    public void ActivationQuantizerMatchesScalarAndPoolSplit()
    {
        const int cols = 256, T = 7;
        var x = Random(T * cols, 41, 3);
        Array.Clear(x, 64, 32);                                            // a zero block: d = 0, q = 0
        for (int j = 0; j < 32; j++) x[128 + j] = j == 0 ? 127f : j - 15.5f; // max 127 → id = 1: exact ties at ±k.5
        var q = new sbyte[x.Length]; var d = new float[x.Length / 32];
        var qs = new sbyte[x.Length]; var ds = new float[x.Length / 32];
        ActivationQuantizer.Q8_0(x, q, d);
        ActivationQuantizer.Q8_0Scalar(x, qs, ds);
        Assert.Equal(ds, d);
        Assert.Equal(qs, q);
        // ties to even: −14.5 → −14, −13.5 → −14, 0.5 → 0, 1.5 → 2
        Assert.Equal(new sbyte[] { -14, -14, 0, 2 }, new[] { q[129], q[130], q[144], q[145] });
        using var pool = new WorkerPool(3);
        var serial = new PreparedActivations(); serial.Prepare(ActivationFormat.Q8_0, x, T, cols);
        var pooled = new PreparedActivations(); pooled.Prepare(ActivationFormat.Q8_0, x, T, cols, dequantize: false, pool);
        Assert.Equal(serial.Qs.AsSpan(0, T * cols).ToArray(), pooled.Qs.AsSpan(0, T * cols).ToArray());
        Assert.Equal(serial.D.AsSpan(0, T * cols / 32).ToArray(), pooled.D.AsSpan(0, T * cols / 32).ToArray());
        Assert.Throws<InvalidOperationException>(() => pooled.Dequantized);
        Assert.Equal(serial.D[0] * serial.Qs[5], serial.Dequantized[5]);
    }

    [Theory]
    [InlineData(TensorType.Q8_0, 96)]
    [InlineData(TensorType.Q4_0, 160)]
    [InlineData(TensorType.Q4_K, 512)]
    [InlineData(TensorType.Q6_K, 256)]
    public void MatMulPreparedMatchesDequantizedProduct(TensorType type, int cols)
    {
        int rows = 37, T = 9;   // two groups of four tokens (the shared-weight-load kernels) and one left over
        var wv = Random(rows * cols, 3, 0.5);
        var m = QuantizedMatrix.Quantize(type, wv, rows, cols);
        var X = Random(T * cols, 9, 2);
        var act = new PreparedActivations();
        act.Prepare(m.PreferredActivations, X, T, cols);
        var Y = new float[T * rows];
        m.MatMulPrepared(act, Y, 0, rows);
        var row = new float[cols];
        double worst = 0;
        for (int r = 0; r < rows; r++)
        {
            m.DequantizeRow(r, row);
            for (int t = 0; t < T; t++)
            {
                double exact = 0, mag = 0;
                for (int c = 0; c < cols; c++) { exact += (double)row[c] * act.Dequantized[t * cols + c]; mag += Math.Abs((double)row[c] * act.Dequantized[t * cols + c]); }
                worst = Math.Max(worst, Math.Abs(Y[t * rows + r] - exact) / mag);
            }
        }
        // one token at a time through MatMulPrepared (the decode path: rows in pairs from the two halves of the range,
        // split here as two workers would) gives the same bits as the four-token prefill kernel
        for (int t = 0; t < T; t++)
        {
            var one = new PreparedActivations();
            one.Prepare(m.PreferredActivations, X.AsSpan(t * cols, cols), 1, cols);
            var y1t = new float[rows];
            m.MatMulPrepared(one, y1t, 0, 19);
            m.MatMulPrepared(one, y1t, 19, rows);
            for (int r = 0; r < rows; r++) Assert.True(Y[t * rows + r] == y1t[r], $"{type} decode token {t} row {r}: {y1t[r]} vs {Y[t * rows + r]}");
        }
        // DotRows (standalone, one token, quantizes x itself) gives the prepared path's bits for every token
        var y1 = new float[rows];
        for (int t = 0; t < T; t++)
        {
            m.DotRows(X.AsSpan(t * cols, cols), y1, 0, rows);
            for (int r = 0; r < rows; r++) Assert.True(Y[t * rows + r] == y1[r], $"{type} token {t} row {r}: {Y[t * rows + r]} vs {y1[r]}");
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{type} [{rows}×{cols}]·[{T} tokens]: max |Δ|/Σ|terms| vs f64 dot of dequantized operands = {worst:E2}");
        Assert.True(worst < 1e-5, $"{type}: {worst:E2}");
    }
}
