using FalconMamba.Model;

namespace FalconMamba.Tests.Model;

/// <summary>bf16 / f16 checkpoints compute exactly what their f32 upcast computes; shards load like one file.</summary>
public class DTypeTests
{
    [Theory]
    [InlineData("BF16")]
    [InlineData("F16")]
    public void HalfPrecisionCheckpointMatchesItsF32Upcast(string dtype)
    {
        var cfg = TestModel.MakeConfig(d: 48, e: 80, n: 16, r: 4, v: 70);
        var tm = new TestModel(cfg, seed: 21);
        string half = tm.WriteFolder(TestPaths.NewTempDir(), dtype);
        // The same values rounded to the half type, stored as f32.
        var rounded = new TestModel(cfg, seed: 21);
        foreach (var k in rounded.Tensors.Keys.ToList())
        {
            var (shape, v) = rounded.Tensors[k];
            rounded.Tensors[k] = (shape, v.Select(x => TestModel.Round(x, dtype)).ToArray());
        }
        string f32 = rounded.WriteFolder(TestPaths.NewTempDir(), "F32");
        var tokens = Enumerable.Range(0, 30).Select(i => (i * 7) % cfg.VocabSize).ToArray();
        float[] Last(string dir)
        {
            using var m = MambaModel.Load(dir);
            using var ctx = m.CreateContext(2, 8);
            return ctx.Prefill(tokens, m.CreateState()).ToArray();
        }
        var a = Last(half);
        var b = Last(f32);
        double d = a.Zip(b, (x, y) => Math.Abs(x - y)).Max(), m = b.Max(Math.Abs);
        TestContext.Current.TestOutputHelper?.WriteLine($"{dtype}: max|Δ| = {d:E3}, max|logit| = {m:F3}, ratio {d / m:E3}");
        Assert.True(d / m <= 1e-5, $"{dtype} vs f32 upcast: {d / m:E3}");
        Directory.Delete(half, true);
        Directory.Delete(f32, true);
    }

    [Fact]
    public void ShardedCheckpointLoadsLikeASingleFile()
    {
        var cfg = TestModel.MakeConfig(layers: 3);
        var tm = new TestModel(cfg, seed: 8);
        string single = tm.WriteFolder(TestPaths.NewTempDir(), "BF16");
        string sharded = tm.WriteFolder(TestPaths.NewTempDir(), "BF16", shardBytes: 20_000);
        Assert.True(Directory.GetFiles(sharded, "model-*.safetensors").Length >= 3);
        int[] tokens = [1, 5, 9, 2, 44, 3];
        float[] Run(string dir)
        {
            using var m = MambaModel.Load(dir);
            using var ctx = m.CreateContext(1, 4);
            return ctx.Prefill(tokens, m.CreateState()).ToArray();
        }
        Assert.Equal(Run(single), Run(sharded));
        Directory.Delete(single, true);
        Directory.Delete(sharded, true);
    }
}
