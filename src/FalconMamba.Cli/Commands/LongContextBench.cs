using System.Diagnostics;
using System.Globalization;
using System.Text;
using FalconMamba.Model;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>bench --long</c>: fills one sequence's state by chunked prefill of random token ids up to each context position,
/// then times <c>--gen</c> decode steps there and reads the process RSS. A recurrent model's decode cost and memory do
/// not depend on the position; a transformer's KV cache grows linearly, which the plot shows beside our numbers:
/// Llama-2-7B: 32 layers × 2 (K, V) × 4096 × 2 bytes (f16) = 512 KiB per token;
/// Mistral-7B (grouped-query attention, 8 KV heads × 128): 32 × 2 × 1024 × 2 bytes = 128 KiB per token
/// (shapes from their config.json: num_hidden_layers 32, hidden_size 4096, num_key_value_heads 32 resp. 8).
/// Writes long-context.csv and long-context.png into the output folder.
/// Paired measurement: the state at the first position is kept (38 MiB for the 7B, 2.7 MiB for the 130M), and at every
/// later position decode steps alternate, 8 at a time, between that early state and the current one. Both medians
/// then come from the same seconds of a shared, noisy machine, so their ratio measures the position, not the clock
/// or a neighbour's load (unpaired medians taken minutes apart drifted ±15 % on this machine with the same work).
/// </summary>
internal static class LongContextBench
{
    const double LlamaKvBytesPerToken = 32.0 * 2 * 4096 * 2;
    const double MistralKvBytesPerToken = 32.0 * 2 * 8 * 128 * 2;

    sealed record Point(long Position, double DecodeMsMedian, double DecodeMsMin, double DecodeMsMax, double RssMiB, double RssAnonMiB, double FillSeconds, double PairedRefMs, double PairedHereMs);

