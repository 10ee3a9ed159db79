using System.Diagnostics;
using System.Runtime.Intrinsics;
using FalconMamba.Kernels;
using FalconMamba.Model;
using FalconMamba.Training;

namespace FalconMamba.Bench;

/// <summary>
/// Training throughput and model-FLOPs utilisation (MFU) on a falcon_mamba shape, against the machine's measured peak
/// f32 FMA rate (register-only FMA loops on every thread) and the training GEMM's own rate, all in one run; then the
/// activation memory and process peak RSS as the context grows. Prints markdown for docs/training.md.
/// </summary>
internal static class TrainBench
{
    public static int Run(Func<string, string?, string> arg)
    {
        int d = int.Parse(arg("--d", "256")), layers = int.Parse(arg("--layers", "8")), v = int.Parse(arg("--vocab", "4096"));
        int ctx = int.Parse(arg("--ctx", "512")), batch = int.Parse(arg("--batch", "8")), steps = int.Parse(arg("--steps", "4"));
        int threads = int.Parse(arg("--threads", "0")); if (threads <= 0) threads = Environment.ProcessorCount;
        string memCtx = arg("--mem-ctx", "256,512,1024,2048,4096");
        Console.WriteLine($"## Training benchmark ({Environment.ProcessorCount} logical CPUs, {threads} threads, {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, " +
            $"AVX2 {System.Runtime.Intrinsics.X86.Avx2.IsSupported}, AVX-512F {System.Runtime.Intrinsics.X86.Avx512F.IsSupported})\n");

        double peak256 = PeakFma(threads, wide: false), peak512 = Vector512.IsHardwareAccelerated ? PeakFma(threads, wide: true) : double.NaN;
        Console.WriteLine($"| measure | GFLOP/s |\n|---|---|");
        Console.WriteLine($"| peak f32 FMA, Vector256, {threads} threads | {peak256:F0} |");
        if (!double.IsNaN(peak512)) Console.WriteLine($"| peak f32 FMA, Vector512, {threads} threads | {peak512:F0} |");
        using var pool = new WorkerPool(threads);
        int mTok = batch * ctx, lossRows = int.Parse(arg("--loss-chunk", "64"));
        // The model's products as the trainer calls them: X·Wᵀ (B stored transposed), dY·W, dYᵀ·X (A stored transposed).
        foreach (var (m, k, n, ta, tb, what) in new[]
        {
            (1024, 1024, 1024, false, false, "square"),
            (mTok, d, 4 * d, false, true, "in_proj forward X·Wᵀ"),
            (mTok, 4 * d, d, false, false, "in_proj dX = dY·W"),
            (4 * d, mTok, d, true, false, "in_proj dW = dYᵀ·X (long K)"),
            (mTok, 2 * d, d, false, true, "out_proj forward"),
            (mTok, 2 * d, 48, false, true, "x_proj forward (N = R+2N)"),
            (mTok, 48, 2 * d, false, false, "x_proj dX"),
            (48, mTok, 2 * d, true, false, "x_proj dW"),
            (mTok, (d + 15) / 16, 2 * d, false, true, "dt_proj forward (K = R)"),
            (mTok, 2 * d, (d + 15) / 16, false, false, "dt_proj dX (N = R)"),
            (2 * d, mTok, (d + 15) / 16, true, false, "dt_proj dW (N = R)"),
            (lossRows, d, v, false, false, $"head logits ({lossRows}-row loss chunk)"),
            (lossRows, v, d, false, false, "head dX"),
            (v, lossRows, d, true, false, $"head dW (K = {lossRows})"),
        })
            Console.WriteLine($"| {what}: [{m}×{k}]·[{k}×{n}]{(ta ? " (Aᵀ)" : "")}{(tb ? " (Bᵀ)" : "")} | {GemmRate(m, k, n, ta, tb, pool):F0} |");
        if (arg("--gemm-only", "0") != "0") return 0;

        var cfg = new MambaConfig
        {
            ModelType = "falcon_mamba", VocabSize = v, HiddenSize = d, IntermediateSize = 2 * d, StateSize = 16, TimeStepRank = (d + 15) / 16,
            ConvKernel = 4, NumHiddenLayers = layers, TieWordEmbeddings = true,
        }.Validate();
        var p = MambaParameters.Initialize(cfg, 1);
        var g = p.ZerosLike();
        var opt = new AdamW(p, new AdamWOptions());
        int scanChunk = int.Parse(arg("--scan-chunk", "64")), lossChunk = int.Parse(arg("--loss-chunk", "64"));
        var bp = new MambaBackprop(cfg, pool, scanChunk, lossChunk);
        var rng = new Random(1);
        var tok = Enumerable.Range(0, batch * ctx).Select(_ => rng.Next(v)).ToArray();
        var tgt = Enumerable.Range(0, batch * ctx).Select(_ => rng.Next(v)).ToArray();
        void Step() { g.Clear(); bp.Run(p, tok, tgt, batch, ctx, g, 1f / tok.Length); AdamW.ClipGlobalNorm(g, 1); opt.Update(p, g, 1e-3); }
        Step(); Step();   // warm-up (JIT tiers, buffers)
        bp.ResetProfile();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) Step();
        double sec = sw.Elapsed.TotalSeconds / steps, tps = tok.Length / sec;
        long e = cfg.IntermediateSize, r = cfg.TimeStepRank, nS = cfg.StateSize;
        // multiply-adds per token in the Linear layers (in, x, dt, out) and the head; training ≈ 3× forward (fwd, dX, dW)
        double macs = layers * (2 * e * d + (r + 2 * nS) * e + e * r + d * e) + (double)v * d;
        double flopsPerToken = 6 * macs;
        Console.WriteLine($"\n| model | params | tokens/step | s/step | tok/s | GFLOP/s (6·MACs) | MFU vs Vector256 peak |{(double.IsNaN(peak512) ? "" : " MFU vs Vector512 peak |")}");
        Console.WriteLine($"|---|---|---|---|---|---|---|{(double.IsNaN(peak512) ? "" : "---|")}");
        double gf = tps * flopsPerToken / 1e9;
        Console.WriteLine($"| falcon_mamba D {d}, {layers} layers, V {v}, ctx {ctx}, batch {batch} | {p.Count / 1e6:F2} M | {tok.Length} | {sec:F3} | {tps:F0} | {gf:F1} | {gf / peak256:P1} |{(double.IsNaN(peak512) ? "" : $" {gf / peak512:P1} |")}");

