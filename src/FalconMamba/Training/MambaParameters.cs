using FalconMamba.Formats.Safetensors;
using FalconMamba.Kernels;
using FalconMamba.Model;

namespace FalconMamba.Training;

/// <summary>What a parameter is; decides weight decay and initialisation.</summary>
public enum ParameterKind
{
    /// <summary>backbone.embeddings.weight [V, D].</summary>
    Embedding,
    /// <summary>RMSNorm weights [D].</summary>
    Norm,
    /// <summary>Linear weights (in_proj, x_proj, dt_proj, out_proj, untied lm_head).</summary>
    Matrix,
    /// <summary>conv1d.weight [E, 1, k].</summary>
    ConvWeight,
    /// <summary>Biases (conv1d.bias, dt_proj.bias).</summary>
    Bias,
    /// <summary>mixer.A_log [E, N].</summary>
    ALog,
    /// <summary>mixer.D [E].</summary>
    DSkip,
}

/// <summary>One trainable tensor: its Hugging Face name, shape and f32 values.</summary>
public sealed class ParameterTensor(string name, long[] shape, ParameterKind kind)
{
    /// <summary>HF tensor name, e.g. backbone.layers.0.mixer.in_proj.weight.</summary>
    public string Name { get; } = name;
    /// <summary>Shape as stored in safetensors.</summary>
    public long[] Shape { get; } = shape;
    /// <summary>Kind (decay group).</summary>
    public ParameterKind Kind { get; } = kind;
    /// <summary>Values, row-major.</summary>
    public float[] Data { get; } = new float[shape.Aggregate(1L, (a, b) => a * b)];
}

/// <summary>Per-layer views of the parameter arrays (the same float[] objects as in <see cref="MambaParameters.Tensors"/>).</summary>
public sealed class LayerParameters
{
    /// <summary>[D] norm.weight.</summary>
    public required float[] Norm;
    /// <summary>[2E, D] mixer.in_proj.weight (rows 0..E-1 → x, E..2E-1 → z).</summary>
    public required float[] InProj;
    /// <summary>[E, 1, k] mixer.conv1d.weight.</summary>
    public required float[] ConvWeight;
    /// <summary>[E] mixer.conv1d.bias (null when use_conv_bias is false).</summary>
    public float[]? ConvBias;
    /// <summary>[R+2N, E] mixer.x_proj.weight.</summary>
    public required float[] XProj;
    /// <summary>[E, R] mixer.dt_proj.weight.</summary>
    public required float[] DtProj;
    /// <summary>[E] mixer.dt_proj.bias.</summary>
    public required float[] DtBias;
    /// <summary>[E, N] mixer.A_log.</summary>
    public required float[] ALog;
    /// <summary>[E] mixer.D.</summary>
    public required float[] D;
    /// <summary>[D, E] mixer.out_proj.weight.</summary>
    public required float[] OutProj;
}

/// <summary>
/// Every trainable tensor of a Mamba / Falcon Mamba causal LM as f32 arrays keyed by HF name (SPEC.md §3.1). The same
/// class holds gradients and optimizer moments (<see cref="ZerosLike"/>). The lm_head is the embedding when tied.
/// </summary>
public sealed class MambaParameters
{
    /// <summary>The model config.</summary>
    public MambaConfig Config { get; }
    /// <summary>All tensors in a fixed order (embedding, layers, norm_f, lm_head).</summary>
    public IReadOnlyList<ParameterTensor> Tensors { get; }
    /// <summary>Per-layer views.</summary>
    public LayerParameters[] Layers { get; }
    /// <summary>[V, D] embedding.</summary>
    public float[] Embedding { get; }
    /// <summary>[D] norm_f.</summary>
    public float[] NormF { get; }
    /// <summary>[V, D] lm_head (the embedding array when tied).</summary>
    public float[] LmHead { get; }
    readonly Dictionary<string, ParameterTensor> _byName;

    /// <summary>Name of the embedding tensor.</summary>
    public const string EmbeddingName = "backbone.embeddings.weight";

