using FalconMamba.Formats.Gguf;
using FalconMamba.Formats.Safetensors;
using FalconMamba.Model;
using FalconMamba.Tests.Cli;

namespace FalconMamba.Tests.Gguf;

/// <summary>`falcon-mamba convert`: HF → GGUF → HF bit-exact for F32/F16/BF16; llama.cpp's type rules for quantized output.</summary>
public class ConvertTests
{
    [Theory]
    [InlineData("F32", "f32")]
    [InlineData("F16", "f16")]
    [InlineData("BF16", "bf16")]
    public void HuggingFaceToGgufToHuggingFaceIsBitExact(string dtype, string type)
    {
        var config = TestModel.MakeConfig(d: 32, e: 64, n: 16, r: 4, v: 97, layers: 2) with { UseBias = true };
        var tm = new TestModel(config, seed: 21);
        string dir = TestPaths.NewTempDir();
        string hf = tm.WriteFolder(Path.Combine(dir, "hf"), dtype);
        string gguf = Path.Combine(dir, "m.gguf"), back = Path.Combine(dir, "back");
        var r1 = CliHarness.Run("convert", "--model", hf, "--out", gguf, "--type", type);
        Assert.True(r1.ExitCode == 0, r1.Stderr);
        var r2 = CliHarness.Run("convert", "--model", gguf, "--out", back);
        Assert.True(r2.ExitCode == 0, r2.Stderr);
        TestContext.Current.TestOutputHelper?.WriteLine(r1.Stderr.Split('\n').LastOrDefault(l => l.StartsWith("wrote")) + " / " + r2.Stderr.Split('\n').LastOrDefault(l => l.StartsWith("wrote")));

        using var a = SafetensorsFile.Open(Path.Combine(hf, "model.safetensors"));
        using var b = SafetensorsFile.Open(Path.Combine(back, "model.safetensors"));
        Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
        int exact = 0, aLogExact = 0, aLogs = 0;
        foreach (var (name, ta) in a.Tensors)
        {
            var tb = b.Tensors[name];
            Assert.Equal(ta.DType, tb.DType);
            Assert.Equal(ta.Shape, tb.Shape);
            if (a.Bytes(ta).SequenceEqual(b.Bytes(tb))) { exact++; if (name.EndsWith("A_log")) { aLogExact++; aLogs++; } continue; }
            // A_log is stored as A = −exp(A_log) in GGUF; exp is many-to-one near 0, so only A itself must survive.
            Assert.EndsWith("A_log", name);
            aLogs++;
            var va = a.ReadFloat32(ta); var vb = b.ReadFloat32(tb);
            for (int i = 0; i < va.Length; i++) Assert.Equal(-MathF.Exp(va[i]), -MathF.Exp(vb[i]));
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{dtype}: {exact}/{a.Tensors.Count} tensors bit-identical after HF → GGUF → HF; A_log bit-identical in {aLogExact}/{aLogs} layers, A = −exp(A_log) identical in all");
        var c2 = MambaConfig.Load(back);
        Assert.Equal(config with { MixerRmsEps = config.LayerNormEpsilon, TorchDtype = c2.TorchDtype, BosTokenId = c2.BosTokenId, EosTokenIds = c2.EosTokenIds, PadTokenId = c2.PadTokenId }, c2);
        Directory.Delete(dir, true);
    }

    [Theory]
    [InlineData("q8_0", GgmlType.Q8_0)]
    [InlineData("q4_k", GgmlType.Q4_K)]
    [InlineData("q4_0", GgmlType.Q4_0)]
    public void QuantizedOutputFollowsLlamaCppTypeRules(string type, GgmlType expected)
    {
        var config = TestModel.MakeConfig(d: 256, e: 512, n: 16, r: 16, v: 64, layers: 1);
        string dir = TestPaths.NewTempDir();
        string hf = new TestModel(config, seed: 2).WriteFolder(Path.Combine(dir, "hf"));
        string gguf = Path.Combine(dir, "m.gguf");
        var r = CliHarness.Run("convert", "--model", hf, "--out", gguf, "--type", type);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var f = GgufFile.Open(gguf);
        foreach (var t in f.Tensors)
        {
            bool matrix = t.Ne.Length == 2 && t.Name.EndsWith(".weight") && !t.Name.Contains("ssm_conv1d");
            // dt_proj has in_features r = 16: not a whole Q8_0/K block → F16 (Q8_0 for K-quants needs 32 too)
            var want = !matrix ? GgmlType.F32 : t.Ne[0] % GgmlTypes.Geometry(expected).BlockSize == 0 ? expected : GgmlType.F16;
            // llama-quant.cpp's llama_tensor_get_type: the output matrix gets Q6_K under every type below 8 bits
            if (t.Name == "output.weight" && expected != GgmlType.Q8_0) want = GgmlType.Q6_K;
            Assert.True(want == t.Type, $"{t.Name} {t.NeText}: {t.Type}, expected {want}");
        }
        Assert.Equal(GgmlTypes.FileType(expected), (uint)f.GetInteger("general.file_type"));
        Assert.Equal(2, f.GetInteger("general.quantization_version"));
        Assert.Equal("mamba", f.GetString("general.architecture"));
        Assert.True(f.GetBoolOrNull("mamba.ssm.dt_b_c_rms"));
        Directory.Delete(dir, true);
    }

    [Theory]
    [InlineData(FalconMamba.Kernels.TensorType.Q8_0)]
    [InlineData(FalconMamba.Kernels.TensorType.Q4_K)]
    public void QuantizeAtLoadEqualsLoadingTheConvertedGguf(FalconMamba.Kernels.TensorType type)
    {
        // mixer_rms_eps = layer_norm_epsilon: what the GGUF loader uses (llama.cpp semantics), so both paths run the same math
        var config = TestModel.MakeConfig(d: 256, e: 512, n: 16, r: 32, v: 300, layers: 1) with { MixerRmsEps = 1e-5 };
        var tm = new TestModel(config, seed: 6);
        string dir = TestPaths.NewTempDir();
        string gguf = GgufTestFiles.Write(tm, type, dir);
        int[] tokens = [1, 2, 3, 250, 17, 99];
        var fromGguf = GgufTestFiles.EngineLogits(gguf, tokens, oneAtATime: false);
        using var m = MambaModel.Load(Path.Combine(dir, "hf"), new ModelLoadOptions { Quantize = type });
        Assert.Equal(type, m.Weights.Layers[0].InProj.Type);
        using var ctx = m.CreateContext(threads: 2, chunkSize: 5);
        var state = m.CreateState();
        ctx.Score(tokens, state, (pos, logits) => Assert.Equal(fromGguf[pos], logits.ToArray()));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void BadArgumentsGiveOneLineErrors()
    {
        string dir = TestPaths.NewTempDir();
        CliHarness.AssertCleanError(CliHarness.Run("convert", "--model", Path.Combine(dir, "nope"), "--out", "x.gguf"), "--model");
        string hf = new TestModel(TestModel.MakeConfig(), seed: 1).WriteFolder(Path.Combine(dir, "hf"));
        CliHarness.AssertCleanError(CliHarness.Run("convert", "--model", hf, "--out", Path.Combine(dir, "o.gguf"), "--type", "q3_k"), "--type");
        CliHarness.AssertCleanError(CliHarness.Run("convert", "--model", hf, "--out", Path.Combine(dir, "folder")), ".gguf");
        File.WriteAllBytes(Path.Combine(dir, "bad.gguf"), [0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0]);
        CliHarness.AssertCleanError(CliHarness.Run("convert", "--model", Path.Combine(dir, "bad.gguf"), "--out", Path.Combine(dir, "o")), "bad.gguf");
        Directory.Delete(dir, true);
    }
}
