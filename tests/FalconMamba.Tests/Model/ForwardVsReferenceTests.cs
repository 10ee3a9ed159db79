using FalconMamba.Model;
using FalconMamba.Tests.Reference;

namespace FalconMamba.Tests.Model;

/// <summary>The engine's logits against the independent float64 reference, on several shapes.</summary>
public class ForwardVsReferenceTests
{
    public static readonly Dictionary<string, MambaConfig> ShapeConfigs = new()
    {
        ["falcon d32 e64 n16 r4 k4"] = TestModel.MakeConfig(),
        ["falcon odd d72 L3 e136 n8 r5 k3 v300"] = TestModel.MakeConfig(d: 72, layers: 3, e: 136, n: 8, r: 5, k: 3, v: 300),
        ["mamba tied d48 e96 n16 r3"] = TestModel.MakeConfig(type: "mamba", d: 48, e: 96, r: 3, tie: true),
        ["falcon bias k2 n4"] = TestModel.MakeConfig(d: 24, e: 40, n: 4, r: 2, k: 2, v: 50) with { UseBias = true },
        ["mamba no conv bias k1"] = TestModel.MakeConfig(type: "mamba", d: 16, e: 32, n: 16, r: 2, k: 1, v: 40) with { UseConvBias = false },
    };

    public static TheoryData<string> Shapes => new(ShapeConfigs.Keys);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ScoreMatchesFloat64Reference(string name)
    {
        var config = ShapeConfigs[name];
        var tm = new TestModel(config, seed: 11);
        string dir = tm.WriteFolder(TestPaths.NewTempDir());
        var rng = new Random(5);
        int[] tokens = Enumerable.Range(0, 23).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var expected = ReferenceMamba.Logits(config, tm.AsDouble(), tokens);

        using var model = MambaModel.Load(dir);
        using var ctx = model.CreateContext(threads: 2, chunkSize: 8);
        var state = model.CreateState();
        double maxDiff = 0, maxLogit = 0;
        ctx.Score(tokens, state, (pos, logits) =>
        {
            for (int v = 0; v < logits.Length; v++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(logits[v] - expected[pos][v]));
                maxLogit = Math.Max(maxLogit, Math.Abs(expected[pos][v]));
            }
        });
        double rel = maxDiff / maxLogit;
        TestContext.Current.TestOutputHelper?.WriteLine($"{name}: max|Δlogit| = {maxDiff:E3}, max|logit| = {maxLogit:F3}, ratio = {rel:E3}");
        Assert.True(maxLogit > 1, "logits are too small for a meaningful comparison");
        Assert.True(rel <= 2e-5, $"{name}: max|Δ|/max|logit| = {rel:E3} > 2e-5");
        Directory.Delete(dir, true);
    }
}
