using System.Text.Json;
using FalconMamba.Tests.Cli;
using FalconMamba.Training;

namespace FalconMamba.Tests.Training;

/// <summary>`falcon-mamba train` end to end: tokenize JSONL, train, checkpoint, resume = uninterrupted, clean errors.</summary>
public class TrainCommandTests
{
    static string Tokenizer => Path.Combine(TestPaths.RepoRoot, "models", "falcon-mamba-tiny-kjv");

    static string[] Args(string dir, string output, int steps, params string[] extra) =>
    [
        "train", "--config", Path.Combine(dir, "train.json"), "--output", Path.Combine(dir, output), "--max-steps", steps.ToString(), .. extra,
    ];

    [Fact]
    public void TrainsCheckpointsAndResumesBitIdentically()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fm-traincli-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var text = File.ReadAllText(Path.Combine(Tokenizer, "valid-sample.txt"));
            var docs = text.Split(". ").Where(s => s.Length > 20).Select(s => JsonSerializer.Serialize(new { text = s.Trim() + "." }));
            File.WriteAllLines(Path.Combine(dir, "data.jsonl"), docs);
            File.WriteAllText(Path.Combine(dir, "train.json"), $$"""
            {
              // constant η (no warmup/decay) so the schedule does not depend on max_steps
              "tokenizer": {{JsonSerializer.Serialize(Tokenizer)}},
              "train_data": [{{JsonSerializer.Serialize(Path.Combine(dir, "data.jsonl"))}}],
              "valid_fraction": 0.2,
              "hidden_size": 16, "num_hidden_layers": 1, "state_size": 4, "seq_len": 16,
              "batch_size": 2, "lr": 0.003, "eval_interval": 2, "eval_windows": 2, "checkpoint_interval": 2, "threads": 1
            }
            """);
            var a = CliHarness.Run(Args(dir, "a", 4));
            TestContext.Current.TestOutputHelper?.WriteLine(a.Stderr);
            Assert.Equal(0, a.ExitCode);
            Assert.Contains("val", a.Stderr);
            var b1 = CliHarness.Run(Args(dir, "b", 2));
            Assert.Equal(0, b1.ExitCode);
            var b2 = CliHarness.Run(Args(dir, "b", 4, "--resume", "latest"));
            TestContext.Current.TestOutputHelper?.WriteLine(b2.Stderr);
            Assert.Equal(0, b2.ExitCode);
            Assert.Contains("resuming from", b2.Stderr);
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "a", "final", "model.safetensors")), File.ReadAllBytes(Path.Combine(dir, "b", "final", "model.safetensors")));
            var rowsA = MetricsLog.Read(Path.Combine(dir, "a", "metrics.csv"));
            var rowsB = MetricsLog.Read(Path.Combine(dir, "b", "metrics.csv"));
            Assert.Equal(4, rowsA.Count);
            Assert.Equal(rowsA.Select(r => r.Loss), rowsB.Select(r => r.Loss));
            foreach (var f in new[] { "config.json", "model.safetensors", "generation_config.json", "tokenizer.json" })
                Assert.True(File.Exists(Path.Combine(dir, "a", "final", f)), f);
            Assert.True(File.Exists(Path.Combine(dir, "a", "loss.png")));
            Assert.Equal(2, Checkpoint.List(Path.Combine(dir, "a")).Count);   // steps 2 and 4
            var gen = CliHarness.Run("generate", "--model", Path.Combine(dir, "a", "final"), "--prompt", "And", "-n", "4", "--threads", "1");
            Assert.Equal(0, gen.ExitCode);

            CliHarness.AssertCleanError(CliHarness.Run(Args(dir, "c", 1, "--lr", "abc")), "--lr");
            CliHarness.AssertCleanError(CliHarness.Run(Args(dir, "c", 1, "--decay-shape", "cosine")), "decay_shape");
            CliHarness.AssertCleanError(CliHarness.Run(Args(dir, "c", 1, "--precision", "fp16")), "precision");
            // --precision bf16: same data and init as run a, so only the bf16 products can make the first loss differ
            var bf = CliHarness.Run(Args(dir, "bf16", 2, "--precision", "bf16"));
            TestContext.Current.TestOutputHelper?.WriteLine(bf.Stderr);
            Assert.Equal(0, bf.ExitCode);
            Assert.Contains("precision bf16", bf.Stderr);
            var rowsBf = MetricsLog.Read(Path.Combine(dir, "bf16", "metrics.csv"));
            Assert.NotEqual(rowsA[0].Loss, rowsBf[0].Loss);
            Assert.True(Math.Abs(rowsA[0].Loss - rowsBf[0].Loss) < 0.01 * rowsA[0].Loss, $"bf16 {rowsBf[0].Loss} vs f32 {rowsA[0].Loss}");
            Assert.Contains("\"precision\": \"bf16\"", File.ReadAllText(Path.Combine(Checkpoint.List(Path.Combine(dir, "bf16"))[^1], "train_config.json")));
            File.WriteAllText(Path.Combine(dir, "bad.json"), "{ \"hiden_size\": 3 }");
            CliHarness.AssertCleanError(CliHarness.Run("train", "--config", Path.Combine(dir, "bad.json")), "hiden_size");
            CliHarness.AssertCleanError(CliHarness.Run(Args(dir, "c", 1, "--resume", Path.Combine(dir, "nope"))), "nope");
        }
        finally { Directory.Delete(dir, true); }
    }
}
