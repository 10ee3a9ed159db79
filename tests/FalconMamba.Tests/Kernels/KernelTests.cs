using FalconMamba.Kernels;

namespace FalconMamba.Tests.Kernels;

/// <summary>
/// Each fast kernel against its scalar (or float64) reference on random shapes, including lengths that are not a
/// multiple of the vector width (8) or of the register tile (3 rows × 4 tokens), and the bit-identity the model
/// relies on: a product gives the same bits in the tiled prefill, the decode kernel and any thread split.
/// </summary>
public class KernelTests
{
    static ITestOutputHelper? Log => TestContext.Current.TestOutputHelper;

    static float[] Rand(Random rng, int n, double scale = 1) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale); return a; }

    /// <summary>
    /// Float64 dot and the bound on f32 rounding for it: a sum of K products in f32 (any order, FMA or not) is off
    /// by at most ~K·2⁻²⁴·Σ|w·x| (Higham, Accuracy and Stability, §3.1); we allow 2× that.
    /// </summary>
    static (double Value, double Tol) Exact(ReadOnlySpan<float> w, ReadOnlySpan<float> x)
    {
        double s = 0, a = 0;
        for (int i = 0; i < x.Length; i++) { s += (double)w[i] * x[i]; a += Math.Abs((double)w[i] * x[i]); }
        return (s, 2 * (x.Length + 2) * Math.Pow(2, -24) * a + 1e-30);
    }

    [Fact]
    public void TiledMatMulMatchesFloat64OnRaggedShapes()
    {
        var rng = new Random(11);
        double worst = 0;
        int cases = 0;
        foreach (int rows in new[] { 1, 2, 3, 4, 5, 7, 24, 25 })
            foreach (int K in new[] { 1, 7, 8, 9, 31, 64, 100 })
                foreach (int T in new[] { 1, 3, 4, 5, 9 })
                {
                    var w = Rand(rng, rows * K);
                    var x = Rand(rng, T * K);
                    int ldy = rows + 3;
                    var y = new float[T * ldy];
                    var sentinel = -12345f;
                    Array.Fill(y, sentinel);
                    MatMul.Block(w, rows, K, x, T, y, ldy);
                    var ys = new float[T * ldy];
                    MatMul.Scalar(w, rows, K, x, T, ys, ldy);
                    for (int t = 0; t < T; t++)
                    {
                        for (int r = 0; r < rows; r++)
                        {
                            var (v, tol) = Exact(w.AsSpan(r * K, K), x.AsSpan(t * K, K));
                            double err = Math.Abs(y[t * ldy + r] - v);
                            Assert.True(err <= tol, $"rows {rows} K {K} T {T}: y[{t},{r}] = {y[t * ldy + r]}, float64 {v}, error {err:E2} > {tol:E2}");
                            Assert.True(Math.Abs(ys[t * ldy + r] - v) <= tol, "scalar reference off");
                            worst = Math.Max(worst, err / tol);
                        }
                        for (int r = rows; r < ldy; r++) Assert.Equal(sentinel, y[t * ldy + r]); // stride gap untouched
                    }
                    cases++;
                }
        Log?.WriteLine($"{cases} shapes; worst error / bound = {worst:F3}");
    }

    static WeightMatrix Make(string type, float[] values, int rows, int cols) => type switch
    {
        "F32" => new F32Matrix(values, rows, cols),
        "BF16" => new BF16Matrix(values.Select(v => (ushort)(BitConverter.SingleToInt32Bits(v) >> 16)).ToArray(), rows, cols),
        "F16" => new F16Matrix(values.Select(v => (Half)v).ToArray(), rows, cols),
        _ => throw new ArgumentException(type),
    };

    [Theory]
    [InlineData("F32")]
    [InlineData("BF16")]
    [InlineData("F16")]
    public void PrefillDecodeAndThreadSplitsGiveTheSameBits(string type)
    {
        var rng = new Random(5);
        foreach (var (rows, cols, T) in new[] { (50, 67, 7), (31, 8, 4), (9, 129, 13), (4, 3, 2), (21, 2053, 3) }) // 2053 > Dot.OneRowMaxCols: the 8/4-row decode path, with a tail
        {
            var m = Make(type, Rand(rng, rows * cols), rows, cols);
            var wf = m.ToFloat32();
            var x = Rand(rng, T * cols);

            // whole matrix, big scratch (row blocks of RowBlock)
            var y1 = new float[T * rows];
            m.MatMulRows(x, T, y1, 0, rows, new float[NativeWeightMatrix.RowBlock * cols]);
            // two ranges at an odd split, scratch for 2 rows only (the WeightMatrix contract allows ≥ Cols)
            var y2 = new float[T * rows];
            int split = rows / 3 + 1;
            m.MatMulRows(x, T, y2, 0, split, new float[2 * cols]);
            m.MatMulRows(x, T, y2, split, rows, new float[cols]);
            Assert.Equal(y1, y2);

            double worst = 0;
            for (int t = 0; t < T; t++)
            {
                // decode kernel, one token, split at another odd row
                var yd = new float[rows];
                int s2 = Math.Min(rows, 5);
                m.DotRows(x.AsSpan(t * cols, cols), yd.AsSpan(0, s2), 0, s2);
                m.DotRows(x.AsSpan(t * cols, cols), yd.AsSpan(s2), s2, rows);
                Assert.Equal(y1.AsSpan(t * rows, rows).ToArray(), yd);
                for (int r = 0; r < rows; r++)
                {
                    var (v, tol) = Exact(wf.AsSpan(r * cols, cols), x.AsSpan(t * cols, cols));
                    double err = Math.Abs(yd[r] - v);
                    Assert.True(err <= tol, $"{type} [{rows}x{cols}] y[{t},{r}] error {err:E2} > {tol:E2}");
                    worst = Math.Max(worst, err / tol);
                }
            }
            Log?.WriteLine($"{type} [{rows}x{cols}] T={T}: bit-identical across paths; worst error / bound = {worst:F3}");
        }
    }

    /// <summary>
    /// The finite-only f16 widening gives the same floats as the general one for every finite pattern; an F16 matrix
    /// of finite values takes it (and its products equal the general path's bit for bit), one holding an inf keeps the
    /// general path and its product is inf, not a finite stand-in.
    /// </summary>
    [Fact]
    public unsafe void FiniteF16WideningMatchesAndMatricesChooseIt()
    {
        var bits = Enumerable.Range(0, 65536).Where(i => (i & 0x7C00) != 0x7C00).Select(i => (ushort)i).ToArray();
        fixed (ushort* p = bits)
            for (int i = 0; i + 8 <= bits.Length; i += 8)
                Assert.Equal(System.Runtime.Intrinsics.Vector256.AsUInt32(Dot.LoadF16x8(p + i)), System.Runtime.Intrinsics.Vector256.AsUInt32(Dot.LoadF16x8Finite(p + i)));
        var rng = new Random(5);
        int rows = 37, cols = 4104;   // long rows (the eight-row kernel) and a tail
        var w = Enumerable.Range(0, rows * cols).Select(_ => (Half)(rng.NextDouble() - 0.5)).ToArray();
        w[3] = BitConverter.UInt16BitsToHalf(0x0001);   // a subnormal
        var x = Enumerable.Range(0, cols).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var m = new F16Matrix(w, rows, cols);
        Assert.True(m.AllFinite);
        var y = new float[rows];
        m.DotRows(x, y, 0, rows);
        for (int r = 0; r < rows; r++) Assert.Equal(Dot.F16(w.AsSpan(r * cols, cols), x), y[r]);   // the general path, same bits
        w[5 * cols + 7] = Half.PositiveInfinity;
        var bad = new F16Matrix(w, rows, cols);
        Assert.False(bad.AllFinite);
        bad.DotRows(x, y, 0, rows);
        Assert.True(float.IsInfinity(y[5]) || float.IsNaN(y[5]), $"row with +inf gave {y[5]}");
    }

    [Fact]
    public void SixteenBitWideningIsExactForEveryBitPattern()
    {
        var bits = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        var f = new float[65536 + 3];
        Dot.BF16ToF32(bits, f);
        for (int i = 0; i < 65536; i++) Assert.Equal(i << 16, BitConverter.SingleToInt32Bits(f[i]));
        var halves = bits.Select(BitConverter.UInt16BitsToHalf).ToArray();
        Dot.F16ToF32(halves, f);
        int nan = 0;
        for (int i = 0; i < 65536; i++)
        {
            float expect = (float)halves[i];
            if (float.IsNaN(expect)) { Assert.True(float.IsNaN(f[i]), $"f16 0x{i:X4} should widen to NaN"); nan++; }
            else Assert.True(BitConverter.SingleToInt32Bits(expect) == BitConverter.SingleToInt32Bits(f[i]), $"f16 0x{i:X4}: {f[i]} (0x{BitConverter.SingleToInt32Bits(f[i]):X8}) vs (float)Half {expect}");
        }
        Log?.WriteLine($"all 65536 bf16 and f16 patterns widen exactly (f16 subnormals, ±0, ±inf included; {nan} NaN patterns stay NaN)");
        // dot products against their scalar references (tail lengths)
        var rng = new Random(2);
        foreach (int n in new[] { 1, 7, 8, 15, 16, 17, 100 })
        {
            var x = Rand(rng, n);
            var wb = Rand(rng, n).Select(v => (ushort)(BitConverter.SingleToInt32Bits(v) >> 16)).ToArray();
            var wh = Rand(rng, n).Select(v => (Half)v).ToArray();
            float tb = Math.Abs(Dot.BF16Scalar(wb, x)) + 1, th = Math.Abs(Dot.F16Scalar(wh, x)) + 1;
            Assert.True(Math.Abs(Dot.BF16(wb, x) - Dot.BF16Scalar(wb, x)) <= 1e-5 * n * tb, $"bf16 dot n={n}");
            Assert.True(Math.Abs(Dot.F16(wh, x) - Dot.F16Scalar(wh, x)) <= 1e-5 * n * th, $"f16 dot n={n}");
        }
    }

    [Theory]
    [InlineData(16, 1)]
    [InlineData(16, 7)]
    [InlineData(5, 6)]
    [InlineData(9, 3)]
    public void SelectiveScanMatchesScalarReference(int N, int T)
    {
        var rng = new Random(N * 100 + T);
        int E = 13;
        var x = Rand(rng, T * E);
        var delta = Rand(rng, T * E).Select(v => MathF.Abs(v) * 0.5f + 0.01f).ToArray();
        var z = Rand(rng, T * 2 * E, 2);
        var B = Rand(rng, T * N); var C = Rand(rng, T * N);
        var A = Rand(rng, E * N).Select(v => -MathF.Exp(v)).ToArray();
        var D = Rand(rng, E);
        var h0 = Rand(rng, E * N);
        var hFast = (float[])h0.Clone(); var hRef = (float[])h0.Clone();
        var yFast = new float[T * E]; var yRef = new float[T * E];
        var scratch = new float[T * N];
        // channel ranges as two workers would split them
        SelectiveScan.Forward(T, E, N, 0, 6, x, E, delta, z.AsSpan(E), 2 * E, B, C, A, D, hFast, yFast, scratch);
        SelectiveScan.Forward(T, E, N, 6, E, x, E, delta, z.AsSpan(E), 2 * E, B, C, A, D, hFast, yFast, scratch);
        SelectiveScan.ForwardScalar(T, E, N, 0, E, x, E, delta, z.AsSpan(E), 2 * E, B, C, A, D, hRef, yRef);
        double dy = MaxRel(yFast, yRef), dh = MaxRel(hFast, hRef);
        Log?.WriteLine($"N={N} T={T}: max relative difference y {dy:E2}, h {dh:E2}");
        // exp() differs by ≤ 1–2 ulp between TensorPrimitives and MathF, and sums run in another order
        Assert.True(dy < 1e-5 && dh < 1e-5, $"scan differs: y {dy:E2}, h {dh:E2}");

        // a scratch that holds several channels batches exp(Δ·A) over them (the decode path): same bits
        var hBlock = (float[])h0.Clone(); var yBlock = new float[T * E];
        SelectiveScan.Forward(T, E, N, 0, 6, x, E, delta, z.AsSpan(E), 2 * E, B, C, A, D, hBlock, yBlock, new float[5 * T * N + 3]);
        SelectiveScan.Forward(T, E, N, 6, E, x, E, delta, z.AsSpan(E), 2 * E, B, C, A, D, hBlock, yBlock, new float[64 * T * N]);
        Assert.Equal(yFast, yBlock);
        Assert.Equal(hFast, hBlock);
    }

    [Theory]
    [InlineData(4, 1)]
    [InlineData(4, 2)]
    [InlineData(4, 5)]
    [InlineData(2, 3)]
    public void CausalConvMatchesScalarReferenceAcrossChunks(int k, int T)
    {
        var rng = new Random(k * 10 + T);
        int E = 37, stride = 2 * E;
        var w = Rand(rng, E * k); var bias = Rand(rng, E);
        var wT = new float[k * E];
        for (int c = 0; c < E; c++) for (int j = 0; j < k; j++) wT[j * E + c] = w[c * k + j];
        var sFast = new float[(k - 1) * E]; var sRef = new float[(k - 1) * E];
        double worst = 0;
        for (int call = 0; call < 3; call++)   // state carried across three chunks
        {
            var x = Rand(rng, T * stride);
            var oFast = new float[T * E]; var oRef = new float[T * E];
            CausalConv1d.Forward(x, stride, T, E, k, sFast, wT, bias, oFast);
            CausalConv1d.ForwardScalar(x, stride, T, E, k, sRef, w, bias, oRef);
            Assert.Equal(sRef, sFast);
            worst = Math.Max(worst, MaxRel(oFast, oRef));
        }
        Log?.WriteLine($"k={k} T={T}: max relative difference {worst:E2}");
        Assert.True(worst < 1e-6, $"conv differs by {worst:E2}");
    }

    [Fact]
    public void RmsNormAndActivationsMatchScalarReferences()
    {
        var rng = new Random(9);
        foreach (int n in new[] { 1, 3, 8, 17, 100 })
        {
            var x = Rand(rng, n, 3); var w = Rand(rng, n);
            var a = new float[n]; var b = new float[n];
            RmsNorm.Forward(x, w, a, 1e-5f); RmsNorm.ForwardScalar(x, w, b, 1e-5f);
            Assert.True(MaxRel(a, b) < 1e-6, $"rmsnorm n={n}: {MaxRel(a, b):E2}");
            RmsNorm.Forward(x, default, a, 1e-5f); RmsNorm.ForwardScalar(x, default, b, 1e-5f);
            Assert.True(MaxRel(a, b) < 1e-6, $"weightless rmsnorm n={n}");
            var s = (float[])x.Clone();
            Activations.SiluInPlace(s, new float[n]);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(s[i] - Activations.Silu(x[i])) <= 1e-6 * (1 + Math.Abs(s[i])), $"silu({x[i]})");
            // the scan's gate: y *= silu(z), vector path with its tail
            var g = Rand(rng, n, 3);
            var yv = (float[])w.Clone();
            Activations.MultiplyBySilu(yv, g);
            for (int i = 0; i < n; i++)
            {
                double e = w[i] * (g[i] / (1 + Math.Exp(-(double)g[i])));
                Assert.True(Math.Abs(yv[i] - e) <= 4e-7 * Math.Abs(e) + 1e-30, $"y·silu(z) n={n} i={i}: {yv[i]} vs {e}");
            }
        }
        var sp = new float[] { -100, -30, -5, -1e-3f, 0, 1e-3f, 5, 19.99f, 20, 20.01f, 50, float.NegativeInfinity };
        var spv = (float[])sp.Clone();
        Activations.SoftplusInPlace(spv);
        for (int i = 0; i < sp.Length; i++)
        {
            // float64 reference; ln(1+u) ≈ u − u²/2 where 1+u would round away u
            double v = sp[i], u = Math.Exp(v), expect = v > 20 ? v : u < 1e-8 ? u - u * u / 2 : Math.Log(1 + u);
            Assert.True(Math.Abs(spv[i] - expect) <= 2e-7 * Math.Max(Math.Abs(expect), 1e-38) + 1e-45, $"softplus({v}) = {spv[i]}, expected {expect}");
        }
        // the vector path over a dense range (every tail length): relative error against float64, in ulps of float
        double worstUlp = 0;
        for (int len = 1; len <= 20001; len += 2500)
        {
            var v = Enumerable.Range(0, len).Select(i => -40f + 60f * i / len).ToArray();
            var r = (float[])v.Clone();
            Activations.SoftplusInPlace(r);
            for (int i = 0; i < len; i++)
            {
                double e = v[i] > 20 ? v[i] : Math.Log(1 + Math.Exp(v[i])) is var l && Math.Exp(v[i]) < 1e-8 ? Math.Exp(v[i]) : Math.Log(1 + Math.Exp(v[i]));
                worstUlp = Math.Max(worstUlp, Math.Abs(r[i] - e) / (Math.Abs(e) * Math.Pow(2, -23)));
            }
        }
        Log?.WriteLine($"softplus (vector) vs float64 on [−40, 20]: worst {worstUlp:F2} ulp");
        Assert.True(worstUlp <= 4, $"softplus off by {worstUlp:F2} ulp");
    }

    [Fact]
    public void BandwidthProbeReportsAPlausibleRate()
    {
        using var pool = new WorkerPool(2);
        var r = MemoryBandwidth.Measure(pool, 64L << 20, passes: 3);
        Log?.WriteLine($"64 MiB read with 2 threads: best {r.BestBytesPerSecond / 1e9:F1} GB/s");
        // between 100 MB/s (a very slow VM) and 10 TB/s (beyond any CPU's memory)
        Assert.InRange(r.BestBytesPerSecond, 1e8, 1e13);
        Assert.Equal(3, r.PassBytesPerSecond.Length);
    }

    static double MaxRel(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double d = 0, m = 0;
        for (int i = 0; i < a.Length; i++) { d = Math.Max(d, Math.Abs(a[i] - b[i])); m = Math.Max(m, Math.Abs(b[i])); }
        return d / Math.Max(m, 1e-30);
    }
}
