using FalconMamba.Generation;
using FalconMamba.Model;

namespace FalconMamba.Tests.Generation;

public class SamplerTests
{
    static float[] Logits() => [2.0f, 1.0f, 0.5f, 3.0f, -1.0f, 0.0f, 2.5f, -3.0f];

    static float[] Warped(SamplingOptions o)
    {
        var l = Logits();
        Sampler.Warp(l, new int[l.Length], o);
        return l;
    }

    [Fact]
    public void TopKKeepsExactlyTheKLargest()
    {
        var p = Warped(new SamplingOptions { DoSample = true, TopK = 3 });
        Assert.Equal([0, 3, 6], Enumerable.Range(0, p.Length).Where(i => p[i] > 0));
        Assert.Equal(1.0, p.Sum(), 5);
    }

    [Fact]
    public void TopPKeepsTheSmallestNucleus()
    {
        // softmax of the logits, sorted: ids 3 (0.44), 6 (0.27), 0 (0.16)…; top_p 0.7 keeps 3 and 6.
        var l = Logits();
        double max = l.Max();
        var e = l.Select(v => Math.Exp(v - max)).ToArray();
        var probs = e.Select(v => v / e.Sum()).ToArray();
        var order = Enumerable.Range(0, l.Length).OrderByDescending(i => probs[i]).ToArray();
        var p = Warped(new SamplingOptions { DoSample = true, TopK = 0, TopP = 0.7f });
        var kept = Enumerable.Range(0, p.Length).Where(i => p[i] > 0).ToHashSet();
        // HF: a token survives iff the probability mass strictly above it is < top_p.
        double above = 0;
        foreach (int id in order) { Assert.Equal(above < 0.7, kept.Contains(id)); above += probs[id]; }
        Assert.Equal(2, kept.Count);   // 0.44 + 0.27 ≥ 0.7
    }

    [Fact]
    public void MinPDropsTokensBelowTheScaledTopProbability()
    {
        var p = Warped(new SamplingOptions { DoSample = true, TopK = 0, MinP = 0.3f });
        // top prob is id 3; e^(2−3)=0.37 ≥ 0.3 kept (id 0), e^(2.5−3)=0.61 kept (id 6), e^(1−3)=0.135 dropped.
        Assert.Equal([0, 3, 6], Enumerable.Range(0, p.Length).Where(i => p[i] > 0));
    }

    [Fact]
    public void TemperatureSharpens()
    {
        var hot = Warped(new SamplingOptions { DoSample = true, TopK = 0, Temperature = 2f });
        var cold = Warped(new SamplingOptions { DoSample = true, TopK = 0, Temperature = 0.5f });
        Assert.True(cold[3] > hot[3]);
    }

    [Fact]
    public void RepetitionPenaltyFollowsHuggingFace()
    {
        var l = Logits();
        Sampler.ApplyRepetitionPenalty(l, [0, 4], 2f);
        Assert.Equal(1.0f, l[0]);    // positive: divided
        Assert.Equal(-2.0f, l[4]);   // negative: multiplied
        Assert.Equal(3.0f, l[3]);    // unseen: unchanged
    }

    [Fact]
    public void GreedyIsArgmaxAndSeededSamplingIsDeterministic()
    {
        Assert.Equal(3, new Sampler(new SamplingOptions()).Sample(Logits()));
        int[] Draw(int seed) { var s = new Sampler(new SamplingOptions { DoSample = true, Seed = seed, TopK = 0 }); return Enumerable.Range(0, 50).Select(_ => s.Sample(Logits())).ToArray(); }
        Assert.Equal(Draw(7), Draw(7));
        Assert.NotEqual(Draw(7), Draw(8));
        // frequencies follow the probabilities
        var sampler = new Sampler(new SamplingOptions { DoSample = true, Seed = 1, TopK = 0 });
        int n = 20000, hits = 0;
        for (int i = 0; i < n; i++) if (sampler.Sample(Logits()) == 3) hits++;
        var l = Logits(); double z = l.Sum(v => Math.Exp(v));
        Assert.True(Math.Abs(Math.Exp(3) / z - hits / (double)n) < 0.015);   // ±4σ at n = 20000
    }

