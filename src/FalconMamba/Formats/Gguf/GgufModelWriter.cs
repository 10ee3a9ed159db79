using System.Runtime.InteropServices;
using FalconMamba.Kernels;
using FalconMamba.Kernels.Quantized;
using FalconMamba.Model;

namespace FalconMamba.Formats.Gguf;

/// <summary>
/// Writes Mamba / Falcon Mamba weights as a llama.cpp GGUF (SPEC.md §4.2): architecture <c>mamba</c>, the
/// <c>mamba.*</c> hyper-parameters, llama.cpp tensor names, and llama.cpp's type rules (§5.1): A, D, conv1d, norms and
/// biases stay F32; the matrices (token_embd, output, ssm_in, ssm_x, ssm_dt, ssm_out) take the requested type.
/// </summary>
public static class GgufModelWriter
{
    /// <summary>The type of the output matrix (lm_head, or the tied embedding) when <paramref name="requested"/> is asked for.</summary>
    public static TensorType OutputType(TensorType requested, int cols)
    {
        // llama.cpp's llama-quant.cpp (llama_tensor_get_type) gives the output matrix (lm_head, or the embedding when it is
        // tied) more bits than the rest: Q6_K for every block type below 8 bits, Q8_0 when a row is not a whole number of
        // the requested type's blocks. On the shipped model's held-out text this halves the KL of Q4_0 against f32
        // (4.0e-3 → 2.4e-3, docs/benchmarks.md), so files and quantize-at-load follow the same rule as llama-quantize.
        if (requested is not (TensorType.Q4_0 or TensorType.Q4_K)) return MatrixType(requested, cols);
        var (bs, _) = BlockFormats.Geometry(requested);
        return MatrixType(cols % bs != 0 ? TensorType.Q8_0 : TensorType.Q6_K, cols);
    }

    /// <summary>
    /// The type a matrix with <paramref name="cols"/> in-features gets when <paramref name="requested"/> is asked for.
    /// Rows must be whole blocks (ne[0] multiple of 32 / 256). Fallbacks: K-quants → Q8_0 when cols is a multiple of 32
    /// (llama-quantize falls back Q6_K → Q8_0 and Q4_K → Q5_0, which this writer cannot produce), otherwise F16, as the
    /// converter does for Q8_0 when a row is not whole blocks.
    /// </summary>
    public static TensorType MatrixType(TensorType requested, int cols)
    {
        var (bs, _) = BlockFormats.Geometry(requested);
        if (cols % bs == 0) return requested;
        if (bs == 256 && cols % 32 == 0) return TensorType.Q8_0;
        return TensorType.F16;
    }

