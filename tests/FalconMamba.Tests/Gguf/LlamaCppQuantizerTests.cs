using FalconMamba.Formats.Gguf;
using FalconMamba.Kernels;
using FalconMamba.Kernels.Quantized;
using FalconMamba.Tests.Oracles;
using LLama.Native;

namespace FalconMamba.Tests.Gguf;

/// <summary>
/// llama.cpp's own quantizer (llama_model_quantize via LLamaSharp) applied to our F32 GGUF: (1) our reference quantizers
/// must produce the same blocks for every tensor llama.cpp stored in a type we can write; (2) our engine must run the
/// llama.cpp-quantized file (every block type, incl. the ones we only read) and agree with llama.cpp's logits.
/// </summary>
public class LlamaCppQuantizerTests
{
    [Theory]
    [InlineData(LLamaFtype.MOSTLY_Q8_0, 1e-5)]
    [InlineData(LLamaFtype.MOSTLY_Q4_0, 1e-5)]
    [InlineData(LLamaFtype.MOSTLY_Q4_1, 0)]
    [InlineData(LLamaFtype.MOSTLY_Q5_0, 0)]
    [InlineData(LLamaFtype.MOSTLY_Q5_1, 0)]
    [InlineData(LLamaFtype.MOSTLY_Q2_K, 1e-5)]
    [InlineData(LLamaFtype.MOSTLY_Q3_K_M, 1e-5)]
    [InlineData(LLamaFtype.MOSTLY_Q4_K_S, 1e-5)]
    [InlineData(LLamaFtype.MOSTLY_Q5_K_S, 1e-5)]
    [InlineData(LLamaFtype.MOSTLY_Q6_K, 1e-5)]
    public void LlamaCppQuantizedFileMatches(LLamaFtype ftype, double tolerance)
    {
        var config = LlamaCppParityTests.Shapes["falcon k-shapes d256 r256"];
        var tm = new TestModel(config, seed: 8);
        string dir = TestPaths.NewTempDir();
        try
        {
            string f32 = GgufTestFiles.Write(tm, TensorType.F32, dir);
            string q = Path.Combine(dir, $"llama-{ftype}.gguf");
            LlamaCppOracle.Quantize(f32, q, ftype);

            // (1) byte-for-byte blocks for the types we can write
            int compared = 0, identical = 0;
            long bytes = 0, sameBytes = 0;
            var types = new SortedSet<string>();
            using (var src = GgufFile.Open(f32))
            using (var dst = GgufFile.Open(q))
                foreach (var t in dst.Tensors)
                {
                    types.Add($"{t.Name.Split('.').Reverse().Skip(t.Name.EndsWith(".weight") ? 1 : 0).First()}:{t.Type}");
                    var tt = GgmlTypes.ToTensorType(t.Type);
                    if (tt is null || t.Type == GgmlType.F32 || !Quantizers.CanQuantize(tt.Value)) continue;
                    var values = src.ReadFloat32(src.Find(t.Name)!);
                    int cols = (int)t.Ne[0], rows = (int)(t.ElementCount / cols);
                    int rowBytes = (int)BlockFormats.RowBytes(tt.Value, cols);
                    var ours = new byte[(long)rows * rowBytes];
                    for (int r = 0; r < rows; r++) Quantizers.QuantizeRow(tt.Value, values.AsSpan(r * cols, cols), ours.AsSpan(r * rowBytes, rowBytes));
                    var theirs = dst.Bytes(t);
                    compared++;
                    if (theirs.SequenceEqual(ours)) identical++;
                    bytes += ours.Length;
                    for (int i = 0; i < ours.Length; i++) if (ours[i] == theirs[i]) sameBytes++;
                }
            var output = TestContext.Current.TestOutputHelper;
            output?.WriteLine($"{ftype}: tensor types {string.Join(" ", types)}");
            output?.WriteLine($"{ftype}: our quantizers reproduce {identical}/{compared} tensors byte-for-byte ({sameBytes}/{bytes} bytes equal)");
            if (compared > 0) Assert.True(sameBytes >= bytes * 0.9999, $"{ftype}: only {sameBytes}/{bytes} bytes equal llama.cpp's");

            // (2) our engine on llama.cpp's file
            int[] tokens = [5, 200, 17, 38, 42, 0, 255, 128, 3, 77, 150, 9, 260];
            var llama = LlamaCppOracle.Logits(q, tokens);
            var oursLogits = GgufTestFiles.EngineLogits(q, tokens, oneAtATime: false);
            var (d, m) = GgufTestFiles.Compare(oursLogits, GgufTestFiles.AsDouble(llama));
            output?.WriteLine($"{ftype}: our engine vs llama.cpp on llama.cpp's file: max|Δ|/max|logit| = {d / m:E2}");
            Assert.True(m > 1, "logits too small to compare");
            Assert.True(d / m <= (tolerance > 0 ? tolerance : ActivationNoiseTolerance), $"{ftype}: {d / m:E2}");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// Our writer picks, tensor by tensor, the type llama-quantize picks (incl. its Q6_K output matrix under 4-bit types,
    /// llama-quant.cpp llama_tensor_get_type) and writes the same blocks: every tensor's type and bytes are equal.
    /// </summary>
    [Theory]
    [InlineData(LLamaFtype.MOSTLY_Q8_0, TensorType.Q8_0)]
    [InlineData(LLamaFtype.MOSTLY_Q4_0, TensorType.Q4_0)]
    public void OurConverterWritesTheTensorsLlamaQuantizeWrites(LLamaFtype ftype, TensorType type)
    {
        var tm = new TestModel(LlamaCppParityTests.Shapes["falcon k-shapes d256 r256"], seed: 9);
        string dir = TestPaths.NewTempDir();
        try
        {
            string f32 = GgufTestFiles.Write(tm, TensorType.F32, dir);
            string theirs = Path.Combine(dir, "llama.gguf");
            LlamaCppOracle.Quantize(f32, theirs, ftype);
            string ours = GgufTestFiles.Write(tm, type, dir);
            using var a = GgufFile.Open(theirs);
            using var b = GgufFile.Open(ours);
            Assert.Equal(a.Tensors.Select(t => t.Name).Order(), b.Tensors.Select(t => t.Name).Order());
            var kinds = new SortedSet<string>();
            foreach (var ta in a.Tensors)
            {
                var tb = b.Find(ta.Name)!;
                Assert.True(ta.Type == tb.Type, $"{ta.Name}: llama.cpp {ta.Type}, ours {tb.Type}");
                Assert.True(a.Bytes(ta).SequenceEqual(b.Bytes(tb)), $"{ta.Name} ({ta.Type}): bytes differ");
                kinds.Add($"{string.Join('.', ta.Name.Split('.').Skip(ta.Name.StartsWith("blk.") ? 2 : 0))}:{ta.Type}");
            }
            TestContext.Current.TestOutputHelper?.WriteLine($"{ftype}: {a.Tensors.Count} tensors, same types and bytes: {string.Join(" ", kinds)}");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// Q4_1, Q5_0, Q5_1 (tolerance 0 above): measured 5e-3, 8e-4, 6e-3. ggml takes these with Q8_1 / Q8_0 activations and
    /// folds the min term through Q8_1's f16-rounded block sum s = f16(d·Σq), which we do not reproduce (we dot the
    /// decoded activations in f32); the Q5_0 gap is not explained yet (the K-quants, run the same way with Q8_K, agree to
    /// 2e-7). Bound: with no shared activation rounding at all (f32 activations) all three measured 7e-3–1.1e-2, so
    /// 2e-2 bounds the activation noise, while a wrong nibble order or scale unpacking gives O(1).
    /// </summary>
    const double ActivationNoiseTolerance = 2e-2;
}
