using FalconMamba.Kernels;
using FalconMamba.Kernels.Quantized;
using FalconMamba.Model;

namespace FalconMamba.Formats.Gguf;

/// <summary>
/// Loads a llama.cpp Mamba / Falcon Mamba GGUF (SPEC.md §4.2) into <see cref="MambaWeights"/>: matrices stay in the
/// mapping in their stored type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K…Q6_K) and run natively; the small
/// vectors (norms, biases, A, D, conv) are read into f32 arrays. Every tensor is checked (name, ne, type) with an error
/// naming it.
/// </summary>
public static unsafe class GgufModelLoader
{
    /// <summary>Builds the config from the <c>mamba.*</c> keys.</summary>
    public static MambaConfig ReadConfig(GgufFile f)
    {
        string arch = f.GetString("general.architecture");
        if (arch != "mamba") throw new ModelFormatException($"{f.Path}: general.architecture is '{arch}', expected 'mamba' (Falcon Mamba GGUFs use 'mamba' with mamba.ssm.dt_b_c_rms = true)");
        int U(string key)
        {
            long v = f.GetInteger(key);
            if (v <= 0 || v > int.MaxValue) throw new ModelFormatException($"{f.Path}: metadata key '{key}' = {v} must be a positive 32-bit integer");
            return (int)v;
        }
        var emb = f.Find("token_embd.weight") ?? throw new ModelFormatException($"{f.Path}: tensor 'token_embd.weight' is missing");
        if (emb.Ne.Length != 2 || emb.Ne[1] <= 0 || emb.Ne[1] > int.MaxValue) throw new ModelFormatException($"{f.Path}: tensor 'token_embd.weight' has ne {emb.NeText}, expected {{d_model, n_vocab}}");
        int d = U("mamba.embedding_length");
        int e = U("mamba.ssm.inner_size");
        bool bcdt = f.GetBoolOrNull("mamba.ssm.dt_b_c_rms") ?? false;   // optional in llama.cpp, default false
        double eps = f.GetFloat("mamba.attention.layer_norm_rms_epsilon");
        var tok = GgufTokenizerMetadata.FromFile(f);
        return new MambaConfig
        {
            ModelType = bcdt ? "falcon_mamba" : "mamba",
            VocabSize = (int)emb.Ne[1],
            HiddenSize = d,
            NumHiddenLayers = U("mamba.block_count"),
            IntermediateSize = e,
            Expand = (double)e / d,
            StateSize = U("mamba.ssm.state_size"),
            TimeStepRank = U("mamba.ssm.time_step_rank"),
            ConvKernel = U("mamba.ssm.conv_kernel"),
            LayerNormEpsilon = eps,
            // llama.cpp normalises B, C and dt with the layer-norm eps (build_norm(..., LLM_NORM_RMS) uses f_norm_rms_eps,
            // SPEC.md §4.3 item 1); HF uses mixer_rms_eps = 1e-6, which GGUF does not store. Reproduce llama.cpp here.
            MixerRmsEps = eps,
            UseConvBias = f.Find("blk.0.ssm_conv1d.bias") != null,
            UseBias = f.Find("blk.0.ssm_in.bias") != null,
            TieWordEmbeddings = f.Find("output.weight") == null,
            BosTokenId = tok?.BosTokenId,
            EosTokenIds = tok?.EosTokenId is int eos ? [eos] : [],
            PadTokenId = tok?.PaddingTokenId,
        }.Validate(f.Path);
    }

    /// <summary>Opens <paramref name="path"/> and loads the weights; the returned file owns the mapping (the weights dispose it).</summary>
    public static (MambaWeights Weights, GgufFile File) Load(string path, IProgress<double>? progress = null)
    {
        var f = GgufFile.Open(path);
        try
        {
            var c = ReadConfig(f);
            int d = c.HiddenSize, e = c.IntermediateSize, n = c.StateSize, r = c.TimeStepRank, k = c.ConvKernel, v = c.VocabSize;
            var used = new HashSet<string>(StringComparer.Ordinal);
            GgufTensorInfo Get(string name)
            {
                used.Add(name);
                return f.Find(name) ?? throw new ModelFormatException($"{f.Path}: tensor '{name}' is missing");
            }
            WeightMatrix Matrix(string name, int rows, int cols)
            {
                var t = Get(name);
                if (t.Ne.Length != 2 || t.Ne[0] != cols || t.Ne[1] != rows)
                    throw new ModelFormatException($"{f.Path}: tensor '{name}' has ne {t.NeText}, expected {{{cols}, {rows}}} from the mamba.* keys");
                var tt = GgmlTypes.ToTensorType(t.Type) ?? throw new ModelFormatException($"{f.Path}: tensor '{name}' has type {t.Type}, which this engine cannot run (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
                return QuantizedMatrix.Create(tt, f.DataPointer(t), rows, cols, f);
            }
            float[] Vector(string name, params long[] ne)
            {
                var t = Get(name);
                if (!t.Ne.SequenceEqual(ne))
                    throw new ModelFormatException($"{f.Path}: tensor '{name}' has ne {t.NeText}, expected {{{string.Join(", ", ne)}}}");
                if (t.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
                    throw new ModelFormatException($"{f.Path}: tensor '{name}' has type {t.Type}, expected F32 (llama.cpp keeps norms, biases, A, D and conv in F32)");
                return f.ReadFloat32(t);
            }

            var embedding = Matrix("token_embd.weight", v, d);
            var layers = new MambaLayerWeights[c.NumHiddenLayers];
            for (int i = 0; i < layers.Length; i++)
            {
                string p = $"blk.{i}.";
                layers[i] = new MambaLayerWeights
                {
                    Norm = Vector(p + "attn_norm.weight", d),
                    InProj = Matrix(p + "ssm_in.weight", 2 * e, d),
                    InProjBias = c.UseBias ? Vector(p + "ssm_in.bias", 2 * e) : null,
                    ConvWeight = Vector(p + "ssm_conv1d.weight", k, e),
                    ConvBias = c.UseConvBias ? Vector(p + "ssm_conv1d.bias", e) : null,
                    XProj = Matrix(p + "ssm_x.weight", r + 2 * n, e),
                    DtProj = Matrix(p + "ssm_dt.weight", e, r),
                    DtBias = Vector(p + "ssm_dt.bias", e),
                    A = Vector(p + "ssm_a", n, e),          // already A = −exp(A_log) (pitfall 9)
                    D = Vector(p + "ssm_d", e),
                    OutProj = Matrix(p + "ssm_out.weight", d, e),
                    OutProjBias = c.UseBias ? Vector(p + "ssm_out.bias", d) : null,
                };
                progress?.Report((i + 1.0) / layers.Length);
            }
            var normF = Vector("output_norm.weight", d);
            // llama.cpp drops output.weight when it is identical to token_embd and then reuses the embedding (pitfall 19).
            var lmHead = c.TieWordEmbeddings ? embedding : Matrix("output.weight", v, d);
            var extra = f.Tensors.Select(t => t.Name).Where(x => !used.Contains(x)).ToList();
            if (extra.Count > 0)
                throw new ModelFormatException($"{f.Path}: unexpected tensor '{extra[0]}'{(extra.Count > 1 ? $" (and {extra.Count - 1} more)" : "")} for a {c.NumHiddenLayers}-layer mamba model");
            return (new MambaWeights(c, embedding, layers, normF, lmHead, [f]), f);
        }
        catch
        {
            f.Dispose();
            throw;
        }
    }
}