        Console.WriteLine($"\n| section | share of Run (fwd+bwd) |\n|---|---|");
        double total = bp.Seconds["total"];
        foreach (var (name, secs) in bp.Seconds) Console.WriteLine($"| {name} | {secs / total:P1} |");
        Console.WriteLine($"| other (norms, gate, softplus, x_proj norms, copies) | {(2 * total - bp.Seconds.Values.Sum()) / total:P1} |");
        Console.WriteLine($"\n| context (batch 1) | activations kept | s/step | tok/s | process peak RSS |\n|---|---|---|---|---|");
        foreach (var t in memCtx.Split(',').Select(int.Parse))
        {
            var b1 = new MambaBackprop(cfg, pool);
            var ids = Enumerable.Range(0, t).Select(_ => rng.Next(v)).ToArray();
            g.Clear();
            b1.Run(p, ids, ids, 1, t, g, 1f / t);
            sw.Restart();
            g.Clear();
            b1.Run(p, ids, ids, 1, t, g, 1f / t);
            double s1 = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"| {t} | {b1.ActivationBytes / 1048576.0:F1} MiB | {s1:F3} | {t / s1:F0} | {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:F0} MiB |");
        }
        return 0;
    }

    static double GemmRate(int m, int k, int n, bool transA, bool transB, WorkerPool pool)
    {
        var rng = new Random(2);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)rng.NextDouble()).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => (float)rng.NextDouble()).ToArray();
        var c = new float[m * n];
        void Once() => PackedGemm.MatMul(a, 0, transA ? m : k, transA, b, 0, transB ? k : n, transB, c, 0, n, m, n, k, false, pool);
        Once();
        int reps = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < 0.5 || reps < 2) { Once(); reps++; }
        return 2.0 * m * k * n * reps / sw.Elapsed.TotalSeconds / 1e9;
    }

    // Ten independent FMA chains per thread hide the FMA latency; nothing touches memory.
    static double PeakFma(int threads, bool wide)
    {
        const long iters = 20_000_000;
        double Once()
        {
            var sw = Stopwatch.StartNew();
            var ts = Enumerable.Range(0, threads).Select(i => new Thread(() => { if (wide) Loop512(iters); else Loop256(iters); })).ToList();
            ts.ForEach(t => t.Start()); ts.ForEach(t => t.Join());
            return 2.0 * (wide ? 16 : 8) * 10 * iters * threads / sw.Elapsed.TotalSeconds / 1e9;
        }
        Once();
        return Math.Max(Once(), Once());
    }

    static float Sink;
    static void Loop256(long iters)
    {
        var m = Vector256.Create(0.999f); var c = Vector256.Create(1e-3f);
        Vector256<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c); a2 = Vector256.FusedMultiplyAdd(a2, m, c);
            a3 = Vector256.FusedMultiplyAdd(a3, m, c); a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c); a8 = Vector256.FusedMultiplyAdd(a8, m, c);
            a9 = Vector256.FusedMultiplyAdd(a9, m, c);
        }
        Sink += Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9);
    }

    static void Loop512(long iters)
    {
        var m = Vector512.Create(0.999f); var c = Vector512.Create(1e-3f);
        Vector512<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c); a2 = Vector512.FusedMultiplyAdd(a2, m, c);
            a3 = Vector512.FusedMultiplyAdd(a3, m, c); a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c); a8 = Vector512.FusedMultiplyAdd(a8, m, c);
            a9 = Vector512.FusedMultiplyAdd(a9, m, c);
        }
        Sink += Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9);
    }
}
