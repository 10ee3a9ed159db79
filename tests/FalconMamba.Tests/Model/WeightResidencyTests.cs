using FalconMamba.Kernels;
using FalconMamba.Kernels.Quantized;
using FalconMamba.Model;
using FalconMamba.Tests.Gguf;

namespace FalconMamba.Tests.Model;

/// <summary>--no-mmap (weights copied onto 2 MiB pages) and quantize-at-load storage: same numbers, different memory.</summary>
public class WeightResidencyTests
{
    static float[][] Logits(MambaModel model, int[] tokens)
    {
        using var ctx = model.CreateContext(threads: 2, chunkSize: 5);
        var state = model.CreateState();
        var result = new float[tokens.Length][];
        ctx.Score(tokens, state, (pos, logits) => result[pos] = logits.ToArray());
        return result;
    }

    static IEnumerable<WeightMatrix> Matrices(MambaWeights w) => w.Matrices();

    [Theory]
    [InlineData("safetensors BF16", false)]
    [InlineData("safetensors F16 tied", true)]
    [InlineData("gguf Q8_0", false)]
    [InlineData("gguf Q4_0", false)]
    public void NoMmapCopiesEveryMatrixOntoLargePagesWithBitIdenticalLogits(string source, bool tie)
    {
        var cfg = TestModel.MakeConfig(d: 64, e: 128, n: 16, r: 8, v: 300, layers: 2, tie: tie);
        var tm = new TestModel(cfg, 7);
        string dir = TestPaths.NewTempDir();
        string path = source switch
        {
            "gguf Q8_0" => GgufTestFiles.Write(tm, TensorType.Q8_0, dir),
            "gguf Q4_0" => GgufTestFiles.Write(tm, TensorType.Q4_0, dir),
            _ => tm.WriteFolder(Path.Combine(dir, "hf"), source.Contains("F16 ") ? "F16" : "BF16"),
        };
        int[] tokens = Enumerable.Range(0, 23).Select(i => (i * 31 + 5) % 300).ToArray();
        using var mapped = MambaModel.Load(path);
        var progress = new List<double>();
        using var inRam = new MambaModel(WeightResidency.CopyToLargePages(ModelLoader.LoadWeights(path, new ModelLoadOptions()), new SyncProgress(progress)));
        var a = Logits(mapped, tokens);
        var b = Logits(inRam, tokens);
        for (int t = 0; t < tokens.Length; t++) Assert.Equal(a[t], b[t]);      // the same bytes, so the same bits
        foreach (var m in Matrices(inRam.Weights))
        {
            var owner = Assert.IsType<LargePageBuffer>(Assert.IsAssignableFrom<NativeWeightMatrix>(m).Owner);
            if (OperatingSystem.IsLinux()) Assert.True(owner.HugePagesAdvised);
        }
        foreach (var (x, y) in Matrices(mapped.Weights).Zip(Matrices(inRam.Weights))) Assert.Equal(x.Type, y.Type);
        Assert.Equal(ReferenceEquals(mapped.Weights.LmHead, mapped.Weights.Embedding), ReferenceEquals(inRam.Weights.LmHead, inRam.Weights.Embedding));
        Assert.Equal("file mapping", WeightResidency.Describe(mapped.Weights));
        Assert.Equal("RAM, 2 MiB pages", WeightResidency.Describe(inRam.Weights));
        Assert.NotEmpty(progress);
        Assert.Equal(1.0, progress.Max(), 9);
        TestContext.Current.TestOutputHelper?.WriteLine($"{source}: {tokens.Length} positions bit-identical, {Matrices(inRam.Weights).Distinct().Count()} matrices on 2 MiB pages");
    }

    [Fact]
    public void LoadOptionNoMmapAndQuantizeAtLoadBothLeaveWeightsOnLargePages()
    {
        var cfg = TestModel.MakeConfig(d: 64, e: 128, n: 16, r: 8, v: 97, layers: 1);
        string dir = new TestModel(cfg, 9).WriteFolder(TestPaths.NewTempDir(), "BF16");
        using var q = MambaModel.Load(dir, new ModelLoadOptions { Quantize = TensorType.Q8_0 });
        Assert.IsType<LargePageBuffer>(((NativeWeightMatrix)q.Weights.Layers[0].InProj).Owner);
        using var qr = MambaModel.Load(dir, new ModelLoadOptions { Quantize = TensorType.Q8_0, UseMmap = false });
        // already on large pages after quantizing: kept, not copied again; the rest (e.g. the bf16 dt_proj fallback) copied
        Assert.All(Matrices(qr.Weights), m => Assert.IsType<LargePageBuffer>(((NativeWeightMatrix)m).Owner));
        int[] tokens = [1, 5, 9, 2, 60, 3];
        var a = Logits(q, tokens);
        var b = Logits(qr, tokens);
        for (int t = 0; t < tokens.Length; t++) Assert.Equal(a[t], b[t]);
    }

    [Fact]
    public void NoMmapRefusesWeightsThatDoNotFitInAvailableMemory()
    {
        WeightResidency.EnsureFits(10L << 30, 11L << 30);
        WeightResidency.EnsureFits(10L << 30, null);                       // unknown: no check
        var e = Assert.Throws<FalconMambaException>(() => WeightResidency.EnsureFits(14L << 30, 8L << 30));
        Assert.Contains("--no-mmap", e.Message);
        Assert.Contains("14.00 GiB", e.Message);
        Assert.Contains("8.00 GiB", e.Message);
    }

    [Fact]
    public void LargePageBufferIsAlignedWritableAndRejectsBadLengths()
    {
        using (var b = new LargePageBuffer(3L << 20))
        {
            if (b.HugePagesAdvised) Assert.Equal(0, AddressOf(b) % (2L << 20));
            b.Span[0] = 7;
            b.Span[^1] = 9;
            Assert.Equal(7, b.Span[0]);
            Assert.Equal(9, b.Span[(int)b.Length - 1]);
            Assert.Equal(3L << 20, b.Length);
        }
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new LargePageBuffer(0));
        Assert.Contains("bytes", e.Message);
    }

    static unsafe long AddressOf(LargePageBuffer b) => (long)b.Pointer;

    /// <summary>IProgress that records on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    sealed class SyncProgress(List<double> values) : IProgress<double>
    {
        public void Report(double value) { lock (values) values.Add(value); }
    }
}
