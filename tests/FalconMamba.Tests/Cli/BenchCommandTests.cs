using System.Globalization;
using System.Text.Json;
using FalconMamba.Model;

namespace FalconMamba.Tests.Cli;

/// <summary>
/// `falcon-mamba bench --json` and the llama.cpp comparison harness (`bench/FalconMamba.Bench.LlamaCpp compare`) on the
/// shipped tiny model's GGUF export: the figures they print are consistent with each other and with the model, and bad
/// arguments get one clear error. (Speed itself is measured by these commands, never asserted by a test.)
/// </summary>
public class BenchCommandTests
{
    static readonly string Gguf = Path.Combine(TestPaths.RepoRoot, "models", "falcon-mamba-tiny-kjv", "falcon-mamba-tiny-kjv-f16.gguf");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BenchJsonReportsConsistentFigures(bool noMmap)
    {
        var args = new List<string> { "bench", "--model", Gguf, "--threads", "1", "--prompt", "8", "--gen", "4", "--runs", "2", "--json" };
        if (noMmap) args.Add("--no-mmap");
        var r = CliHarness.Run([.. args]);
        TestContext.Current.TestOutputHelper?.WriteLine(r.Stdout);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var j = doc.RootElement;
        Assert.Equal("F16", j.GetProperty("weight_type").GetString());
        Assert.Contains(noMmap ? "RAM" : "file mapping", j.GetProperty("weights_in").GetString());
        Assert.Equal(2, j.GetProperty("decode_tok_s").GetProperty("runs").GetArrayLength());
        Assert.Equal(2, j.GetProperty("prefill_tok_s").GetProperty("runs").GetArrayLength());
        double decode = j.GetProperty("decode_tok_s").GetProperty("median").GetDouble();
        Assert.True(decode > 0 && j.GetProperty("prefill_tok_s").GetProperty("median").GetDouble() > 0);
        foreach (var stat in new[] { "decode_tok_s", "prefill_tok_s", "ttft_ms" })
        {
            var s = j.GetProperty(stat);
            Assert.InRange(s.GetProperty("median").GetDouble(), s.GetProperty("min").GetDouble(), s.GetProperty("max").GetDouble());
        }
        // bytes per token are the model's, and the effective read is bytes × decode tok/s, as a share of the best pass
        using (var m = MambaModel.Load(Gguf))
            Assert.Equal(m.Weights.BytesPerToken, j.GetProperty("weight_bytes_per_token").GetInt64());
        double bytes = j.GetProperty("weight_bytes_per_token").GetDouble();
        double effective = j.GetProperty("effective_gb_s").GetDouble(), best = j.GetProperty("bandwidth_best_gb_s").GetDouble();
        Assert.Equal(bytes * decode / 1e9, effective, 0.01 * effective + 2e-3);
        Assert.Equal(effective / best, j.GetProperty("fraction_of_bandwidth").GetDouble(), 2e-3);
        Assert.True(j.GetProperty("peak_rss_mib").GetDouble() > 0);
    }

