using FalconMamba.Evaluation;
using FalconMamba.Model;
using FalconMamba.Tests.Reference;

namespace FalconMamba.Tests.Evaluation;

public class EvaluatorTests
{
    static double RefLogProb(double[] logits, int target)
    {
        double max = logits.Max();
        return logits[target] - (max + Math.Log(logits.Sum(v => Math.Exp(v - max))));
    }

    [Fact]
    public void ContinuationScoresAndPerplexityMatchTheFloat64Reference()
    {
        var cfg = TestModel.MakeConfig(d: 32, e: 64, v: 53);
        var tm = new TestModel(cfg, 17);
        string dir = tm.WriteFolder(TestPaths.NewTempDir());
        using var model = MambaModel.Load(dir);
        using var ev = new Evaluator(model, 2, 5);
        int[] context = [4, 8, 15, 16, 23, 42];
        int[][] choices = [[1], [2, 3, 5], [7, 11, 13, 17, 19, 23, 29]];
        var scores = ev.ScoreContinuations(context, choices);
        double worst = 0;
        for (int c = 0; c < choices.Length; c++)
        {
            int[] all = [.. context, .. choices[c]];
            var logits = ReferenceMamba.Logits(cfg, tm.AsDouble(), all);
            double expected = 0;
            bool greedy = true;
            for (int i = 0; i < choices[c].Length; i++)
            {
                var row = logits[context.Length - 1 + i];
                expected += RefLogProb(row, choices[c][i]);
                greedy &= Array.IndexOf(row, row.Max()) == choices[c][i];
            }
            worst = Math.Max(worst, Math.Abs(scores[c].LogLikelihood - expected));
            Assert.Equal(greedy, scores[c].IsGreedy);
            Assert.Equal(choices[c].Length, scores[c].Tokens);
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"continuation log-likelihood max |Δ| vs float64 reference = {worst:E3}");
        Assert.True(worst < 1e-4);

        int[] text = Enumerable.Range(0, 40).Select(i => (i * 13 + 5) % 53).ToArray();
        var ppl = ev.Perplexity(text);
        var refLogits = ReferenceMamba.Logits(cfg, tm.AsDouble(), text);
        double nll = -Enumerable.Range(0, text.Length - 1).Sum(t => RefLogProb(refLogits[t], text[t + 1])) / (text.Length - 1);
        TestContext.Current.TestOutputHelper?.WriteLine($"perplexity {ppl.Perplexity:F4} vs reference {Math.Exp(nll):F4}");
        Assert.Equal(text.Length - 1, ppl.Tokens);
        Assert.Equal(nll, ppl.MeanNll, 5);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void KlAgainstItselfIsZeroAndAgainstBf16IsSmall()
    {
        var cfg = TestModel.MakeConfig(d: 32, e: 64, v: 53);
        var tm = new TestModel(cfg, 3);
        string f32 = tm.WriteFolder(TestPaths.NewTempDir(), "F32");
        string bf16 = tm.WriteFolder(TestPaths.NewTempDir(), "BF16");
        using var a = MambaModel.Load(f32);
        using var b = MambaModel.Load(bf16);
        int[] text = Enumerable.Range(0, 70).Select(i => (i * 7 + 1) % 53).ToArray();
        var self = Evaluator.CompareWithBase(a, a, text, 1, 16);
        Assert.Equal(0, self.MeanKl, 9);
        Assert.Equal(1.0, self.Top1Agreement);
        var half = Evaluator.CompareWithBase(a, b, text, 1, 16);
        TestContext.Current.TestOutputHelper?.WriteLine($"bf16 vs f32: mean KL {half.MeanKl:E3}, top-1 {half.Top1Agreement:P1}, ppl {half.BasePerplexity:F3} → {half.Perplexity:F3}");
        Assert.InRange(half.MeanKl, 1e-12, 1e-2);
        Assert.Equal(69, half.Tokens);
    }
}

public class MultipleChoiceTests
{
    [Fact]
    public void AccuracyFollowsTheHighestLogLikelihoodAndBadLinesAreNamed()
    {
        var cfg = TestModel.MakeConfig(d: 24, e: 48, v: 64);
        string dir = new TestModel(cfg, 5).WriteFolder(TestPaths.NewTempDir());
        using var model = FalconMamba.Model.MambaModel.Load(dir);
        using var ev = new Evaluator(model, 1, 8);
        int[] Enc(string s) => s.Select(c => c % 64).ToArray();
        var items = new List<MultipleChoiceItem>();
        for (int i = 0; i < 6; i++) items.Add(new MultipleChoiceItem($"question {i}:", [" a", " bb", " ccc"], i % 3));
        var r = MultipleChoice.Run(ev, items, Enc);
        int expected = items.Count(it =>
        {
            var s = ev.ScoreContinuations(Enc(it.Context), it.Choices.Select(c => (IReadOnlyList<int>)Enc(c)).ToArray());
            return Enumerable.Range(0, 3).MaxBy(k => s[k].LogLikelihood) == it.Gold;
        });
        Assert.Equal(expected / 6.0, r.Accuracy, 9);
        string bad = Path.Combine(TestPaths.NewTempDir(), "tasks.jsonl");
        File.WriteAllText(bad, "{\"context\": \"x\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n{\"context\": \"x\", \"choices\": [\"a\"], \"gold\": 3}\n");
        Assert.Contains("tasks.jsonl:2", Assert.Throws<FalconMambaException>(() => MultipleChoice.Load(bad)).Message);
        var cli = FalconMamba.Tests.Cli.CliHarness.Run("eval", "ppl", "--model", dir, "--ids-file", WriteIds());
        Assert.Equal(0, cli.ExitCode);
        Assert.Contains("perplexity", cli.Stdout);
        Directory.Delete(dir, true);
    }

    static string WriteIds()
    {
        string f = Path.Combine(TestPaths.NewTempDir(), "ids.txt");
        File.WriteAllText(f, string.Join(' ', Enumerable.Range(0, 50).Select(i => (i * 5) % 64)));
        return f;
    }
}
