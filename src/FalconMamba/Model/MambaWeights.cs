using FalconMamba.Kernels;

namespace FalconMamba.Model;

/// <summary>
/// One Mamba block's weights. Shapes: D = d_model, E = d_inner, N = d_state, R = dt_rank, k = conv width.
/// HF names in comments (<c>backbone.layers.i.…</c>), GGUF names after the slash.
/// </summary>
public sealed class MambaLayerWeights
{
    /// <summary>[D] norm.weight / blk.i.attn_norm.</summary>
    public required float[] Norm { get; init; }
    /// <summary>[2E, D] mixer.in_proj.weight / ssm_in: rows 0..E-1 → x, E..2E-1 → z (gate).</summary>
    public required WeightMatrix InProj { get; init; }
    /// <summary>[2E] in_proj bias (use_bias only).</summary>
    public float[]? InProjBias { get; init; }
    /// <summary>[E, k] mixer.conv1d.weight squeezed / ssm_conv1d; tap k-1 multiplies the current token.</summary>
    public required float[] ConvWeight { get; init; }
    /// <summary>[E] mixer.conv1d.bias (use_conv_bias).</summary>
    public float[]? ConvBias { get; init; }
    /// <summary>[R+2N, E] mixer.x_proj.weight / ssm_x: rows → (dt, B, C).</summary>
    public required WeightMatrix XProj { get; init; }
    /// <summary>[E, R] mixer.dt_proj.weight / ssm_dt.</summary>
    public required WeightMatrix DtProj { get; init; }
    /// <summary>[E] mixer.dt_proj.bias.</summary>
    public required float[] DtBias { get; init; }
    /// <summary>[E, N] A = −exp(A_log) (GGUF ssm_a already holds A).</summary>
    public required float[] A { get; init; }
    /// <summary>[E] mixer.D (skip).</summary>
    public required float[] D { get; init; }
    /// <summary>[D, E] mixer.out_proj.weight / ssm_out.</summary>
    public required WeightMatrix OutProj { get; init; }
    /// <summary>[D] out_proj bias (use_bias only).</summary>
    public float[]? OutProjBias { get; init; }
}

/// <summary>
/// All weights of a Mamba / Falcon Mamba causal LM. Immutable and shareable across threads; owns the file mappings
/// the matrices point into (disposing unmaps them).
/// </summary>
public sealed class MambaWeights : IDisposable
{
    /// <summary>The model config.</summary>
    public MambaConfig Config { get; }
    /// <summary>[V, D] backbone.embeddings.weight / token_embd.</summary>
    public WeightMatrix Embedding { get; }
    /// <summary>The blocks.</summary>
    public IReadOnlyList<MambaLayerWeights> Layers { get; }
    /// <summary>[D] backbone.norm_f.weight / output_norm.</summary>
    public float[] NormF { get; }
    /// <summary>[V, D] lm_head.weight / output (the embedding when tied).</summary>
    public WeightMatrix LmHead { get; }
    readonly IReadOnlyList<IDisposable> _owners;
    /// <summary>The mappings the matrices point into (handed on when weights are re-wrapped, e.g. quantized at load).</summary>
    internal IReadOnlyList<IDisposable> Owners => _owners;

    /// <summary>Bundles the weights and checks every shape against the config.</summary>
    public MambaWeights(MambaConfig config, WeightMatrix embedding, MambaLayerWeights[] layers, float[] normF, WeightMatrix lmHead, IReadOnlyList<IDisposable> owners)
    {
        Config = config;
        Embedding = embedding;
        Layers = layers;
        NormF = normF;
        LmHead = lmHead;
        _owners = owners;
        Validate();
    }