    [Fact]
    public void AbsurdArgumentsAreRejectedByName()
    {
        Assert.Contains("--top-p", Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { TopP = 0 }.Validate()).Message);
        Assert.Contains("--temperature", Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { Temperature = -1 }.Validate()).Message);
        Assert.Contains("--max-new-tokens", Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { MaxNewTokens = -5 }.Validate()).Message);
    }

    [Fact]
    public async Task GeneratorIsSeededStopsOnEosAndKeepsTheConversationState()
    {
        var cfg = TestModel.MakeConfig(d: 24, e: 48, v: 40);
        string dir = new TestModel(cfg, 2).WriteFolder(TestPaths.NewTempDir());
        using var model = MambaModel.Load(dir);
        async Task<int[]> Run(int seed, int n = 12)
        {
            using var g = new Generator(model, 1, 8);
            var ids = new List<int>();
            await foreach (var t in g.GenerateAsync([1, 2, 3], new SamplingOptions { DoSample = true, Seed = seed, MaxNewTokens = n, EosTokenIds = [] }, cancellationToken: TestContext.Current.CancellationToken)) ids.Add(t.Id);
            return ids.ToArray();
        }
        var a = await Run(5);
        Assert.Equal(a, await Run(5));
        Assert.Equal(12, a.Length);

        // Stop on eos: make the first greedy token the eos id.
        using var g2 = new Generator(model, 1, 8);
        int first = 0;
        await foreach (var t in g2.GenerateAsync([1, 2, 3], new SamplingOptions { MaxNewTokens = 1, EosTokenIds = [] })) first = t.Id;
        using var g3 = new Generator(model, 1, 8);
        var toks = new List<GeneratedToken>();
        await foreach (var t in g3.GenerateAsync([1, 2, 3], new SamplingOptions { MaxNewTokens = 10, EosTokenIds = [first] })) toks.Add(t);
        Assert.Single(toks);
        Assert.True(toks[0].IsEos);
        Assert.Equal("eos", g3.LastStats!.StopReason);

        // Two greedy calls in one session equal one call over the concatenated ids: the state carries over.
        using var g4 = new Generator(model, 1, 8);
        var part1 = new List<int>();
        await foreach (var t in g4.GenerateAsync([1, 2, 3], new SamplingOptions { MaxNewTokens = 4, EosTokenIds = [] })) part1.Add(t.Id);
        var part2 = new List<int>();
        await foreach (var t in g4.GenerateAsync([5], new SamplingOptions { MaxNewTokens = 3, EosTokenIds = [] })) part2.Add(t.Id);
        using var ctx = model.CreateContext(1, 64);
        var st = model.CreateState();
        int[] history = [1, 2, 3, .. part1, 5];
        var logits = ctx.Prefill(history, st);
        Assert.Equal(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits), part2[0]);
        Assert.Equal(history.Length + part2.Count - 1, g4.State.Position);   // the last sampled token is fed next call

        // A caller that breaks out of the loop (on the eos token, as the CLI does, or early) still gets stats, and the
        // token it received is still fed on the next call (the CLI used to fail with a null LastStats here).
        using var g5 = new Generator(model, 1, 8);
        await foreach (var t in g5.GenerateAsync([1, 2, 3], new SamplingOptions { MaxNewTokens = 10, EosTokenIds = [first] }))
            if (t.IsEos) break;
        Assert.Equal("eos", g5.LastStats!.StopReason);
        using var g6 = new Generator(model, 1, 8);
        var got = new List<int>();
        await foreach (var t in g6.GenerateAsync([1, 2, 3], new SamplingOptions { MaxNewTokens = 10, EosTokenIds = [] }))
        {
            got.Add(t.Id);
            if (got.Count == 2) break;
        }
        Assert.Equal("stopped_by_caller", g6.LastStats!.StopReason);
        Assert.Equal(2, g6.LastStats.GeneratedTokens);
        Assert.Equal(part1.Take(2), got);                                   // greedy: the same first tokens as g4
        var after = new List<int>();
        await foreach (var t in g6.GenerateAsync([5], new SamplingOptions { MaxNewTokens = 1, EosTokenIds = [] })) after.Add(t.Id);
        Assert.Equal(3 + 2 + 1, g6.State.Position);                         // prompt, both received tokens, then [5]
        var st6 = model.CreateState();
        Assert.Equal(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(ctx.Prefill([1, 2, 3, .. got, 5], st6)), after[0]);
        Directory.Delete(dir, true);
    }
}
