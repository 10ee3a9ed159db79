using FalconMamba.Model;

namespace FalconMamba.Tests.Model;

/// <summary>Chunked prefill, the recurrent decode step and all-position scoring agree with each other.</summary>
public class PathAgreementTests : IClassFixture<PathAgreementTests.Fixture>
{
    public sealed class Fixture : IDisposable
    {
        public readonly string Dir;
        public readonly MambaModel Model;
        public Fixture()
        {
            var cfg = TestModel.MakeConfig(d: 40, layers: 2, e: 72, n: 16, r: 3, k: 4, v: 61);
            Dir = new TestModel(cfg, seed: 3).WriteFolder(TestPaths.NewTempDir());
            Model = MambaModel.Load(Dir);
        }
        public void Dispose() { Model.Dispose(); Directory.Delete(Dir, true); }
    }

    readonly Fixture _f;
    public PathAgreementTests(Fixture f) => _f = f;

    static int[] Tokens(int n, int vocab, int seed) { var r = new Random(seed); return Enumerable.Range(0, n).Select(_ => r.Next(vocab)).ToArray(); }

    float[][] DecodeAll(int[] tokens)
    {
        using var ctx = _f.Model.CreateContext(threads: 1, chunkSize: 1);
        var st = _f.Model.CreateState();
        return tokens.Select(t => ctx.Decode(t, st).ToArray()).ToArray();
    }

    static double MaxRel(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double d = 0, m = 0;
        for (int i = 0; i < a.Length; i++) { d = Math.Max(d, Math.Abs(a[i] - b[i])); m = Math.Max(m, Math.Abs(b[i])); }
        return d / Math.Max(m, 1e-30);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(37)]
    [InlineData(300)]
    public void PrefillScoreAndDecodeAgreeForEveryChunkSize(int length)
    {
        var tokens = Tokens(length, _f.Model.Config.VocabSize, length);
        var decoded = DecodeAll(tokens);
        double worst = 0;
        foreach (int chunk in new[] { 1, 7, 64, length })
        {
            using var ctx = _f.Model.CreateContext(threads: 2, chunkSize: chunk);
            // prefill: last-position logits
            var st = _f.Model.CreateState();
            worst = Math.Max(worst, MaxRel(ctx.Prefill(tokens, st), decoded[^1]));
            Assert.Equal(length, st.Position);
            // score: every position
            var st2 = _f.Model.CreateState();
            ctx.Score(tokens, st2, (pos, logits) => worst = Math.Max(worst, MaxRel(logits, decoded[pos])));
            // and the states left behind agree
            var st3 = _f.Model.CreateState();
            using (var c1 = _f.Model.CreateContext(1, 1)) foreach (var t in tokens) c1.Decode(t, st3);
            for (int l = 0; l < st.Ssm.Length; l++)
            {
                worst = Math.Max(worst, MaxRel(st.Ssm[l], st3.Ssm[l]));
                Assert.Equal(st3.Conv[l], st.Conv[l]);   // conv state holds copies of the inputs: bit-equal
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"length {length}: worst relative difference between paths = {worst:E3}");
        Assert.True(worst <= 1e-4, $"paths disagree: {worst:E3}");
    }

    [Fact]
    public void ClonedStateContinuesIdentically()
    {
        var tokens = Tokens(50, _f.Model.Config.VocabSize, 9);
        using var ctx = _f.Model.CreateContext(threads: 2, chunkSize: 16);
        var st = _f.Model.CreateState();
        ctx.Prefill(tokens.AsSpan(0, 30), st);
        var clone = st.Clone();
        var a = ctx.Prefill(tokens.AsSpan(30), st).ToArray();
        var b = ctx.Prefill(tokens.AsSpan(30), clone).ToArray();
        Assert.Equal(a, b);
        Assert.Equal(st.Position, clone.Position);
    }

    [Fact]
    public void MultiThreadedEqualsSingleThreaded()
    {
        var tokens = Tokens(40, _f.Model.Config.VocabSize, 4);
        float[] Run(int threads)
        {
            using var ctx = _f.Model.CreateContext(threads, chunkSize: 16);
            return ctx.Prefill(tokens, _f.Model.CreateState()).ToArray();
        }
        // Rows are split across threads but each dot product is computed by one thread in one order: bit-identical.
        Assert.Equal(Run(1), Run(2));
        Assert.Equal(Run(1), Run(3));
    }

    [Fact]
    public void StateSizeMatchesTheFormula()
    {
        var st = _f.Model.CreateState();
        var c = _f.Model.Config;
        Assert.Equal(4L * c.NumHiddenLayers * c.IntermediateSize * (c.StateSize + c.ConvKernel - 1), st.SizeInBytes);
        // The 7B shape: 64 layers × 8192 × (16 + 3) × 4 B = 38 MiB (SPEC.md §2.5).
        var big = new MambaConfig { NumHiddenLayers = 64, IntermediateSize = 8192, StateSize = 16, ConvKernel = 4 };
        Assert.Equal(38L << 20, MambaState.SizeFor(big));
    }
}
