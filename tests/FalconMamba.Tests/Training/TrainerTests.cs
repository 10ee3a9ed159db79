using FalconMamba.Model;
using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

public class TrainerTests
{
    static string TempDir()
    {
        string d = Path.Combine(Path.GetTempPath(), "fm-train-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>A small corpus of repeated sentences tokenized per character (vocab 40).</summary>
    static string MakeData(string dir)
    {
        var rng = new Random(2);
        string[] words = ["the", "state", "space", "model", "reads", "each", "token", "once", "and", "keeps", "a", "small", "memory"];
        var lines = Enumerable.Range(0, 60).Select(_ => "{\"text\": \"" + string.Join(' ', Enumerable.Range(0, 8 + rng.Next(8)).Select(_ => words[rng.Next(words.Length)])) + "\"}");
        string jsonl = Path.Combine(dir, "corpus.jsonl");
        File.WriteAllLines(jsonl, lines);
        int[] Encode(string s) => s.Select(ch => ch == ' ' ? 1 : ch - 'a' + 2).ToArray();
        TokenShards.Write([jsonl], Encode, Path.Combine(dir, "shards"), 40, 0, shardTokens: 2000);
        return Path.Combine(dir, "shards");
    }

    static TrainOptions Options(string data, string output, long steps) => new()
    {
        Data = data, Output = output, ModelType = "falcon_mamba", DModel = 16, Layers = 2, DInner = 24, DState = 4, DtRank = 3, ConvKernel = 3,
        VocabSize = 40, MicroBatch = 2, Batch = 4, Context = 24, Steps = steps, LearningRate = 3e-3, WarmupTokens = 200, DecayTokens = 0,
        EvalInterval = 5, EvalWindows = 4, CheckpointInterval = 0, Seed = 11, Threads = 2, ScanChunk = 8, ValidationFraction = 0.1,
    };

    [Fact]
    public void OverfittingOneBatchDrivesTheLossTowardsZero()
    {
        var cfg = new MambaConfig { ModelType = "falcon_mamba", HiddenSize = 16, IntermediateSize = 32, Expand = 2, StateSize = 4, TimeStepRank = 2, ConvKernel = 4, VocabSize = 23, NumHiddenLayers = 2, EosTokenIds = [0] }.Validate();
        var p = MambaParameters.Initialize(cfg, 3);
        var g = p.ZerosLike();
        var opt = new AdamW(p, new AdamWOptions { WeightDecay = 0 });
        var rng = new Random(1);
        var x = Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, 16).Select(_ => rng.Next(23)).ToArray()).ToArray();
        var y = Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, 16).Select(_ => rng.Next(23)).ToArray()).ToArray();
        using var model = new MambaTrainingModel(p, 2, scanChunk: 5);
        double first = 0, last = 0;
        for (int s = 0; s < 300; s++)
        {
            g.Clear();
            last = model.ForwardBackward(x, y, g);
            if (s == 0) first = last;
            AdamW.ClipGlobalNorm(g, 1.0);
            opt.Update(p, g, 1e-2);
        }
        TestContext.Current.TestOutputHelper!.WriteLine($"loss {first:F4} → {last:F4} after 300 steps (ln 23 = {Math.Log(23):F4})");
        Assert.True(last < 0.05, $"final loss {last}");
    }

    [Fact]
    public void ResumeEqualsAnUninterruptedRunBitForBit()
    {
        string dir = TempDir();
        try
        {
            string data = MakeData(dir);
            var full = new List<double>();
            using (var t = new Trainer(Options(data, Path.Combine(dir, "a"), 12)))
                t.Run(r => full.Add(r.Loss));
            var resumed = new List<double>();
            // Interrupted like Ctrl-C after step 5: the trainer writes a checkpoint and returns.
            using (var cts = new CancellationTokenSource())
            using (var t = new Trainer(Options(data, Path.Combine(dir, "b"), 12)))
            {
                string? ck = t.Run(r => { resumed.Add(r.Loss); if (r.Step == 5) cts.Cancel(); }, cts.Token);
                Assert.EndsWith("step-00000005", ck);
            }
            using (var t = new Trainer(Options(data, Path.Combine(dir, "b"), 12)))
            {
                Assert.NotNull(t.ResumedFrom);
                Assert.Equal(5, t.Step);
                t.Run(r => resumed.Add(r.Loss));
            }
            var output = TestContext.Current.TestOutputHelper!;
            output.WriteLine("uninterrupted: " + string.Join(" ", full.Select(l => l.ToString("F6"))));
            output.WriteLine("resumed:       " + string.Join(" ", resumed.Select(l => l.ToString("F6"))));
            Assert.Equal(12, full.Count);
            Assert.Equal(full, resumed);   // exact double equality
            // metrics.csv has one row per step after the resume trims nothing it should keep
            Assert.Equal(13, File.ReadAllLines(Path.Combine(dir, "b", "metrics.csv")).Length);
            // the checkpoint is an HF folder the inference loader reads
            var last = Checkpoint.List(Path.Combine(dir, "b", "checkpoints"))[^1];
            using var w = ModelLoader.LoadWeights(last, new ModelLoadOptions());
            Assert.Equal(16, w.Config.HiddenSize);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CorruptCheckpointGivesAClearError()
    {
        string dir = TempDir();
        try
        {
            string data = MakeData(dir);
            using (var t = new Trainer(Options(data, Path.Combine(dir, "c"), 2))) t.Run();
            string ck = Checkpoint.List(Path.Combine(dir, "c", "checkpoints"))[^1];
            string model = Path.Combine(ck, "model.safetensors");
            var bytes = File.ReadAllBytes(model);
            bytes[^5] ^= 0x40;
            File.WriteAllBytes(model, bytes);
            var e = Assert.Throws<FalconMambaException>(() => new Trainer(Options(data, Path.Combine(dir, "c"), 4)));
            TestContext.Current.TestOutputHelper!.WriteLine(e.Message);
            Assert.Contains("model.safetensors", e.Message);
            Assert.Contains("SHA-256", e.Message);
            File.WriteAllBytes(model, bytes[..100]);
            File.Delete(Path.Combine(ck, "trainer_state.json"));
            e = Assert.Throws<FalconMambaException>(() => new Trainer(Options(data, Path.Combine(dir, "c"), 4)));
            Assert.Contains("trainer_state.json", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ShardsRoundTripAndLoaderPositionRestores()
    {
        string dir = TempDir();
        try
        {
            string data = MakeData(dir);
            var tokens = TokenDataLoader.LoadShards(data);
            Assert.True(tokens.Length > 1000);
            Assert.Equal(60, tokens.Count(t => t == 0));     // one eos after each document
            var a = new TokenDataLoader(tokens, 4, 0.1, 16);
            a.NextBatch(7, 16);
            var pos = a.Position;
            var expect = a.NextBatch(5, 16);
            var b = new TokenDataLoader(tokens, 4, 0.1, 16);
            b.Restore(pos);
            var got = b.NextBatch(5, 16);
            for (int i = 0; i < 5; i++) { Assert.Equal(expect.Inputs[i], got.Inputs[i]); Assert.Equal(expect.Targets[i], got.Targets[i]); }
            var bad = Path.Combine(data, "shard-00000.bin");
            File.WriteAllBytes(bad, File.ReadAllBytes(bad)[..40]);
            var e = Assert.Throws<FalconMambaException>(() => TokenDataLoader.LoadShards(data));
            Assert.Contains("truncated", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
