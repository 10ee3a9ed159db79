using FalconMamba.Formats.Gguf;
using FalconMamba.Kernels;
using FalconMamba.Kernels.Quantized;

namespace FalconMamba.Model;

/// <summary>
/// Quantize-at-load of the linear weights with llama.cpp's reference quantizers (A, D, conv, biases and norms stay f32,
/// SPEC.md §5.1). A matrix whose in_features is not a whole number of blocks takes the same fallback as the GGUF writer
/// (<see cref="GgufModelWriter.MatrixType"/>).
/// </summary>
public static class WeightQuantizer
{
    /// <summary>Parses "q8_0", "q4_0", "q4_k", "q6_k", "f16", "bf16", "f32" (the --quantize / --type names).</summary>
    public static TensorType Parse(string name, string argument = "--quantize") => name.ToLowerInvariant() switch
    {
        "q8_0" => TensorType.Q8_0,
        "q4_0" => TensorType.Q4_0,
        "q4_k" or "q4_k_m" => TensorType.Q4_K,
        "q6_k" => TensorType.Q6_K,
        "f16" => TensorType.F16,
        "bf16" => TensorType.BF16,
        "f32" => TensorType.F32,
        _ => throw new ArgumentException($"{argument}: unknown type '{name}' (q8_0, q4_0, q4_k, q6_k, f16, bf16, f32)"),
    };

    /// <summary>Returns weights whose matrices are converted to <paramref name="type"/> (the originals' mappings stay owned).</summary>
    public static MambaWeights Apply(MambaWeights weights, TensorType type)
    {
        if (!Quantizers.CanQuantize(type)) throw new FalconMambaException($"--quantize {type}: supported types are f32, f16, bf16, q8_0, q4_0, q4_k, q6_k");
        WeightMatrix Q(WeightMatrix m, bool output = false)
        {
            var t = output ? GgufModelWriter.OutputType(type, m.Cols) : GgufModelWriter.MatrixType(type, m.Cols);
            return m.Type == t ? m : QuantizedMatrix.Quantize(t, m);
        }
        // the output matrix (lm_head, or the embedding when tied) gets llama-quantize's extra bits (GgufModelWriter.OutputType)
        bool tied = ReferenceEquals(weights.LmHead, weights.Embedding);
        var embedding = Q(weights.Embedding, output: tied);
        var lmHead = tied ? embedding : Q(weights.LmHead, output: true);
        return weights.WithMatrices(embedding, lmHead, m => Q(m), weights.Owners);
    }
}
