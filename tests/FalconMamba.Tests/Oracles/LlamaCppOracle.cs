using LLama;
using LLama.Common;
using LLama.Native;

namespace FalconMamba.Tests.Oracles;

/// <summary>
/// llama.cpp as a test oracle, through LLamaSharp 0.30.0 and its CPU backend (the native libllama/libggml that ship in
/// LLamaSharp.Backend.Cpu). Loads a GGUF, evaluates a token sequence and returns the logits of every position.
/// </summary>
public static class LlamaCppOracle
{
    static readonly object Gate = new();
    static bool _configured;

    /// <summary>Silences llama.cpp's stderr logging (must run before the native library loads).</summary>
    static void Configure()
    {
        if (_configured) return;
        _configured = true;
        NativeLibraryConfig.All.WithLogCallback((level, message) => { });
        // Selecting and loading the native library happens in NativeApi's static constructor; entry points bound
        // elsewhere (e.g. the quantizer's default params) fail with DllNotFoundException unless it ran first.
        NativeApi.llama_empty_call();
    }

    /// <summary>
    /// Logits [nTokens][vocab] for every position of <paramref name="tokens"/>: one prefill batch with logits requested
    /// for all tokens, or (<paramref name="oneAtATime"/>) one decode call per token. Runs on the CPU with
    /// <paramref name="threads"/> threads.
    /// </summary>
    public static float[][] Logits(string ggufPath, int[] tokens, bool oneAtATime = false, int threads = 2)
    {
        lock (Gate)
        {
            Configure();
            var p = new ModelParams(ggufPath)
            {
                ContextSize = (uint)Math.Max(64, tokens.Length + 8),
                BatchSize = (uint)Math.Max(1, tokens.Length),
                UBatchSize = (uint)Math.Max(1, tokens.Length),
                Threads = threads,
                BatchThreads = threads,
                GpuLayerCount = 0,
            };
            using var weights = LLamaWeights.LoadFromFile(p);
            using var ctx = weights.CreateContext(p);
            int vocab = weights.Vocab.Count;
            var result = new float[tokens.Length][];
            var batch = new LLamaBatch();
            if (!oneAtATime)
            {
                for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
                Check(ctx.Decode(batch));
                for (int i = 0; i < tokens.Length; i++) result[i] = ctx.NativeHandle.GetLogitsIth(i)[..vocab].ToArray();
            }
            else
            {
                for (int i = 0; i < tokens.Length; i++)
                {
                    batch.Clear();
                    batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
                    Check(ctx.Decode(batch));
                    result[i] = ctx.NativeHandle.GetLogitsIth(0)[..vocab].ToArray();
                }
            }
            return result;
        }
    }

    /// <summary>Runs llama.cpp's quantizer (<c>llama_model_quantize</c>, what llama-quantize does) on a GGUF file.</summary>
    public static void Quantize(string src, string dst, LLamaFtype ftype, int threads = 2)
    {
        lock (Gate)
        {
            Configure();
            if (!LLamaQuantizer.Quantize(src, dst, ftype, threads, allowRequantize: true, quantizeOutputTensor: true))
                throw new InvalidOperationException($"llama.cpp could not quantize {src} to {ftype}");
        }
    }

    static void Check(DecodeResult r)
    {
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {r}");
    }
}