    [Fact]
    public void BenchLongWritesOneRowPerPositionAndThePlot()
    {
        string dir = TestPaths.NewTempDir();
        var r = CliHarness.Run("bench", "--model", Gguf, "--threads", "1", "--long", "--positions", "64,256", "--gen", "4", "--chunk", "32", "--out", dir);
        TestContext.Current.TestOutputHelper?.WriteLine(r.Stdout + r.Stderr);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var rows = File.ReadAllLines(Path.Combine(dir, "long-context.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(["64", "256"], rows.Select(c => c[0]));
        // every figure a positive number (the fill time, 0.0 s on this model, at least non-negative); the state is the
        // model's, the same at every position
        Assert.All(rows, c => Assert.All(c[1..11], v => Assert.True(double.Parse(v, CultureInfo.InvariantCulture) > 0, v)));
        Assert.All(rows, c => Assert.True(double.Parse(c[11], CultureInfo.InvariantCulture) >= 0));
        Assert.Equal(rows[0][8], rows[1][8]);
        Assert.Matches(@"decode at 256 vs 64: unpaired medians (0\.0|[+-]\d+\.\d)%, paired \(same seconds\) (0\.0|[+-]\d+\.\d)%", r.Stdout);
        Assert.True(new FileInfo(Path.Combine(dir, "long-context.png")).Length > 1000);
    }

    [Theory]
    [InlineData("0.0%", 0.0)]
    [InlineData("0.0%", -0.0004)]
    [InlineData("+3.9%", 0.039)]
    [InlineData("-0.2%", -0.002)]
    public void PercentChangeHasOneSign(string expected, double change) =>
        Assert.Equal(expected, FalconMamba.Cli.Commands.LongContextBench.Pct(change));

    [Theory]
    [InlineData("--runs", "0")]
    [InlineData("--gen", "0")]
    [InlineData("--prompt", "0")]
    public void BenchRejectsAbsurdCounts(string option, string value)
    {
        var r = CliHarness.Run("bench", "--model", Gguf, option, value);
        CliHarness.AssertCleanError(r, option);
    }

    [Fact]
    public void CompareRunsBothEnginesAndReportsThePerRoundRatios()
    {
        string dir = TestPaths.NewTempDir();
        var r = RunHarness("compare", "--models", Gguf, "--threads", "1", "--prompt", "8", "--gen", "4", "--runs", "1", "--rounds", "2", "--modes", "mapped", "--out", dir);
        TestContext.Current.TestOutputHelper?.WriteLine(r.Stdout);
        Assert.True(r.ExitCode == 0, r.Stderr);
        // every child run: 2 rounds × (ours, llama.cpp), the engines alternating which goes first
        var runs = File.ReadAllLines(Path.Combine(dir, "compare-runs.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(["ours", "llama.cpp", "llama.cpp", "ours"], runs.Select(c => c[4]));
        Assert.All(runs, c => Assert.Equal("F16", c[2]));
        Assert.All(runs, c => Assert.True(double.Parse(c[5], CultureInfo.InvariantCulture) > 0 && double.Parse(c[6], CultureInfo.InvariantCulture) > 0));
        double Col(string[] c, int i) => double.Parse(c[i], CultureInfo.InvariantCulture);
        var ratios = new[] { 1, 2 }.Select(round =>
        {
            var o = runs.Single(c => c[0] == round.ToString(CultureInfo.InvariantCulture) && c[4] == "ours");
            var l = runs.Single(c => c[0] == round.ToString(CultureInfo.InvariantCulture) && c[4] == "llama.cpp");
            return Col(o, 6) / Col(l, 6);
        }).ToArray();
        // the summary's decode ratio is the median of the per-round ratios (two rounds: their mean)
        var summary = File.ReadAllLines(Path.Combine(dir, "compare.csv"));
        Assert.Equal(2, summary.Length);
        var s = summary[1].Split(',');
        Assert.Equal(["falcon-mamba-tiny-kjv-f16.gguf", "F16", "mapped", "2"], s[..4]);
        // (compare.csv writes 3 decimals: half a unit of the last place, plus the per-run CSV's own rounding)
        double Tol(double v) => 5e-4 + 1e-3 * v;
        Assert.Equal(ratios.Average(), Col(s, 11), Tol(ratios.Average()));
        Assert.Equal(ratios.Min(), Col(s, 12), Tol(ratios.Min()));
        Assert.Equal(ratios.Max(), Col(s, 13), Tol(ratios.Max()));
        Assert.Contains("| falcon-mamba-tiny-kjv-f16.gguf | F16 | mapped |", File.ReadAllText(Path.Combine(dir, "compare.md")));
        Assert.True(new FileInfo(Path.Combine(dir, "compare.png")).Length > 1000);
    }

    [Fact]
    public void CompareRejectsAMissingModel()
    {
        var r = RunHarness("compare", "--models", Path.Combine(TestPaths.NewTempDir(), "none.gguf"));
        CliHarness.AssertCleanError(r, "none.gguf", "does not exist");
    }

    static CliHarness.Result RunHarness(params string[] args) => CliHarness.RunDll("FalconMamba.Bench.LlamaCpp.dll", null, 300_000, args);
}
