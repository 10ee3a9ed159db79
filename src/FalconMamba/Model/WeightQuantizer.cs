using FalconMamba.Kernels;
using FalconMamba.Kernels.Quantized;

namespace FalconMamba.Model;

/// <summary>
/// Quantize-at-load: converts the linear weights (in_proj, x_proj, dt_proj, out_proj, and the embedding / lm_head
/// as llama.cpp does) to a ggml block type with llama.cpp's reference quantizers. A_log, D, conv, biases and norms stay
/// f32 — the SSM parameters are the sensitive ones (Tri Dao, state-spaces/mamba #133; SPEC.md §5.1). A matrix whose
/// in_features is not a multiple of the block size keeps its stored type (e.g. a dt_rank of 48 under a 256-wide K-quant).
/// </summary>
public static class WeightQuantizer
{
    /// <summary>Types a user may ask for at load.</summary>
    public static readonly TensorType[] Supported = [TensorType.Q8_0, TensorType.Q4_0, TensorType.Q4_K, TensorType.Q6_K, TensorType.F16, TensorType.BF16];

    /// <summary>Parses "q8_0", "q4_0", "q4_k", "q6_k", "f16", "bf16" (the --quantize / --type names).</summary>
    public static TensorType Parse(string name, string argument = "--quantize") => name.ToLowerInvariant() switch
    {
        "q8_0" => TensorType.Q8_0,
        "q4_0" => TensorType.Q4_0,
        "q4_k" or "q4_k_m" => TensorType.Q4_K,
        "q6_k" => TensorType.Q6_K,
        "f16" => TensorType.F16,
        "bf16" => TensorType.BF16,
        _ => throw new ArgumentException($"{argument}: unknown type '{name}' (q8_0, q4_0, q4_k, q6_k, f16, bf16)"),
    };

    /// <summary>Returns weights whose matrices are converted to <paramref name="type"/> (the originals are released).</summary>
    public static MambaWeights Apply(MambaWeights weights, TensorType type, IProgress<double>? progress = null)
    {
        if (!Supported.Contains(type)) throw new ArgumentException($"--quantize: {type} is not supported at load ({string.Join(", ", Supported)})");
        int total = weights.Layers.Count * 4 + 2, done = 0;
        WeightMatrix Q(WeightMatrix w)
        {
            var r = Convert(w, type);
            progress?.Report(++done / (double)total);
            return r;
        }
        var layers = weights.Layers.Select(l => new MambaLayerWeights
        {
            Norm = l.Norm, InProj = Q(l.InProj), InProjBias = l.InProjBias, ConvWeight = l.ConvWeight, ConvBias = l.ConvBias,
            XProj = Q(l.XProj), DtProj = Q(l.DtProj), DtBias = l.DtBias, A = l.A, D = l.D, OutProj = Q(l.OutProj), OutProjBias = l.OutProjBias,
        }).ToArray();
        var embedding = Q(weights.Embedding);
        var lmHead = ReferenceEquals(weights.LmHead, weights.Embedding) ? embedding : Q(weights.LmHead);
        // The quantized copies live in managed memory; the mapped originals are still owned (and released) by the new bundle.
        return new MambaWeights(weights.Config, embedding, layers, weights.NormF, lmHead, [weights]);
    }

    /// <summary>One matrix, row by row and in parallel (never the whole matrix in f32 at once).</summary>
    public static WeightMatrix Convert(WeightMatrix w, TensorType type)
    {
        if (w.Type == type) return w;
        var (bs, ts) = BlockFormats.Geometry(type);
        if (w.Cols % bs != 0) return w;
        int rowBytes = w.Cols / bs * ts;
        var bytes = new byte[(long)w.Rows * rowBytes];
        Parallel.For(0, w.Rows, () => new float[w.Cols], (r, _, row) =>
        {
            w.DequantizeRow(r, row);
            Quantizers.QuantizeRow(type, row, bytes.AsSpan((int)((long)r * rowBytes), rowBytes));
            return row;
        }, _ => { });
        return QuantizedMatrix.Create(type, bytes, w.Rows, w.Cols);
    }
}