    /// <summary>Zero-filled parameters for a config.</summary>
    public MambaParameters(MambaConfig config)
    {
        if (config.UseBias) throw new FalconMambaException("training: use_bias = true (in_proj/out_proj biases) is not supported; Mamba and Falcon Mamba use none");
        Config = config;
        int d = config.HiddenSize, e = config.IntermediateSize, n = config.StateSize, r = config.TimeStepRank, k = config.ConvKernel, v = config.VocabSize;
        var list = new List<ParameterTensor>();
        ParameterTensor Add(string name, long[] shape, ParameterKind kind) { var t = new ParameterTensor(name, shape, kind); list.Add(t); return t; }
        Embedding = Add(EmbeddingName, [v, d], ParameterKind.Embedding).Data;
        Layers = new LayerParameters[config.NumHiddenLayers];
        for (int l = 0; l < Layers.Length; l++)
        {
            string p = $"backbone.layers.{l}.";
            Layers[l] = new LayerParameters
            {
                Norm = Add(p + "norm.weight", [d], ParameterKind.Norm).Data,
                InProj = Add(p + "mixer.in_proj.weight", [2 * e, d], ParameterKind.Matrix).Data,
                ConvWeight = Add(p + "mixer.conv1d.weight", [e, 1, k], ParameterKind.ConvWeight).Data,
                ConvBias = config.UseConvBias ? Add(p + "mixer.conv1d.bias", [e], ParameterKind.Bias).Data : null,
                XProj = Add(p + "mixer.x_proj.weight", [r + 2 * n, e], ParameterKind.Matrix).Data,
                DtProj = Add(p + "mixer.dt_proj.weight", [e, r], ParameterKind.Matrix).Data,
                DtBias = Add(p + "mixer.dt_proj.bias", [e], ParameterKind.Bias).Data,
                ALog = Add(p + "mixer.A_log", [e, n], ParameterKind.ALog).Data,
                D = Add(p + "mixer.D", [e], ParameterKind.DSkip).Data,
                OutProj = Add(p + "mixer.out_proj.weight", [d, e], ParameterKind.Matrix).Data,
            };
        }
        NormF = Add("backbone.norm_f.weight", [d], ParameterKind.Norm).Data;
        LmHead = config.TieWordEmbeddings ? Embedding : Add("lm_head.weight", [v, d], ParameterKind.Matrix).Data;
        Tensors = list;
        _byName = list.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The tensor with this HF name.</summary>
    public ParameterTensor this[string name] => _byName.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"no parameter '{name}'");

    /// <summary>Number of scalars (tied head counted once).</summary>
    public long Count => Tensors.Sum(t => (long)t.Data.Length);

    /// <summary>Zero-filled tensors of the same layout (gradients, Adam moments).</summary>
    public MambaParameters ZerosLike() => new(Config);

    /// <summary>Sets every value to zero.</summary>
    public void Clear() { foreach (var t in Tensors) Array.Clear(t.Data); }

    /// <summary>Copies all values from another instance of the same config.</summary>
    public void CopyFrom(MambaParameters other)
    {
        for (int i = 0; i < Tensors.Count; i++) other.Tensors[i].Data.CopyTo(Tensors[i].Data, 0);
    }

