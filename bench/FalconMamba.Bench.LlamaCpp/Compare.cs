using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace FalconMamba.Bench.LlamaCpp;

/// <summary>
/// <c>compare --models A.gguf[,B.gguf…] [--threads 2] [--prompt 512] [--gen 32] [--runs 3] [--rounds 2]
/// [--modes ram,mapped] [--out DIR]</c>: ours (<c>falcon-mamba bench --json</c>) and llama.cpp (this harness) on the
/// same GGUF files, same threads and the same random prompt ids, and the ratios, in one run.
/// <para>
/// Each engine runs in its own child process (a 7B model twice over would not fit in this machine's memory, and a
/// fresh process is how a user runs either). The two engines alternate within each pair, and which one goes first
/// alternates between rounds, so a slow drift of the shared machine does not favour one side. The ratio is taken per
/// round (ours ÷ llama.cpp from back-to-back runs) and reported as the median over rounds with its range: on a noisy
/// VM a ratio of adjacent runs is steadier than a ratio of medians taken minutes apart.
/// </para>
/// <para>
/// Load modes: <c>ram</c> = ours <c>--no-mmap</c> (weights copied onto 2 MiB pages) against llama.cpp's LLamaSharp
/// default (read into its own buffer); <c>mapped</c> = ours on the file mapping (our default) against llama.cpp
/// <c>--mmap</c>. Writes compare-runs.csv (every run), compare.csv (the summary), compare.md (the table) and
/// compare.png (the ratios, with the 1.0× and 1.2× lines of the goals).
/// </para>
/// </summary>
static class Compare
{
    /// <summary>One child run's figures (medians over its runs).</summary>
    public sealed record RunResult(int Round, string Model, string Type, string Mode, string Engine, double Prefill, double Decode,
        double PeakRssMiB, double EffectiveGbS, double BandwidthGbS, string StartedUtc);

    /// <summary>Ours against llama.cpp for one model and load mode, over the rounds.</summary>
    public sealed record Summary(string Model, string Type, string Mode, int Rounds,
        double PrefillOurs, double PrefillLlama, double PrefillRatio, double PrefillRatioMin, double PrefillRatioMax,
        double DecodeOurs, double DecodeLlama, double DecodeRatio, double DecodeRatioMin, double DecodeRatioMax,
        double FractionOfBandwidth);

