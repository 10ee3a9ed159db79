using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FalconMamba.Kernels;
using FalconMamba.Model;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba bench --model PATH [--threads N] [--prompt 512] [--gen 128] [--runs 5] [--json]</c>: prefill and
/// decode throughput on random token ids (median and spread over runs), time to first token, peak RSS, weight bytes
/// streamed per decoded token, the effective read bandwidth that implies and its fraction of the machine's measured
/// streaming-read bandwidth. <c>--long</c> instead measures decode time per token and RSS at growing context positions
/// (see <see cref="LongContextBench"/>). Progress goes to stderr, results to stdout.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var threads = CommonOptions.Threads();
        var chunk = CommonOptions.Chunk();
        var prompt = new Option<int>("--prompt") { Description = "Prompt tokens per run (random ids).", DefaultValueFactory = _ => 512 };
        var gen = new Option<int>("--gen") { Description = "Tokens decoded per run (greedy); with --long: per position.", DefaultValueFactory = _ => 128 };
        var runs = new Option<int>("--runs") { Description = "Runs (median and min–max are reported).", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print the results as one JSON object." };
        var seed = new Option<int>("--seed") { Description = "Seed of the random prompt.", DefaultValueFactory = _ => 1 };
        var longMode = new Option<bool>("--long") { Description = "Decode time per token and RSS at growing context positions (CSV + PNG)." };
        var positions = new Option<string>("--positions") { Description = "With --long: context positions, comma-separated (k/M suffixes allowed).", DefaultValueFactory = _ => "1k,4k,16k,64k,130k" };
        var outDir = new Option<string>("--out") { Description = "With --long: folder for long-context.csv and long-context.png.", DefaultValueFactory = _ => "." };
        var cmd = new Command("bench", "Measure prefill/decode throughput, memory and bandwidth use (or, with --long, decode cost vs context length).")
        { model, threads, chunk, prompt, gen, runs, json, seed, longMode, positions, outDir };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            int nThreads = pr.GetValue(threads) is int t and > 0 ? t : Environment.ProcessorCount;
            if (pr.GetValue(prompt) < 1) throw new ArgumentException("--prompt must be at least 1");
            if (pr.GetValue(gen) < 1) throw new ArgumentException("--gen must be at least 1");
            if (pr.GetValue(runs) < 1) throw new ArgumentException("--runs must be at least 1");
            string path = pr.GetValue(model)!;
            Console.Error.WriteLine($"loading {path} ...");
            var load = Stopwatch.StartNew();
            using var m = CliRunner.LoadModel(pr, path);
            Console.Error.WriteLine($"loaded in {load.Elapsed.TotalSeconds:F1} s: {m.Weights.ParameterCount / 1e6:F0}M parameters, {CommonOptions.FormatBytes(m.Weights.TotalBytes)} of weights");
            if (pr.GetValue(longMode))
            {
                LongContextBench.Run(m, path, nThreads, pr.GetValue(chunk), ParsePositions(pr.GetValue(positions)!), pr.GetValue(gen), pr.GetValue(seed), pr.GetValue(outDir)!);
                return 0;
            }
            Throughput(m, path, nThreads, pr.GetValue(chunk), pr.GetValue(prompt), pr.GetValue(gen), pr.GetValue(runs), pr.GetValue(seed), pr.GetValue(json));
            return 0;
        }));
        return cmd;
    }

    /// <summary>Minimum warm-up before the timed runs (see Throughput).</summary>
    const double WarmupSeconds = 1.5;

    static void Throughput(MambaModel m, string path, int threads, int chunk, int promptLen, int genLen, int runs, int seed, bool json)
    {
        string loadBefore = LoadAverage();
        var rng = new Random(seed);
        int vocab = m.Config.VocabSize;
        var prompt = Enumerable.Range(0, promptLen).Select(_ => rng.Next(vocab)).ToArray();
        var prefill = new double[runs]; var decode = new double[runs]; var ttft = new double[runs];
        // CPU share: process CPU time / (wall time × threads). On a shared machine it says how much of the requested
        // cores the run actually got (workers spin briefly between products, so 100% is the ceiling, not a target).
        var cpuShare = new double[runs];
        using var self = Process.GetCurrentProcess();
        using (var ctx = m.CreateContext(threads, chunk))
        {
            // warm-up: page the weights in (every matrix is read once by a short prefill + decode) and let the JIT
            // finish: the per-token code outside the kernels starts as unoptimised tier-0 code and is recompiled
            // after ~30 calls once no new method has been compiled for 100 ms, so the first pass alone left short
            // runs timing the JIT (130M Q4_0, --gen 16 --runs 1: 37–51 tok/s against 170–210 at steady state).
            // Repeat the pass for at least WarmupSeconds (one pass of a 7B model already takes longer).
            var warmClock = Stopwatch.StartNew();
            do
            {
                var warm = m.CreateState();
                int w = ArgMax(ctx.Prefill(prompt.AsSpan(0, Math.Min(promptLen, 8)), warm));
                for (int i = 0; i < 4; i++) w = ArgMax(ctx.Decode(w, warm));
            } while (warmClock.Elapsed.TotalSeconds < WarmupSeconds);
            for (int r = 0; r < runs; r++)
            {
                var state = m.CreateState();
                self.Refresh();
                var cpu0 = self.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                int next = ArgMax(ctx.Prefill(prompt, state));
                double tPrefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                ttft[r] = tPrefill * 1000;
                prefill[r] = promptLen / tPrefill;
                long t1 = Stopwatch.GetTimestamp();
                for (int i = 0; i < genLen; i++) next = ArgMax(ctx.Decode(next, state));
                decode[r] = genLen / Stopwatch.GetElapsedTime(t1).TotalSeconds;
                self.Refresh();
                cpuShare[r] = (self.TotalProcessorTime - cpu0).TotalSeconds / (Stopwatch.GetElapsedTime(t0).TotalSeconds * threads);
                Console.Error.WriteLine($"run {r + 1}/{runs}: prefill {prefill[r]:F2} tok/s ({tPrefill:F2} s), decode {decode[r]:F2} tok/s, CPU share {cpuShare[r]:P0}");
            }
        }
        double peakRss = CommonOptions.PeakRssMiB();   // read before the bandwidth probe adds its 1 GiB buffer
        string loadAfter = LoadAverage();
        Console.Error.WriteLine($"measuring memory bandwidth ({threads} threads, 1 GiB streaming read) ...");
        MemoryBandwidth.Result bw;
        using (var pool = new WorkerPool(threads)) bw = MemoryBandwidth.Measure(pool);
        long bytesPerToken = m.Weights.BytesPerToken;
        double effective = bytesPerToken * Median(decode);

        if (json)
        {
            using var stream = Console.OpenStandardOutput();
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteString("model", path);
            w.WriteNumber("parameters", m.Weights.ParameterCount);
            w.WriteString("weight_type", m.Weights.Layers[0].InProj.Type.ToString());
            w.WriteString("weights_in", WeightResidency.Describe(m.Weights));
            w.WriteNumber("threads", threads);
            w.WriteNumber("chunk", chunk);
            w.WriteNumber("prompt_tokens", promptLen);
            w.WriteNumber("gen_tokens", genLen);
            w.WriteNumber("runs", runs);
            Stat(w, "prefill_tok_s", prefill);
            Stat(w, "decode_tok_s", decode);
            Stat(w, "ttft_ms", ttft);
            Stat(w, "cpu_share", cpuShare);
            w.WriteNumber("peak_rss_mib", Math.Round(peakRss, 1));
            w.WriteNumber("weight_bytes_per_token", bytesPerToken);
            w.WriteNumber("effective_gb_s", Math.Round(effective / 1e9, 3));
            w.WriteNumber("bandwidth_best_gb_s", Math.Round(bw.BestBytesPerSecond / 1e9, 3));
            w.WriteNumber("bandwidth_median_gb_s", Math.Round(bw.MedianBytesPerSecond / 1e9, 3));
            w.WriteNumber("fraction_of_bandwidth", Math.Round(effective / bw.BestBytesPerSecond, 4));
            w.WriteString("load_average_before", loadBefore);
            w.WriteString("load_average_after", loadAfter);
            w.WriteEndObject();
            w.Flush();
            Console.WriteLine();
            return;
        }
        Console.WriteLine($"model           {path} ({m.Weights.ParameterCount / 1e6:F0}M parameters, {m.Weights.Layers[0].InProj.Type}; weights in {WeightResidency.Describe(m.Weights)})");
        Console.WriteLine($"threads         {threads}   chunk {chunk}   prompt {promptLen}   gen {genLen}   runs {runs}");
        Console.WriteLine($"prefill         {Fmt(prefill, "F2")} tok/s");
        Console.WriteLine($"decode          {Fmt(decode, "F2")} tok/s");
        Console.WriteLine($"time to first   {Fmt(ttft, "F0")} ms");
        Console.WriteLine($"peak RSS        {peakRss:F0} MiB");
        Console.WriteLine($"weights/token   {CommonOptions.FormatBytes(bytesPerToken)}");
        Console.WriteLine($"effective read  {effective / 1e9:F2} GB/s = {effective / bw.BestBytesPerSecond:P0} of the measured bandwidth " +
            $"({bw.BestBytesPerSecond / 1e9:F2} GB/s best, {bw.MedianBytesPerSecond / 1e9:F2} median, {threads} threads)");
        Console.WriteLine($"CPU share       {Fmt(cpuShare.Select(c => c * 100).ToArray(), "F0")} % of {threads} cores (process CPU time / wall time)");
        Console.WriteLine($"load average    {loadBefore} (before) / {loadAfter} (after)");
    }

    static void Stat(Utf8JsonWriter w, string name, double[] v)
    {
        w.WriteStartObject(name);
        w.WriteNumber("median", Math.Round(Median(v), 3));
        w.WriteNumber("min", Math.Round(v.Min(), 3));
        w.WriteNumber("max", Math.Round(v.Max(), 3));
        w.WriteStartArray("runs");
        foreach (var x in v) w.WriteNumberValue(Math.Round(x, 3));
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static string Fmt(double[] v, string f) => v.Length == 1
        ? v[0].ToString(f, CultureInfo.InvariantCulture)
        : $"{Median(v).ToString(f, CultureInfo.InvariantCulture)} (median; min {v.Min().ToString(f, CultureInfo.InvariantCulture)}, max {v.Max().ToString(f, CultureInfo.InvariantCulture)})";

    internal static double Median(IReadOnlyList<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    internal static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>The 1-, 5- and 15-minute load averages (Linux), to judge how shared the machine was.</summary>
    internal static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
        catch (UnauthorizedAccessException) { return "n/a"; }
    }

    static long[] ParsePositions(string text)
    {
        var list = new List<long>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            long mult = 1;
            string num = part;
            if (part.EndsWith('k') || part.EndsWith('K')) { mult = 1000; num = part[..^1]; }
            else if (part.EndsWith('M') || part.EndsWith('m')) { mult = 1_000_000; num = part[..^1]; }
            if (!long.TryParse(num, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) || v < 1)
                throw new ArgumentException($"--positions: '{part}' is not a positive position (e.g. 4096, 4k, 1M)");
            list.Add(v * mult);
        }
        if (list.Count == 0) throw new ArgumentException("--positions: no positions given");
        for (int i = 1; i < list.Count; i++)
            if (list[i] <= list[i - 1]) throw new ArgumentException($"--positions must increase: {list[i]} after {list[i - 1]}");
        return [.. list];
    }
}