    /// <summary>
    /// Seeded initialisation after SPEC.md §7.1–7.2: embedding and untied lm_head ~ Normal(0, initializer_range);
    /// in_proj, x_proj, out_proj ~ PyTorch's default Linear init U(±1/√fan_in) (kaiming_uniform a=√5), out_proj divided by
    /// √n_layer when rescale_prenorm_residual; conv1d weight U(±1/√k), bias 0; dt_proj weight U(±R^-½·time_step_scale)
    /// ("random") or constant; dt_proj bias = softplus⁻¹(dt) with dt log-uniform in [time_step_min, time_step_max],
    /// floored at time_step_floor; A_log[c, n] = log(n+1); D = 1; norms = 1.
    /// </summary>
    public static MambaParameters Initialize(MambaConfig config, int seed)
    {
        var p = new MambaParameters(config);
        var rng = new Random(seed);
        int d = config.HiddenSize, e = config.IntermediateSize, n = config.StateSize, r = config.TimeStepRank, k = config.ConvKernel;
        void Uniform(float[] a, double bound) { for (int i = 0; i < a.Length; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * bound); }
        void Normal(float[] a, double std)
        {
            for (int i = 0; i < a.Length; i++)
            {
                // Box–Muller; one value per draw keeps the sequence simple to reproduce.
                double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
                a[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            }
        }
        Normal(p.Embedding, config.InitializerRange);
        double dtStd = Math.Pow(r, -0.5) * config.TimeStepScale;
        foreach (var l in p.Layers)
        {
            Array.Fill(l.Norm, 1f);
            Uniform(l.InProj, 1 / Math.Sqrt(d));
            Uniform(l.ConvWeight, 1 / Math.Sqrt(k));
            if (l.ConvBias != null) Array.Clear(l.ConvBias);
            Uniform(l.XProj, 1 / Math.Sqrt(e));
            if (config.TimeStepInitScheme == "constant") Array.Fill(l.DtProj, (float)dtStd); else Uniform(l.DtProj, dtStd);
            double lmin = Math.Log(config.TimeStepMin), lmax = Math.Log(config.TimeStepMax);
            for (int c = 0; c < e; c++)
            {
                double dt = Math.Max(Math.Exp(rng.NextDouble() * (lmax - lmin) + lmin), config.TimeStepFloor);
                l.DtBias[c] = (float)(dt + Math.Log(-double.ExpM1(-dt)));   // inverse softplus
            }
            for (int c = 0; c < e; c++) for (int j = 0; j < n; j++) l.ALog[c * n + j] = (float)Math.Log(j + 1);
            Array.Fill(l.D, 1f);
            Uniform(l.OutProj, 1 / Math.Sqrt(e) / (config.RescalePrenormResidual ? Math.Sqrt(config.NumHiddenLayers) : 1));
        }
        Array.Fill(p.NormF, 1f);
        if (!config.TieWordEmbeddings) Normal(p.LmHead, config.InitializerRange);
        return p;
    }

    /// <summary>Safetensors entries under the HF names (F32, or BF16/F16 for export).</summary>
    public IReadOnlyList<SafetensorsEntry> ToEntries(string dtype = "F32", string prefix = "") =>
        Tensors.Select(t => SafetensorsEntry.FromFloat32(prefix + t.Name, t.Shape, t.Data, t.Kind is ParameterKind.ALog or ParameterKind.DSkip ? "F32" : dtype)).ToList();

    /// <summary>Writes model.safetensors-style file (temp file + rename by the writer).</summary>
    public void Save(string path, string dtype = "F32", string prefix = "", IReadOnlyDictionary<string, string>? metadata = null) =>
        SafetensorsWriter.Write(path, ToEntries(dtype, prefix), metadata ?? new Dictionary<string, string> { ["format"] = "pt" });

    /// <summary>Reads every tensor (any float dtype, converted to f32) from safetensors file(s); names and shapes must match.</summary>
    public void Load(IReadOnlyList<SafetensorsFile> files, string prefix = "")
    {
        var byName = new Dictionary<string, (SafetensorsFile F, SafetensorsTensorInfo T)>(StringComparer.Ordinal);
        foreach (var f in files) foreach (var t in f.Tensors.Values) byName[t.Name] = (f, t);
        foreach (var t in Tensors)
        {
            string name = prefix + t.Name;
            if (!byName.TryGetValue(name, out var hit) && t.Name == EmbeddingName && prefix.Length == 0)
                byName.TryGetValue("backbone.embedding.weight", out hit);
            if (hit.F == null) throw new ModelFormatException($"{string.Join(", ", files.Select(f => f.Path))}: tensor '{name}' is missing");
            long[] shape = hit.T.Shape;
            bool ok = shape.Aggregate(1L, (a, b) => a * b) == t.Data.Length
                && (shape.SequenceEqual(t.Shape) || (t.Kind == ParameterKind.ConvWeight && shape.Length == 2));
            if (!ok) throw new ModelFormatException($"{hit.F.Path}: tensor '{name}' has shape [{string.Join(", ", shape)}], expected [{string.Join(", ", t.Shape)}]");
            hit.F.ReadFloat32(hit.T).CopyTo(t.Data, 0);
        }
    }

    /// <summary>Loads the parameters of a Hugging Face model folder (config.json + safetensors).</summary>
    public static MambaParameters LoadFolder(string folder)
    {
        var config = MambaConfig.Load(folder);
        var p = new MambaParameters(config);
        var shards = ModelLoader.OpenShards(folder);
        try { p.Load(shards); }
        finally { foreach (var s in shards) s.Dispose(); }
        return p;
    }

    /// <summary>
    /// Inference weights over copies of the current values (F32Matrix over pinned arrays), for evaluation and generation
    /// from the trainer without writing a checkpoint.
    /// </summary>
    public MambaWeights ToWeights()
    {
        int d = Config.HiddenSize, e = Config.IntermediateSize, n = Config.StateSize, r = Config.TimeStepRank, v = Config.VocabSize;
        float[] C(float[] a) => (float[])a.Clone();
        var emb = new F32Matrix(C(Embedding), v, d);
        var layers = Layers.Select(l =>
        {
            var a = new float[l.ALog.Length];
            for (int j = 0; j < a.Length; j++) a[j] = -MathF.Exp(l.ALog[j]);
            return new MambaLayerWeights
            {
                Norm = C(l.Norm), InProj = new F32Matrix(C(l.InProj), 2 * e, d), ConvWeight = C(l.ConvWeight),
                ConvBias = l.ConvBias == null ? null : C(l.ConvBias), XProj = new F32Matrix(C(l.XProj), r + 2 * n, e),
                DtProj = new F32Matrix(C(l.DtProj), e, r), DtBias = C(l.DtBias), A = a, D = C(l.D),
                OutProj = new F32Matrix(C(l.OutProj), d, e),
            };
        }).ToArray();
        var head = Config.TieWordEmbeddings ? emb : new F32Matrix(C(LmHead), v, d);
        return new MambaWeights(Config, emb, layers, C(NormF), head, []);
    }
}
