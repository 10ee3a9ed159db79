using FalconMamba.Kernels;
using FalconMamba.Model;
using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>Overfitting, resume == uninterrupted, checkpoint and shard formats, inference on a training model.</summary>
public class TrainingLoopTests
{
    static string TempDir()
    {
        string d = Path.Combine(Path.GetTempPath(), "fm-train-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }

    [Fact]
    public void OverfitsATinyBatch()
    {
        var cfg = GradientTests.Tiny("falcon_mamba", false, d: 16, e: 32, n: 4, r: 2, v: 23);
        var p = MambaParameters.Initialize(cfg, 11);
        var g = p.ZerosLike();
        var opt = new AdamW(p, new AdamWOptions { WeightDecay = 0 });
        using var pool = new WorkerPool(2);
        var bp = new MambaBackprop(cfg, pool, scanChunk: 8);
        var rng = new Random(4);
        int B = 2, T = 16;
        var tokens = Enumerable.Range(0, B * T).Select(_ => rng.Next(23)).ToArray();
        var targets = Enumerable.Range(0, B * T).Select(_ => rng.Next(23)).ToArray();
        double first = 0, loss = 0;
        for (int step = 0; step < 300; step++)
        {
            g.Clear();
            loss = bp.Run(p, tokens, targets, B, T, g, 1f / (B * T)) / (B * T);
            if (step == 0) first = loss;
            AdamW.ClipGlobalNorm(g, 1.0);
            opt.Update(p, g, 1e-2);
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"overfit: loss {first:F4} → {loss:F4} after 300 AdamW steps (ln V = {Math.Log(23):F4})");
        Assert.True(loss < 0.05, $"loss {loss}");
    }

    static TrainConfig SmallRun(string output) => new TrainConfig
    {
        Output = output, Tokenizer = "unused", TrainData = ["synthetic"], ModelType = "falcon_mamba",
        BatchSize = 4, BatchMin = 2, BatchRampTokens = 60, MicroBatch = 2,
        ContextStages = [new ContextStage { StartTokens = 0, Length = 8 }, new ContextStage { StartTokens = 100, Length = 12 }],
        Lr = 5e-3, WarmupTokens = 30, DecayTokens = 100, MaxSteps = 8, EvalWindows = 2, Threads = 2, ScanChunk = 5, Seed = 9,
    }.Validate();

    [Fact]
    public void ResumeFromCheckpointIsBitIdenticalToUninterrupted()
    {
        string dir = TempDir();
        try
        {
            var mc = GradientTests.Tiny("mamba", true, d: 12, e: 24, n: 4, r: 2, v: 31);
            var rng = new Random(8);
            var stream = Enumerable.Range(0, 400).Select(_ => rng.Next(31)).ToArray();
            var valid = Enumerable.Range(0, 100).Select(_ => rng.Next(31)).ToArray();
            var cfg = SmallRun(Path.Combine(dir, "a"));

            using var a = new Trainer(cfg, MambaParameters.Initialize(mc, 5), stream, valid);
            var lossesA = new List<double>();
            while (!a.Done) lossesA.Add(a.TrainStep().Loss);

            var cfgB = cfg with { Output = Path.Combine(dir, "b") };
            var b1 = new Trainer(cfgB, MambaParameters.Initialize(mc, 5), stream, valid);
            var lossesB = new List<double>();
            for (int i = 0; i < 5; i++) lossesB.Add(b1.TrainStep().Loss);
            string ck = Checkpoint.Save(cfgB.Output, b1, null, keep: 2);
            b1.Dispose();
            using var b2 = new Trainer(cfgB, MambaParameters.Load(ck), stream, valid, Checkpoint.ReadState(ck));
            b2.Optimizer.Load(Path.Combine(ck, "optimizer.safetensors"));
            while (!b2.Done) lossesB.Add(b2.TrainStep().Loss);

            TestContext.Current.TestOutputHelper?.WriteLine("losses: " + string.Join(" ", lossesA.Select(l => l.ToString("F5"))));
            Assert.Equal(lossesA, lossesB);
            Assert.Equal(a.Tokens, b2.Tokens);
            Assert.True(a.Tokens > 100, "the run crossed the context-stage boundary");
            for (int i = 0; i < a.Parameters.Tensors.Count; i++) Assert.Equal(a.Parameters.Tensors[i].Data, b2.Parameters.Tensors[i].Data);
            Assert.True(double.IsFinite(a.Validate()));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CorruptCheckpointsGiveClearErrors()
    {
        string dir = TempDir();
        try
        {
            var mc = GradientTests.Tiny("falcon_mamba", false);
            var stream = Enumerable.Range(0, 200).Select(i => i % 29).ToArray();
            using var t = new Trainer(SmallRun(dir) with { MaxSteps = 1 }, MambaParameters.Initialize(mc, 1), stream, stream);
            t.TrainStep();
            string ck = Checkpoint.Save(dir, t, null, 1);
            Assert.Equal(ck, Checkpoint.Resolve("latest", dir));
            var model = Path.Combine(ck, "model.safetensors");
            var bytes = File.ReadAllBytes(model);
            File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
            var e1 = Assert.ThrowsAny<FalconMambaException>(() => MambaParameters.Load(ck));
            Assert.Contains("model.safetensors", e1.Message);
            File.WriteAllText(Path.Combine(ck, "trainer_state.json"), "{\"step\": 3");
            var e2 = Assert.ThrowsAny<FalconMambaException>(() => Checkpoint.ReadState(ck));
            Assert.Contains("trainer_state.json", e2.Message);
            var opt = Path.Combine(ck, "optimizer.safetensors");
            File.WriteAllBytes(opt, [1, 2, 3]);
            Assert.ThrowsAny<FalconMambaException>(() => t.Optimizer.Load(opt));
            TestContext.Current.TestOutputHelper?.WriteLine($"{e1.Message}\n{e2.Message}");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void InferenceEngineOnTrainingWeightsAgreesWithTrainingForward()
    {
        var cfg = GradientTests.Tiny("falcon_mamba", false, d: 16, e: 30, v: 41);
        var p = MambaParameters.Initialize(cfg, 3);
        var rng = new Random(6);
        var ids = Enumerable.Range(0, 21).Select(_ => rng.Next(41)).ToArray();
        using var pool = new WorkerPool(2);
        double train = new MambaBackprop(cfg, pool, 6).Run(p, ids[..20], ids[1..], 1, 20, null) / 20;
        using var model = new MambaModel(p.ToWeights());
        using var ctx = model.CreateContext(2, 7);
        double nll = 0;
        ctx.Score(ids[..20], model.CreateState(), (pos, logits) =>
        {
            double max = logits.ToArray().Max(), s = 0;
            foreach (var l in logits) s += Math.Exp(l - max);
            nll += max + Math.Log(s) - logits[ids[pos + 1]];
        });
        nll /= 20;
        TestContext.Current.TestOutputHelper?.WriteLine($"training forward {train:F7}, inference engine {nll:F7}");
        Assert.Equal(nll, train, 5);
    }

    [Fact]
    public void ShardsRoundTripAndLoaderIsSeededAndResumable()
    {
        string dir = TempDir();
        try
        {
            var toks = Enumerable.Range(0, 1000).Select(i => i * 7 % 300).ToArray();
            TokenShards.Write(Path.Combine(dir, "a.tok"), toks, 300);
            Assert.Equal(toks, TokenShards.Read(Path.Combine(dir, "a.tok")));
            Assert.Equal(2024, new FileInfo(Path.Combine(dir, "a.tok")).Length);   // uint16 ids
            TokenShards.Write(Path.Combine(dir, "b.tok"), toks, 70000);
            Assert.Equal(toks, TokenShards.Read(Path.Combine(dir, "b.tok")));
            File.WriteAllBytes(Path.Combine(dir, "c.tok"), File.ReadAllBytes(Path.Combine(dir, "a.tok"))[..100]);
            Assert.Contains("truncated", Assert.ThrowsAny<FalconMambaException>(() => TokenShards.Read(Path.Combine(dir, "c.tok"))).Message);

            var l1 = new DataLoader(toks, 3);
            int[] i1 = new int[40], t1 = new int[40];
            for (int k = 0; k < 30; k++) l1.Next(4, 10, i1, t1);   // crosses an epoch (99 windows)
            Assert.Equal(1, l1.State.Epoch);
            var l2 = new DataLoader(toks, 3, l1.State);
            int[] i2 = new int[40], t2 = new int[40];
            l1.Next(4, 10, i1, t1); l2.Next(4, 10, i2, t2);
            Assert.Equal(i1, i2);
            // targets are the next tokens of the stream
            var l3 = new DataLoader(toks, 3);
            l3.Next(1, 10, i2, t2);
            int start = -1;
            for (int s = 0; s + 11 <= toks.Length; s += 10) if (toks.AsSpan(s, 10).SequenceEqual(i2.AsSpan(0, 10))) start = s;
            Assert.True(start >= 0);
            Assert.Equal(toks[(start + 1)..(start + 11)], t2[..10]);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// Memory-mapped shards read as one stream: windows crossing shard boundaries (uint16 and uint32 shards, an empty one
    /// between) equal the concatenated array, the loader draws the same batches from either, and a truncated shard, a
    /// missing one, or an id outside the vocabulary is an error naming the file.
    /// </summary>
    [Fact]
    public void ShardTokenSourceMapsShardsAsOneStream()
    {
        string dir = TempDir();
        try
        {
            var rng = new Random(4);
            var parts = new[] { 700, 0, 333, 1000 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(300)).ToArray()).ToArray();
            var paths = parts.Select((t, i) => Path.Combine(dir, $"s{i}.tok")).ToArray();
            for (int i = 0; i < parts.Length; i++) TokenShards.Write(paths[i], parts[i], i == 2 ? 70000 : 300);   // shard 2 stored as uint32
            var all = parts.SelectMany(x => x).ToArray();
            using (var src = new ShardTokenSource(paths, vocabSize: 300))
            {
                Assert.Equal(all.Length, src.Length);
                var buf = new int[500];
                foreach (long start in new long[] { 0, 650, 699, 700, 1000, 1032, all.Length - 500 })
                {
                    src.Read(start, buf);
                    Assert.Equal(all.AsSpan((int)start, 500).ToArray(), buf);
                }
                Assert.Throws<ArgumentOutOfRangeException>(() => src.Read(all.Length - 10, buf));
                var a = new DataLoader(all, 9);
                var b = new DataLoader(src, 9);
                int[] ia = new int[3 * 64], ta = new int[3 * 64], ib = new int[3 * 64], tb = new int[3 * 64];
                for (int k = 0; k < 20; k++)
                {
                    a.Next(3, 64, ia, ta); b.Next(3, 64, ib, tb);
                    Assert.Equal(ia, ib); Assert.Equal(ta, tb);
                }
                Assert.Equal(a.State, b.State);
            }
            using (var small = new ShardTokenSource(paths, vocabSize: 100))
                Assert.Contains("outside the vocabulary", Assert.Throws<ModelFormatException>(() => small.Read(0, new int[700])).Message);
            File.WriteAllBytes(paths[3], File.ReadAllBytes(paths[3])[..1000]);
            var e = Assert.ThrowsAny<FalconMambaException>(() => new ShardTokenSource(paths));
            Assert.Contains("s3.tok", e.Message); Assert.Contains("truncated", e.Message);
            Assert.Contains("does not exist", Assert.ThrowsAny<FalconMambaException>(() => new ShardTokenSource([Path.Combine(dir, "nope.tok")])).Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