    public static int Run(string[] args)
    {
        string Arg(string name, string def)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : def;
        }
        int PositiveInt(string name, string def)
        {
            string s = Arg(name, def);
            if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 1)
                throw new ArgumentException($"{name} must be a positive integer, got '{s}'");
            return v;
        }
        var models = Arg("--models", "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (models.Length == 0) throw new ArgumentException("compare needs --models A.gguf[,B.gguf…]");
        foreach (var m in models)
            if (!File.Exists(m)) throw new ArgumentException($"--models: {m} does not exist");
        var modes = Arg("--modes", "ram,mapped").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var m in modes)
            if (m is not ("ram" or "mapped")) throw new ArgumentException($"--modes: '{m}' is neither ram nor mapped");
        int threads = PositiveInt("--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture));
        int prompt = PositiveInt("--prompt", "512"), gen = PositiveInt("--gen", "32"), runs = PositiveInt("--runs", "3"), rounds = PositiveInt("--rounds", "2");
        string outDir = Arg("--out", ".");
        Directory.CreateDirectory(outDir);

        var common = new[] { "--threads", threads.ToString(CultureInfo.InvariantCulture), "--prompt", prompt.ToString(CultureInfo.InvariantCulture),
            "--gen", gen.ToString(CultureInfo.InvariantCulture), "--runs", runs.ToString(CultureInfo.InvariantCulture), "--json" };
        var results = new List<RunResult>();
        int total = rounds * models.Length * modes.Length * 2, done = 0;
        for (int round = 1; round <= rounds; round++)
            foreach (var model in models)
                foreach (var mode in modes)
                {
                    // odd rounds: ours first; even rounds: llama.cpp first
                    var order = round % 2 == 1 ? new[] { "ours", "llama.cpp" } : new[] { "llama.cpp", "ours" };
                    foreach (var engine in order)
                    {
                        done++;
                        Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {done}/{total}: round {round}, {Path.GetFileName(model)}, {mode}, {engine} ...");
                        string[] childArgs = engine == "ours"
                            ? ["ours", "bench", "--model", model, .. common, .. (mode == "ram" ? new[] { "--no-mmap" } : [])]
                            : ["--model", model, .. common, .. (mode == "mapped" ? new[] { "--mmap" } : [])];
                        string started = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
                        var json = RunChild(childArgs);
                        var r = Parse(json, round, model, mode, engine, started);
                        results.Add(r);
                        Console.Error.WriteLine($"           prefill {r.Prefill:F2} tok/s, decode {r.Decode:F2} tok/s");
                        // every run so far, on disk as it comes: a failure late in a long comparison keeps the rest
                        WriteRuns(results, outDir);
                    }
                }
        var summary = Summarize(results);
        string protocol = $"{threads} threads, prompt {prompt}, gen {gen}, {runs} runs per engine and round, {rounds} rounds";
        WriteOutputs(results, summary, outDir, protocol);
        Console.WriteLine(Markdown(summary, protocol));
        Console.WriteLine($"wrote {Path.Combine(outDir, "compare.md")}, compare.csv, compare-runs.csv, compare.png");
        return 0;
    }

    /// <summary>Runs this harness again with <paramref name="args"/> and returns its stdout (a JSON object); stderr passes through.</summary>
    static string RunChild(string[] args)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this process's executable"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        // started through `dotnet FalconMamba.Bench.LlamaCpp.dll`: run the same dll again
        if (Path.GetFileNameWithoutExtension(psi.FileName) == "dotnet") psi.ArgumentList.Add(typeof(Compare).Assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {psi.FileName}");
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"child run failed (exit {p.ExitCode}): {string.Join(' ', args)}");
        return stdout;
    }

    /// <summary>One child's JSON (ours: `falcon-mamba bench --json`; llama.cpp: this harness with --json).</summary>
    public static RunResult Parse(string json, int round, string model, string mode, string engine, string started)
    {
        int start = json.IndexOf('{');
        if (start < 0) throw new InvalidDataException($"{engine} on {model}: no JSON object in its output");
        using var doc = JsonDocument.Parse(json[start..]);
        var root = doc.RootElement;
        double Median(string name) => root.GetProperty(name).GetProperty("median").GetDouble();
        double Num(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
        string type = root.TryGetProperty("weight_type", out var t) ? t.GetString() ?? "?" : "?";
        return new RunResult(round, model, type, mode, engine, Median("prefill_tok_s"), Median("decode_tok_s"), Num("peak_rss_mib"),
            Num("effective_gb_s"), Num("bandwidth_best_gb_s"), started);
    }

    /// <summary>Per model and mode: each engine's median over rounds, and the median (and range) of the per-round ratios.</summary>
    public static List<Summary> Summarize(IReadOnlyList<RunResult> results)
    {
        var list = new List<Summary>();
        foreach (var g in results.GroupBy(r => (r.Model, r.Mode)))
        {
            var ours = g.Where(r => r.Engine == "ours").ToDictionary(r => r.Round);
            var llama = g.Where(r => r.Engine == "llama.cpp").ToDictionary(r => r.Round);
            var paired = ours.Keys.Intersect(llama.Keys).Order().ToArray();
            if (paired.Length == 0) continue;
            var pr = paired.Select(k => ours[k].Prefill / llama[k].Prefill).ToArray();
            var dr = paired.Select(k => ours[k].Decode / llama[k].Decode).ToArray();
            var frac = paired.Select(k => ours[k].EffectiveGbS / ours[k].BandwidthGbS).Where(double.IsFinite).ToArray();
            // the type is what ours reported (llama.cpp's harness does not name it)
            string type = paired.Select(k => ours[k].Type).First();
            list.Add(new Summary(g.Key.Model, type, g.Key.Mode, paired.Length,
                Median(paired.Select(k => ours[k].Prefill)), Median(paired.Select(k => llama[k].Prefill)), Median(pr), pr.Min(), pr.Max(),
                Median(paired.Select(k => ours[k].Decode)), Median(paired.Select(k => llama[k].Decode)), Median(dr), dr.Min(), dr.Max(),
                frac.Length > 0 ? Median(frac) : double.NaN));
        }
        return list;
    }

    public static double Median(IEnumerable<double> v)
    {
        var s = v.Order().ToArray();
        if (s.Length == 0) return double.NaN;
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    static string F(double v, string f = "F2") => double.IsFinite(v) ? v.ToString(f, CultureInfo.InvariantCulture) : "";

    /// <summary>The summary as a Markdown table (what docs/benchmarks.md quotes).</summary>
    public static string Markdown(IReadOnlyList<Summary> summary, string protocol)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"ours (FalconMamba.NET) against llama.cpp (LLamaSharp), {protocol}; tok/s are medians over rounds, ratios the median of the per-round ratios (min–max)");
        sb.AppendLine();
        sb.AppendLine("| model | type | load | prefill ours | prefill llama.cpp | prefill ratio | decode ours | decode llama.cpp | decode ratio | our read, share of bandwidth |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var s in summary)
            sb.AppendLine($"| {Path.GetFileName(s.Model)} | {s.Type} | {(s.Mode == "ram" ? "RAM" : "mapped")} | {F(s.PrefillOurs)} | {F(s.PrefillLlama)} | " +
                $"**{F(s.PrefillRatio)}×** ({F(s.PrefillRatioMin)}–{F(s.PrefillRatioMax)}) | {F(s.DecodeOurs)} | {F(s.DecodeLlama)} | " +
                $"**{F(s.DecodeRatio)}×** ({F(s.DecodeRatioMin)}–{F(s.DecodeRatioMax)}) | {(double.IsFinite(s.FractionOfBandwidth) ? s.FractionOfBandwidth.ToString("P0", CultureInfo.InvariantCulture) : "")} |");
        return sb.ToString();
    }

    static void WriteOutputs(List<RunResult> results, List<Summary> summary, string outDir, string protocol)
    {
        WriteRuns(results, outDir);
        var sum = new StringBuilder("model,type,mode,rounds,prefill_ours,prefill_llama,prefill_ratio,prefill_ratio_min,prefill_ratio_max,decode_ours,decode_llama,decode_ratio,decode_ratio_min,decode_ratio_max,fraction_of_bandwidth\n");
        foreach (var s in summary)
            sum.AppendLine(string.Join(',', Path.GetFileName(s.Model), s.Type, s.Mode, s.Rounds.ToString(CultureInfo.InvariantCulture),
                F(s.PrefillOurs, "F3"), F(s.PrefillLlama, "F3"), F(s.PrefillRatio, "F3"), F(s.PrefillRatioMin, "F3"), F(s.PrefillRatioMax, "F3"),
                F(s.DecodeOurs, "F3"), F(s.DecodeLlama, "F3"), F(s.DecodeRatio, "F3"), F(s.DecodeRatioMin, "F3"), F(s.DecodeRatioMax, "F3"), F(s.FractionOfBandwidth, "F3")));
        WriteAtomic(Path.Combine(outDir, "compare.csv"), sum.ToString());
        WriteAtomic(Path.Combine(outDir, "compare.md"), Markdown(summary, protocol));
        Plot(summary, Path.Combine(outDir, "compare.png"), protocol);
    }

    /// <summary>compare-runs.csv: every child run so far.</summary>
    static void WriteRuns(List<RunResult> results, string outDir)
    {
        // llama.cpp's JSON does not name the weight type: take ours' for the same file
        var types = results.Where(r => r.Engine == "ours").GroupBy(r => r.Model).ToDictionary(g => g.Key, g => g.First().Type);
        var runs = new StringBuilder("round,model,type,mode,engine,prefill_tok_s,decode_tok_s,peak_rss_mib,effective_gb_s,bandwidth_best_gb_s,started_utc\n");
        foreach (var r in results)
            runs.AppendLine(string.Join(',', r.Round.ToString(CultureInfo.InvariantCulture), Path.GetFileName(r.Model), types.GetValueOrDefault(r.Model, r.Type), r.Mode, r.Engine,
                F(r.Prefill, "F3"), F(r.Decode, "F3"), F(r.PeakRssMiB, "F0"), F(r.EffectiveGbS, "F3"), F(r.BandwidthGbS, "F3"), r.StartedUtc));
        WriteAtomic(Path.Combine(outDir, "compare-runs.csv"), runs.ToString());
    }

    static void WriteAtomic(string path, string text)
    {
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Bars: prefill and decode ratio (ours ÷ llama.cpp) per model and load mode, with its min–max over rounds.</summary>
    static void Plot(List<Summary> summary, string path, string protocol)
    {
        if (summary.Count == 0) return;
        var plt = new ScottPlot.Plot();
        var pre = new List<ScottPlot.Bar>();
        var dec = new List<ScottPlot.Bar>();
        var ticks = new List<ScottPlot.Tick>();
        for (int i = 0; i < summary.Count; i++)
        {
            var s = summary[i];
            double x = i * 3;
            pre.Add(new ScottPlot.Bar { Position = x, Value = s.PrefillRatio, FillColor = ScottPlot.Colors.SteelBlue });
            dec.Add(new ScottPlot.Bar { Position = x + 1, Value = s.DecodeRatio, FillColor = ScottPlot.Colors.DarkOrange });
            ticks.Add(new ScottPlot.Tick(x + 0.5, $"{Path.GetFileNameWithoutExtension(s.Model)}\n{(s.Mode == "ram" ? "RAM" : "mapped")}"));
        }
        var bp = plt.Add.Bars(pre);
        bp.LegendText = "prefill";
        var bd = plt.Add.Bars(dec);
        bd.LegendText = "decode";
        // min–max of the per-round ratios
        for (int i = 0; i < summary.Count; i++)
        {
            var s = summary[i];
            plt.Add.Line(i * 3, s.PrefillRatioMin, i * 3, s.PrefillRatioMax).Color = ScottPlot.Colors.Black;
            plt.Add.Line(i * 3 + 1, s.DecodeRatioMin, i * 3 + 1, s.DecodeRatioMax).Color = ScottPlot.Colors.Black;
        }
        var one = plt.Add.HorizontalLine(1.0);
        one.Color = ScottPlot.Colors.Gray;
        one.LinePattern = ScottPlot.LinePattern.Dashed;
        var goal = plt.Add.HorizontalLine(1.2);
        goal.Color = ScottPlot.Colors.Red;
        goal.LinePattern = ScottPlot.LinePattern.Dotted;
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plt.Axes.Left.Label.Text = "ours ÷ llama.cpp (tok/s)";
        plt.Title("FalconMamba.NET ÷ llama.cpp, same GGUF files");
        plt.Axes.Bottom.Label.Text = protocol + "; lines: min–max over rounds";
        plt.Axes.Bottom.Label.FontSize = 12;
        plt.Axes.SetLimitsY(0, Math.Max(1.5, summary.Max(s => Math.Max(s.PrefillRatioMax, s.DecodeRatioMax)) * 1.1));
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        string tmp = path + ".tmp.png";
        plt.SavePng(tmp, Math.Max(800, 160 * summary.Count), 500);
        File.Move(tmp, path, overwrite: true);
    }
}
