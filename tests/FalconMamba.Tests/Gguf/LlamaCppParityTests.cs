using FalconMamba.Kernels;
using FalconMamba.Model;
using FalconMamba.Tests.Oracles;
using FalconMamba.Tests.Reference;

namespace FalconMamba.Tests.Gguf;

/// <summary>
/// GGUF files written by us, run by llama.cpp (LLamaSharp CPU backend) and by our engine: logits for every position,
/// as one prefill batch and one token at a time.
/// </summary>
public class LlamaCppParityTests
{
    /// <summary>Shapes llama.cpp accepts (d_inner = 2·d_model); V ≥ 256 for the byte-level vocab.</summary>
    public static readonly Dictionary<string, MambaConfig> Shapes = new()
    {
        ["falcon d32 L2 n16 r4 k4"] = TestModel.MakeConfig(d: 32, e: 64, n: 16, r: 4, v: 300),
        ["falcon odd d24 L3 n5 r7 k3"] = TestModel.MakeConfig(d: 24, layers: 3, e: 48, n: 5, r: 7, k: 3, v: 261),
        ["mamba tied d40 n8 r3"] = TestModel.MakeConfig(type: "mamba", d: 40, e: 80, n: 8, r: 3, v: 270, tie: true),
        ["falcon q-shapes d64 r32"] = TestModel.MakeConfig(d: 64, e: 128, n: 16, r: 32, v: 288),
        ["falcon k-shapes d256 r256"] = TestModel.MakeConfig(d: 256, layers: 1, e: 512, n: 16, r: 256, v: 264),
    };

    static readonly int[] Tokens = [5, 200, 17, 299 % 261, 42, 0, 255, 128, 3, 77, 150, 9, 260];

    static (float[][] Llama, float[][] Ours, double[][] Ref) Run(string shape, TensorType type, bool oneAtATime, bool reference)
    {
        var config = Shapes[shape];
        var tm = new TestModel(config, seed: 3);
        string dir = TestPaths.NewTempDir();
        try
        {
            string path = GgufTestFiles.Write(tm, type, dir);
            var tokens = Tokens.Select(t => t % config.VocabSize).ToArray();
            var llama = LlamaCppOracle.Logits(path, tokens, oneAtATime);
            var ours = GgufTestFiles.EngineLogits(path, tokens, oneAtATime);
            // float64 reference with llama.cpp's eps for the B/C/dt norms (SPEC.md §4.3 item 1)
            var refLogits = reference ? ReferenceMamba.Logits(config with { MixerRmsEps = config.LayerNormEpsilon }, tm.AsDouble(), tokens) : [];
            return (llama, ours, refLogits);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("falcon d32 L2 n16 r4 k4", false)]
    [InlineData("falcon d32 L2 n16 r4 k4", true)]
    [InlineData("falcon odd d24 L3 n5 r7 k3", false)]
    [InlineData("mamba tied d40 n8 r3", true)]
    public void F32MatchesLlamaCppAndReference(string shape, bool oneAtATime)
    {
        var (llama, ours, reference) = Run(shape, TensorType.F32, oneAtATime, reference: true);
        var (dl, ml) = GgufTestFiles.Compare(llama, reference);
        var (dOurs, mOurs) = GgufTestFiles.Compare(ours, reference);
        var (dPair, mPair) = GgufTestFiles.Compare(ours, GgufTestFiles.AsDouble(llama));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{shape} F32 {(oneAtATime ? "decode" : "prefill")}: llama.cpp vs f64 ref {dl / ml:E2}, ours vs ref {dOurs / mOurs:E2}, ours vs llama.cpp {dPair / mPair:E2} (max|logit| {mPair:F2})");
        Assert.True(mPair > 1, "logits too small to compare");
        Assert.True(dl / ml <= 2e-5, $"llama.cpp vs reference {dl / ml:E2}");
        Assert.True(dPair / mPair <= 2e-5, $"ours vs llama.cpp {dPair / mPair:E2}");
    }

    [Theory]
    [InlineData("falcon d32 L2 n16 r4 k4", TensorType.F16, false, 1e-3)]
    [InlineData("falcon d32 L2 n16 r4 k4", TensorType.F16, true, 1e-3)]
    [InlineData("falcon q-shapes d64 r32", TensorType.Q8_0, false, QuantTolerance)]
    [InlineData("falcon q-shapes d64 r32", TensorType.Q8_0, true, QuantTolerance)]
    [InlineData("falcon q-shapes d64 r32", TensorType.Q4_0, false, QuantTolerance)]
    [InlineData("falcon q-shapes d64 r32", TensorType.Q4_0, true, QuantTolerance)]
    [InlineData("falcon k-shapes d256 r256", TensorType.Q4_K, false, QuantTolerance)]
    [InlineData("falcon k-shapes d256 r256", TensorType.Q6_K, true, QuantTolerance)]
    public void QuantizedMatchesLlamaCpp(string shape, TensorType type, bool oneAtATime, double tolerance)
    {
        var (llama, ours, reference) = Run(shape, type, oneAtATime, reference: true);
        var (d, m) = GgufTestFiles.Compare(ours, GgufTestFiles.AsDouble(llama));
        var (dq, mq) = GgufTestFiles.Compare(llama, reference);
        TestContext.Current.TestOutputHelper?.WriteLine($"{shape} {type} {(oneAtATime ? "decode" : "prefill")}: ours vs llama.cpp {d / m:E2}; quantization error (llama.cpp vs f32-weight f64 ref) {dq / mq:E2} (max|logit| {m:F2})");
        Assert.True(m > 1, "logits too small to compare");
        Assert.True(d / m <= tolerance, $"{type}: {d / m:E2} > {tolerance:E0}");
        // Not vacuous: the file really is quantized (its error against the unquantized weights is far above the tolerance).
        if (type != TensorType.F16) Assert.True(dq / mq > 20 * tolerance, $"{type}: quantization error {dq / mq:E2} is suspiciously small");
    }

    /// <summary>
    /// Quantized files: both engines read the same blocks and quantize activations the same way (Q8_0 per 32 for
    /// Q8_0/Q4_0, Q8_K per 256 for K-quants; ggml's vec_dot_type), with exact integer block sums, so they differ only by
    /// f32 summation order (~1e-7 relative) and by the rare activation whose 8-bit code flips when an upstream value sits
    /// on a rounding boundary: one step of d = max|x|/127 on one input, ≲ 1e-5 of the logit scale. Measured 1e-7 to 4e-7;
    /// a wrong eps (~1e-4) or a wrong block layout (≥ 1e-2) fails it.
    /// </summary>
    const double QuantTolerance = 1e-5;
}
