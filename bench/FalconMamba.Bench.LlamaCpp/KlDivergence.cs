using LLama;
using LLama.Common;
using LLama.Native;

/// <summary>
/// `FalconMamba.Bench.LlamaCpp kl --base BASE.gguf --model QUANTIZED.gguf --ids-file IDS [--threads N]`: llama.cpp's
/// side of the quantization-quality comparison. Both files run in llama.cpp over the same token ids (no tokenizer
/// involved), logits at every position; then, as `falcon-mamba eval kl` and llama.cpp's `perplexity --kl-divergence`:
/// mean and max KL(base ‖ model) of the next-token distributions, top-1 agreement, and both perplexities, in double.
/// (llama.cpp's perplexity tool scores only the second half of each n_ctx window; a recurrent model needs no window,
/// so every position after the first is scored here and in `eval kl`.)
/// </summary>
static class KlDivergence
{
    public static int Run(string basePath, string modelPath, string idsPath, int threads)
    {
        var ids = File.ReadAllText(idsPath).Split([' ', ',', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        if (ids.Length < 2) throw new ArgumentException($"{idsPath}: need at least two token ids");
        int n = ids.Length - 1;
        float[] baseLogits = [];
        int vocab = 0;
        Score(basePath, ids, threads, (v, pos, row) =>
        {
            if (baseLogits.Length == 0) { vocab = v; baseLogits = new float[(long)n * v <= int.MaxValue ? n * v : throw new InvalidOperationException("text too long for one buffer")]; }
            row.CopyTo(baseLogits.AsSpan(pos * v, v));
        });
        double klSum = 0, klMax = 0, nllBase = 0, nllModel = 0;
        long agree = 0;
        Score(modelPath, ids, threads, (v, pos, row) =>
        {
            if (v != vocab) throw new InvalidOperationException($"vocabularies differ: base {vocab}, model {v}");
            var b = baseLogits.AsSpan(pos * v, v);
            double lb = LogSumExp(b), lm = LogSumExp(row), kl = 0;
            for (int i = 0; i < v; i++)
            {
                double pb = b[i] - lb, pm = row[i] - lm;
                kl += Math.Exp(pb) * (pb - pm);
            }
            klSum += kl; klMax = Math.Max(klMax, kl);
            if (ArgMax(b) == ArgMax(row)) agree++;
            nllBase -= b[ids[pos + 1]] - lb;
            nllModel -= row[ids[pos + 1]] - lm;
        });
        Console.WriteLine($"llama.cpp: base {Path.GetFileName(basePath)}, model {Path.GetFileName(modelPath)}");
        Console.WriteLine($"tokens {n}  mean KL {klSum / n:E4}  max KL {klMax:E4}  top-1 agreement {agree / (double)n:P2}  PPL base {Math.Exp(nllBase / n):F4} model {Math.Exp(nllModel / n):F4}");
        return 0;
    }

    /// <summary>Feeds ids in batches of 512 with logits requested at every position; reports rows 0 … n−1.</summary>
    static void Score(string path, int[] ids, int threads, Action<int, int, ReadOnlySpan<float>> onRow)
    {
        const int batchSize = 512;
        var p = new ModelParams(path)
        {
            ContextSize = (uint)(ids.Length + 8),
            BatchSize = batchSize,
            UBatchSize = batchSize,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
        using var weights = LLamaWeights.LoadFromFile(p);
        using var ctx = weights.CreateContext(p);
        int vocab = weights.Vocab.Count;
        var batch = new LLamaBatch();
        int n = ids.Length - 1;
        for (int start = 0; start < n; start += batchSize)
        {
            int len = Math.Min(batchSize, n - start);
            batch.Clear();
            for (int i = 0; i < len; i++) batch.Add(ids[start + i], start + i, LLamaSeqId.Zero, true);
            var r = ctx.Decode(batch);
            if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed at position {start}: {r}");
            for (int i = 0; i < len; i++) onRow(vocab, start + i, ctx.NativeHandle.GetLogitsIth(i)[..vocab]);
        }
    }

    static double LogSumExp(ReadOnlySpan<float> v)
    {
        double m = double.NegativeInfinity;
        foreach (float x in v) m = Math.Max(m, x);
        double s = 0;
        foreach (float x in v) s += Math.Exp(x - m);
        return m + Math.Log(s);
    }

    static int ArgMax(ReadOnlySpan<float> v) { int b = 0; for (int i = 1; i < v.Length; i++) if (v[i] > v[b]) b = i; return b; }
}
