using FalconMamba.Evaluation;
using FalconMamba.Kernels;
using FalconMamba.Model;

namespace FalconMamba.Tests.Model;

public class QuantizeAtLoadTests
{
    [Theory]
    [InlineData("q8_0", 1e-3)]
    [InlineData("q4_0", 5e-2)]
    [InlineData("q4_k", 5e-2)]
    public void QuantizedLinearWeightsStayCloseToF32AndSsmParametersStayF32(string type, double maxMeanKl)
    {
        var cfg = TestModel.MakeConfig(d: 256, e: 512, n: 16, r: 32, v: 96, layers: 2);
        string dir = new TestModel(cfg, 41).WriteFolder(TestPaths.NewTempDir(), "BF16");
        using var f = MambaModel.Load(dir);
        using var q = MambaModel.Load(dir, new ModelLoadOptions { Quantize = WeightQuantizer.Parse(type) });
        var t = WeightQuantizer.Parse(type);
        Assert.Equal(t, q.Weights.Layers[0].InProj.Type);
        Assert.Equal(t, q.Weights.Layers[1].OutProj.Type);
        Assert.Same(f.Weights.Layers[0].A.GetType(), q.Weights.Layers[0].A.GetType());
        Assert.Equal(f.Weights.Layers[0].A, q.Weights.Layers[0].A);                 // SSM parameters untouched
        Assert.True(q.Weights.BytesPerToken < f.Weights.BytesPerToken);
        int[] tokens = Enumerable.Range(0, 60).Select(i => (i * 37 + 3) % 96).ToArray();
        var r = Evaluator.CompareWithBase(f, q, tokens, 2, 16);
        TestContext.Current.TestOutputHelper?.WriteLine($"{type}: mean KL {r.MeanKl:E3}, top-1 {r.Top1Agreement:P1}, bytes/token {q.Weights.BytesPerToken} vs {f.Weights.BytesPerToken}");
        Assert.InRange(r.MeanKl, 0, maxMeanKl);
        Assert.Throws<ArgumentException>(() => WeightQuantizer.Parse("q3_xs"));
    }
}