    /// <summary>
    /// Writes <paramref name="w"/> to <paramref name="path"/> with the matrices stored as <paramref name="type"/>
    /// (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K). The lm_head is omitted when it is the embedding (tied), as llama.cpp does.
    /// </summary>
    public static void Write(string path, MambaWeights w, TensorType type, GgufTokenizerMetadata? tokenizer = null, IProgress<double>? progress = null, string? name = null)
    {
        if (!Quantizers.CanQuantize(type)) throw new FalconMambaException($"--type {type}: GGUF output supports f32, f16, bf16, q8_0, q4_0, q4_k, q6_k");
        var c = w.Config;
        int d = c.HiddenSize, e = c.IntermediateSize, n = c.StateSize, r = c.TimeStepRank, k = c.ConvKernel, v = c.VocabSize;
        var g = new GgufWriter();
        g.Add("general.architecture", GgufValue.Of("mamba"));
        if (name != null) g.Add("general.name", GgufValue.Of(name));
        g.Add("mamba.context_length", GgufValue.Of(1u << 20));     // placeholder, "arbitrary value" in the converter (pitfall 26)
        g.Add("mamba.embedding_length", GgufValue.Of((uint)d));
        g.Add("mamba.feed_forward_length", GgufValue.Of(0u));     // "unused, but seemingly required"
        g.Add("mamba.attention.head_count", GgufValue.Of(0u));
        g.Add("mamba.block_count", GgufValue.Of((uint)c.NumHiddenLayers));
        g.Add("mamba.ssm.conv_kernel", GgufValue.Of((uint)k));
        g.Add("mamba.ssm.inner_size", GgufValue.Of((uint)e));
        g.Add("mamba.ssm.state_size", GgufValue.Of((uint)n));
        g.Add("mamba.ssm.time_step_rank", GgufValue.Of((uint)r));
        g.Add("mamba.attention.layer_norm_rms_epsilon", GgufValue.Of((float)c.LayerNormEpsilon));
        g.Add("mamba.ssm.dt_b_c_rms", GgufValue.Of(c.UseBcdtRms));
        g.Add("mamba.vocab_size", GgufValue.Of((uint)v));
        var ggmlType = GgmlTypes.FromTensorType(type);
        g.Add("general.file_type", GgufValue.Of(GgmlTypes.FileType(ggmlType)));
        if (type is not (TensorType.F32 or TensorType.F16 or TensorType.BF16)) g.Add("general.quantization_version", GgufValue.Of(2u));
        (tokenizer ?? new GgufTokenizerMetadata { Model = "none" }).WriteTo(g);

        bool tied = ReferenceEquals(w.LmHead, w.Embedding);
        void Matrix(string tensor, WeightMatrix m)
        {
            bool output = tensor == "output.weight" || (tied && tensor == "token_embd.weight");
            var t = output ? OutputType(type, m.Cols) : MatrixType(type, m.Cols);
            g.AddTensor(tensor, [m.Cols, m.Rows], GgmlTypes.FromTensorType(t), s => WriteMatrix(s, m, t));
        }
        void Vector(string tensor, float[] values, params long[] ne) => g.AddTensor(tensor, ne, values);

        Matrix("token_embd.weight", w.Embedding);
        for (int i = 0; i < w.Layers.Count; i++)
        {
            var L = w.Layers[i];
            string p = $"blk.{i}.";
            Vector(p + "attn_norm.weight", L.Norm, d);
            Matrix(p + "ssm_in.weight", L.InProj);
            if (L.InProjBias != null) Vector(p + "ssm_in.bias", L.InProjBias, 2 * e);
            Vector(p + "ssm_conv1d.weight", L.ConvWeight, k, e);
            if (L.ConvBias != null) Vector(p + "ssm_conv1d.bias", L.ConvBias, e);
            Matrix(p + "ssm_x.weight", L.XProj);
            Matrix(p + "ssm_dt.weight", L.DtProj);
            Vector(p + "ssm_dt.bias", L.DtBias, e);
            Vector(p + "ssm_a", L.A, n, e);       // A = −exp(A_log), no ".weight" suffix (pitfall 25)
            Vector(p + "ssm_d", L.D, e);
            Matrix(p + "ssm_out.weight", L.OutProj);
            if (L.OutProjBias != null) Vector(p + "ssm_out.bias", L.OutProjBias, d);
        }
        Vector("output_norm.weight", w.NormF, d);
        if (!tied) Matrix("output.weight", w.LmHead);
        g.Write(path, progress);
    }

    /// <summary>
    /// Streams a matrix in chunks of rows: each row is dequantized (or copied) and re-encoded as <paramref name="t"/>, rows
    /// of a chunk in parallel (they are independent), chunks written in order.
    /// </summary>
    static void WriteMatrix(Stream s, WeightMatrix m, TensorType t)
    {
        int rowBytes = (int)BlockFormats.RowBytes(t, m.Cols);
        int rowsPerChunk = Math.Max(1, (1 << 24) / rowBytes);
        var buf = new byte[(long)Math.Min(rowsPerChunk, m.Rows) * rowBytes];
        for (int r0 = 0; r0 < m.Rows; r0 += rowsPerChunk)
        {
            int rows = Math.Min(rowsPerChunk, m.Rows - r0);
            Parallel.For(0, rows, () => new float[m.Cols], (i, _, row) =>
            {
                var dst = buf.AsSpan(i * rowBytes, rowBytes);
                if (m.Type == t && m is QuantizedMatrix qm) qm.Row(r0 + i).CopyTo(dst);  // same block type: copy bytes
                else
                {
                    m.DequantizeRow(r0 + i, row);
                    Quantizers.QuantizeRow(t, row, dst);
                }
                return row;
            }, _ => { });
            s.Write(buf, 0, rows * rowBytes);
        }
    }
}