    void Validate()
    {
        var c = Config;
        int d = c.HiddenSize, e = c.IntermediateSize, n = c.StateSize, r = c.TimeStepRank, k = c.ConvKernel, v = c.VocabSize;
        void M(WeightMatrix w, int rows, int cols, string name)
        {
            if (w.Rows != rows || w.Cols != cols) throw new ModelFormatException($"tensor '{name}': shape [{w.Rows}, {w.Cols}] does not match the config, expected [{rows}, {cols}]");
        }
        void V(float[]? a, int len, string name, bool required = true)
        {
            if (a == null) { if (required) throw new ModelFormatException($"tensor '{name}' is missing"); return; }
            if (a.Length != len) throw new ModelFormatException($"tensor '{name}': {a.Length} elements do not match the config, expected {len}");
        }
        if (Layers.Count != c.NumHiddenLayers) throw new ModelFormatException($"model has {Layers.Count} layers but config num_hidden_layers is {c.NumHiddenLayers}");
        M(Embedding, v, d, "embeddings");
        M(LmHead, v, d, "lm_head");
        V(NormF, d, "norm_f");
        for (int i = 0; i < Layers.Count; i++)
        {
            var l = Layers[i];
            string p = $"layers.{i}.";
            V(l.Norm, d, p + "norm");
            M(l.InProj, 2 * e, d, p + "mixer.in_proj");
            V(l.InProjBias, 2 * e, p + "mixer.in_proj.bias", false);
            V(l.ConvWeight, e * k, p + "mixer.conv1d.weight");
            V(l.ConvBias, e, p + "mixer.conv1d.bias", false);
            M(l.XProj, r + 2 * n, e, p + "mixer.x_proj");
            M(l.DtProj, e, r, p + "mixer.dt_proj");
            V(l.DtBias, e, p + "mixer.dt_proj.bias");
            V(l.A, e * n, p + "mixer.A");
            V(l.D, e, p + "mixer.D");
            M(l.OutProj, d, e, p + "mixer.out_proj");
            V(l.OutProjBias, d, p + "mixer.out_proj.bias", false);
        }
    }

    /// <summary>Total parameter count (the tied lm_head counted once).</summary>
    public long ParameterCount
    {
        get
        {
            long total = (long)Embedding.Rows * Embedding.Cols + NormF.Length;
            if (!ReferenceEquals(LmHead, Embedding)) total += (long)LmHead.Rows * LmHead.Cols;
            foreach (var l in Layers)
                total += l.Norm.Length + (long)l.InProj.Rows * l.InProj.Cols + (l.InProjBias?.Length ?? 0) + l.ConvWeight.Length + (l.ConvBias?.Length ?? 0)
                    + (long)l.XProj.Rows * l.XProj.Cols + (long)l.DtProj.Rows * l.DtProj.Cols + l.DtBias.Length + l.A.Length + l.D.Length
                    + (long)l.OutProj.Rows * l.OutProj.Cols + (l.OutProjBias?.Length ?? 0);
            return total;
        }
    }

    /// <summary>Bytes of weight storage streamed per decoded token (all matrices once; the embedding reads one row).</summary>
    public long BytesPerToken => LmHead.ByteSize + Embedding.ByteSize / Embedding.Rows + LayerBytes();

    /// <summary>Total bytes of all weights as stored.</summary>
    public long TotalBytes => Embedding.ByteSize + 4L * NormF.Length + (ReferenceEquals(LmHead, Embedding) ? 0 : LmHead.ByteSize) + LayerBytes();

    long LayerBytes() => Layers.Sum(l => l.InProj.ByteSize + l.XProj.ByteSize + l.DtProj.ByteSize + l.OutProj.ByteSize
        + 4L * (l.Norm.Length + l.ConvWeight.Length + (l.ConvBias?.Length ?? 0) + l.DtBias.Length + l.A.Length + l.D.Length));

    /// <summary>Every weight matrix: embedding, lm_head (the same object when tied), then each layer's four products.</summary>
    internal IEnumerable<WeightMatrix> Matrices() =>
        new[] { Embedding, LmHead }.Concat(Layers.SelectMany(l => new[] { l.InProj, l.XProj, l.DtProj, l.OutProj }));

    /// <summary>
    /// The same weights with other matrices: <paramref name="embedding"/> and <paramref name="lmHead"/> (pass the same
    /// object for a tied head), each layer's four products through <paramref name="layerMatrix"/>; the f32 vectors are
    /// shared. Used by quantize-at-load and by <see cref="WeightResidency"/>.
    /// </summary>
    internal MambaWeights WithMatrices(WeightMatrix embedding, WeightMatrix lmHead, Func<WeightMatrix, WeightMatrix> layerMatrix, IReadOnlyList<IDisposable> owners)
    {
        var layers = Layers.Select(l => new MambaLayerWeights
        {
            Norm = l.Norm, InProj = layerMatrix(l.InProj), InProjBias = l.InProjBias, ConvWeight = l.ConvWeight, ConvBias = l.ConvBias,
            XProj = layerMatrix(l.XProj), DtProj = layerMatrix(l.DtProj), DtBias = l.DtBias, A = l.A, D = l.D,
            OutProj = layerMatrix(l.OutProj), OutProjBias = l.OutProjBias,
        }).ToArray();
        return new MambaWeights(Config, embedding, layers, NormF, lmHead, owners);
    }

    /// <summary>Releases the file mappings.</summary>
    public void Dispose()
    {
        foreach (var o in _owners) o.Dispose();
    }
}