    public static void Run(MambaModel m, string modelPath, int threads, int chunk, long[] positions, int gen, int seed, string outDir)
    {
        Directory.CreateDirectory(outDir);
        string loadBefore = BenchCommand.LoadAverage();
        var rng = new Random(seed);
        int vocab = m.Config.VocabSize;
        using var ctx = m.CreateContext(threads, chunk);
        var state = m.CreateState();
        var buffer = new int[Math.Max(chunk, 1) * 64];
        var points = new List<Point>();
        var stepMs = new double[gen];
        // Touch every row of the embedding table once. A decode step reads all other weights, but only the embedding
        // rows of the tokens it sees, so with a memory-mapped file the RSS would otherwise grow with the number of
        // distinct ids met (up to the whole table: 95 MiB for a 65024 × 768 bf16 one) — the page cache filling in, the
        // same in llama.cpp with mmap, not memory that grows with the context.
        var row = new float[m.Config.HiddenSize];
        for (int id = 0; id < vocab; id++) m.Weights.Embedding.DequantizeRow(id, row);
        // warm-up on a scratch state (JIT tiers, worker wake-up paths) so the first position is not penalised
        var scratch = m.CreateState();
        for (int i = 0; i < Math.Min(buffer.Length, 4 * chunk); i++) buffer[i] = rng.Next(vocab);
        ctx.Prefill(buffer.AsSpan(0, Math.Min(buffer.Length, 4 * chunk)), scratch);
        // at least 1.5 s and 128 steps: the tiered JIT recompiles hot methods in the background after ~100 ms
        var warm = Stopwatch.StartNew();
        for (int i = 0, t = 1; i < 128 || warm.Elapsed.TotalSeconds < 1.5; i++) t = BenchCommand.ArgMax(ctx.Decode(t, scratch));
        // the paired comparison's two states, allocated and written (so their pages are resident) before the first RSS
        // sample: allocated at the first position they showed up as growth at the second (2 × the state: +76 MiB on the 7B)
        var early = m.CreateState();
        var earlyCopy = m.CreateState();
        early.CopyFrom(state);
        earlyCopy.CopyFrom(state);
        bool haveEarly = false;
        var hereMs = new List<double>(); var refMs = new List<double>();
        foreach (long target in positions)
        {
            // fill: chunked prefill of random ids from the current position up to the target
            long t0 = Stopwatch.GetTimestamp(), lastReport = t0;
            long startPos = state.Position;
            while (state.Position < target)
            {
                int n = (int)Math.Min(buffer.Length, target - state.Position);
                for (int i = 0; i < n; i++) buffer[i] = rng.Next(vocab);
                ctx.Prefill(buffer.AsSpan(0, n), state);
                if (Stopwatch.GetElapsedTime(lastReport).TotalSeconds > 10)
                {
                    lastReport = Stopwatch.GetTimestamp();
                    double rate = (state.Position - startPos) / Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    Console.Error.WriteLine($"  filling: position {state.Position:N0} / {target:N0} ({rate:F0} tok/s)");
                }
            }
            double fill = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            // decode at this position (the state advances by gen tokens; the next fill accounts for that)
            int next = rng.Next(vocab);
            for (int i = 0; i < gen; i++)
            {
                long s = Stopwatch.GetTimestamp();
                next = BenchCommand.ArgMax(ctx.Decode(next, state));
                stepMs[i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
            }
            double rss = Status("VmRSS:"), anon = Status("RssAnon:");
            // paired: alternate blocks of 8 steps between a copy of the first position's state and this one
            // (two states allocated once: cloning per position left garbage that grew the anonymous RSS by ~15 MiB)
            if (!haveEarly) { early.CopyFrom(state); haveEarly = true; }
            earlyCopy.CopyFrom(early);
            hereMs.Clear(); refMs.Clear();
            int a = rng.Next(vocab), b = rng.Next(vocab);
            for (int block = 0; block < Math.Max(1, gen / 8); block++)
                for (int side = 0; side < 2; side++)
                    for (int i = 0; i < 8; i++)
                    {
                        long s = Stopwatch.GetTimestamp();
                        if (side == 0) a = BenchCommand.ArgMax(ctx.Decode(a, earlyCopy)); else b = BenchCommand.ArgMax(ctx.Decode(b, state));
                        (side == 0 ? refMs : hereMs).Add(Stopwatch.GetElapsedTime(s).TotalMilliseconds);
                    }
            var p = new Point(target, BenchCommand.Median(stepMs), stepMs.Min(), stepMs.Max(), rss, anon, fill, BenchCommand.Median(refMs.ToArray()), BenchCommand.Median(hereMs.ToArray()));
            points.Add(p);
            Console.Error.WriteLine($"position {target,9:N0}: decode {p.DecodeMsMedian:F2} ms/token (median of {gen}; min {p.DecodeMsMin:F2}, max {p.DecodeMsMax:F2}); paired with position {points[0].Position:N0}: {p.PairedHereMs:F2} vs {p.PairedRefMs:F2} ms ({Pct(p.PairedHereMs / p.PairedRefMs - 1)}); RSS {p.RssMiB:F0} MiB (anonymous {p.RssAnonMiB:F0}), filled in {fill:F1} s");
        }
        string loadAfter = BenchCommand.LoadAverage();

        double stateMiB = m.CreateState().SizeInBytes / 1048576.0;
        var csv = new StringBuilder();
        csv.AppendLine("position,decode_ms_median,decode_ms_min,decode_ms_max,paired_first_position_ms,paired_here_ms,rss_mib,rss_anon_mib,state_mib,kv_llama2_7b_f16_mib,kv_mistral_7b_f16_mib,fill_seconds");
        foreach (var p in points)
            csv.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{p.Position},{p.DecodeMsMedian:F3},{p.DecodeMsMin:F3},{p.DecodeMsMax:F3},{p.PairedRefMs:F3},{p.PairedHereMs:F3},{p.RssMiB:F1},{p.RssAnonMiB:F1},{stateMiB:F2},{p.Position * LlamaKvBytesPerToken / 1048576:F1},{p.Position * MistralKvBytesPerToken / 1048576:F1},{p.FillSeconds:F1}"));
        string csvPath = Path.Combine(outDir, "long-context.csv");
        WriteAtomically(csvPath, Encoding.UTF8.GetBytes(csv.ToString()));
        string pngPath = Path.Combine(outDir, "long-context.png");
        Plot(points, stateMiB, Path.GetFileName(modelPath.TrimEnd('/')), m.Weights.ParameterCount, threads, pngPath);

        var first = points[0];
        var last = points[^1];
        Console.WriteLine($"model        {modelPath} ({m.Weights.ParameterCount / 1e6:0.##}M parameters), threads {threads}, chunk {chunk}");
        Console.WriteLine("position   decode ms/token (median)   RSS MiB   KV cache Llama-2-7B / Mistral-7B (f16)");
        foreach (var p in points)
            Console.WriteLine($"{p.Position,9:N0}   {p.DecodeMsMedian,10:F2}   {p.RssMiB,17:F0}   {Gib(p.Position * LlamaKvBytesPerToken),9} / {Gib(p.Position * MistralKvBytesPerToken)}");
        Console.WriteLine($"decode at {last.Position:N0} vs {first.Position:N0}: unpaired medians {Pct(last.DecodeMsMedian / first.DecodeMsMedian - 1)}, paired (same seconds) {Pct(last.PairedHereMs / last.PairedRefMs - 1)}; RSS: {Pct(last.RssMiB / first.RssMiB - 1)} " +
            $"(anonymous memory {Pct(last.RssAnonMiB / first.RssAnonMiB - 1)}; the rest is mapped weight pages touched so far); state {stateMiB:F1} MiB");
        Console.WriteLine($"load average {loadBefore} (before) / {loadAfter} (after)");
        Console.WriteLine($"wrote {csvPath} and {pngPath}");
    }

    static string Gib(double bytes) => bytes >= 1 << 30 ? $"{bytes / (1 << 30):F1} GiB" : $"{bytes / (1 << 20):F0} MiB";

    static void Plot(List<Point> points, double stateMiB, string modelName, long parameters, int threads, string path)
    {
        var plt = new ScottPlot.Plot();
        double[] xs = points.Select(p => Math.Log10(p.Position)).ToArray();
        double[] L(Func<Point, double> mib) => points.Select(p => Math.Log10(Math.Max(mib(p), 1e-3))).ToArray();

        var llama = plt.Add.Scatter(xs, L(p => p.Position * LlamaKvBytesPerToken / 1048576));
        llama.LegendText = "KV cache, Llama-2-7B f16 (512 KiB/token)";
        var mistral = plt.Add.Scatter(xs, L(p => p.Position * MistralKvBytesPerToken / 1048576));
        mistral.LegendText = "KV cache, Mistral-7B f16 GQA (128 KiB/token)";
        var rss = plt.Add.Scatter(xs, L(p => p.RssMiB));
        rss.LegendText = $"RSS of falcon-mamba ({modelName}, {parameters / 1e6:0.##}M parameters; mapped weights included)";
        var anon = plt.Add.Scatter(xs, L(p => p.RssAnonMiB));
        anon.LegendText = "  of which anonymous (state, buffers, runtime)";
        var st = plt.Add.Scatter(xs, L(_ => stateMiB));
        st.LegendText = $"recurrent state of this model ({(stateMiB >= 1 ? $"{stateMiB:F1} MiB" : $"{stateMiB * 1024:F0} KiB")})";
        var ms = plt.Add.Scatter(xs, points.Select(p => p.DecodeMsMedian).ToArray());
        ms.LegendText = "decode ms/token (right axis)";
        ms.Axes.YAxis = plt.Axes.Right;
        ms.LinePattern = ScottPlot.LinePattern.Dashed;

        var xt = new ScottPlot.TickGenerators.NumericManual();
        foreach (var p in points) xt.AddMajor(Math.Log10(p.Position), p.Position >= 1_000_000 ? $"{p.Position / 1e6:0.#}M" : $"{p.Position / 1e3:0.#}k");
        plt.Axes.Bottom.TickGenerator = xt;
        var yt = new ScottPlot.TickGenerators.NumericManual();
        foreach (var (v, label) in new[] { (0.01, "10 KiB"), (0.1, "100 KiB"), (1.0, "1 MiB"), (10, "10 MiB"), (100, "100 MiB"), (1024, "1 GiB"), (10240, "10 GiB"), (102400, "100 GiB"), (1048576, "1 TiB") })
            yt.AddMajor(Math.Log10(v), label);
        plt.Axes.Left.TickGenerator = yt;
        plt.Axes.Bottom.Label.Text = "context position (tokens, log scale)";
        plt.Axes.Left.Label.Text = "memory (log scale)";
        plt.Axes.Right.Label.Text = "decode ms/token";
        double lowest = Math.Min(0, Math.Floor(Math.Log10(Math.Max(stateMiB, 1e-3))));
        plt.Axes.SetLimitsY(lowest, Math.Log10(points.Max(p => Math.Max(p.RssMiB, p.Position * LlamaKvBytesPerToken / 1048576))) + 1.5, plt.Axes.Left);
        plt.Axes.SetLimitsY(0, points.Max(p => p.DecodeMsMedian) * 2, plt.Axes.Right);
        plt.Title($"Decode cost and memory vs context ({threads} threads)");
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
        string tmp = path + ".tmp";
        plt.SavePng(tmp, 1000, 600);
        File.Move(tmp, path, overwrite: true);
    }

    static void WriteAtomically(string path, byte[] bytes)
    {
        string tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>A kB field of /proc/self/status (VmRSS: resident set; RssAnon: its anonymous part), MiB; NaN elsewhere.</summary>
    static double Status(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return double.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        return field == "VmRSS:" ? Process.GetCurrentProcess().WorkingSet64 / 1048576.0 : double.NaN;
    }

    /// <summary>A relative change as a signed percentage with one decimal ("+3.9%", "-0.2%", "0.0%"): a custom format
    /// printed a small negative change that rounds to zero as "-+0.0%".</summary>
    internal static string Pct(double change)
    {
        double p = Math.Round(change * 100, 1);
        return p == 0 ? "0.0%" : p.ToString("+0.0;-0.0", System.Globalization.CultureInfo.InvariantCulture) + "%";
    }
}
