using System.Diagnostics;
using FalconMamba.Kernels;
using FalconMamba.Model;
using FalconMamba.Training;

namespace FalconMamba.Bench;

/// <summary>
/// Training throughput and model-FLOPs utilisation. Peak = the same run's f32 GEMM kernel on a large square product
/// (the best the matrix products can do on this machine and thread count). Model FLOPs per token =
/// 6 × (matrix parameters, lm_head included) + 18·E·N·layers for the scan (≈6 per state element forward, done
/// three times: forward, recompute, backward). Also the activation memory and process peak RSS versus context.
/// </summary>
public static class TrainBench
{
    public static void Run(int dModel, int layers, int context, int batch, int vocab, int steps, int threads, Action<string> log)
    {
        threads = threads > 0 ? threads : Environment.ProcessorCount;
        log($"cpu threads {threads}, Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
        // 1. Peak f32 FMA throughput of the GEMM kernel.
        using (var pool = new WorkerPool(threads))
        {
            int n = 1536;
            var a = new float[n * n]; var b = new float[n * n]; var c = new float[n * n];
            for (int i = 0; i < a.Length; i++) { a[i] = (i % 7) * 0.1f; b[i] = (i % 5) * 0.1f; }
            Gemm.MatMul(a, 0, n, b, 0, n, c, 0, n, n, n, n, false, pool);
            double best = 0;
            for (int rep = 0; rep < 5; rep++)
            {
                var sw = Stopwatch.StartNew();
                Gemm.MatMul(a, 0, n, b, 0, n, c, 0, n, n, n, n, false, pool);
                best = Math.Max(best, Gemm.Flops(n, n, n) / sw.Elapsed.TotalSeconds);
            }
            Peak = best;
            log($"peak GEMM {n}³: {best / 1e9:F1} GFLOP/s");
        }
        var cfg = new MambaConfig
        {
            ModelType = "falcon_mamba", HiddenSize = dModel, NumHiddenLayers = layers, IntermediateSize = 2 * dModel, Expand = 2,
            StateSize = 16, TimeStepRank = (dModel + 15) / 16, ConvKernel = 4, VocabSize = vocab, TieWordEmbeddings = true, EosTokenIds = [0],
        }.Validate();
        var p = MambaParameters.Initialize(cfg, 1);
        int d = dModel, e = 2 * dModel, nS = 16, r = cfg.TimeStepRank;
        double matParams = layers * (2.0 * e * d + (r + 2 * nS) * e + (double)e * r + (double)d * e) + (double)vocab * d;
        double flopsPerToken = 6 * matParams + 18.0 * e * nS * layers;
        log($"model d_model {d}, layers {layers}, d_inner {e}, vocab {vocab}: {p.Count / 1e6:F2} M parameters, {matParams / 1e6:F2} M in matrix products; {flopsPerToken / 1e6:F1} MFLOP per trained token");
        var g = p.ZerosLike();
        var opt = new AdamW(p, new AdamWOptions());
        var rng = new Random(2);
        int[][] Seq() => Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, context).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
        var x = Seq(); var y = Seq();
        using (var model = new MambaTrainingModel(p, threads))
        {
            model.ForwardBackward(x, y, g);   // warm-up (JIT, buffers)
            var sw = Stopwatch.StartNew();
            for (int s = 0; s < steps; s++)
            {
                g.Clear();
                model.ForwardBackward(x, y, g);
                AdamW.ClipGlobalNorm(g, 1);
                opt.Update(p, g, 1e-4);
            }
            double sec = sw.Elapsed.TotalSeconds;
            double tps = (double)steps * batch * context / sec;
            TokensPerSecond = tps;
            Utilisation = tps * flopsPerToken / Peak;
            log($"train batch {batch}×{context}: {tps:F0} tokens/s, {tps * flopsPerToken / 1e9:F1} GFLOP/s achieved = {Utilisation:P1} of the GEMM peak ({sec / steps * 1000:F0} ms/step)");
        }
        // 3. Memory versus context (batch 1): activation buffers held by the trainer and the process peak RSS.
        foreach (int ctx in new[] { 512, 1024, 2048, 4096, 8192 })
        {
            using var model = new MambaTrainingModel(p, threads);
            var xs = new[] { Enumerable.Range(0, ctx).Select(_ => rng.Next(vocab)).ToArray() };
            var sw = Stopwatch.StartNew();
            model.ForwardBackward(xs, xs, g);
            log($"context {ctx,5} (batch 1): activations {model.ActivationBytes / 1048576.0:F0} MiB, process peak RSS {PeakRssMiB():F0} MiB, step {sw.Elapsed.TotalSeconds:F2} s");
        }
    }

    public static double Peak, TokensPerSecond, Utilisation;

    static double PeakRssMiB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:")) return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
        return Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
    }
}
