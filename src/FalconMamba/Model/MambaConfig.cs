using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FalconMamba.Model;

/// <summary>
/// The Hugging Face <c>config.json</c> of a <c>falcon_mamba</c> or <c>mamba</c> model, with HF's defaults
/// (SPEC.md §1, transformers <c>configuration_falcon_mamba.py</c> / <c>configuration_mamba.py</c>).
/// Glossary (paper ↔ code ↔ config.json): D = d_model = <c>hidden_size</c>; E = d_inner = <c>intermediate_size</c>;
/// N = d_state = <c>state_size</c>; R = dt_rank = <c>time_step_rank</c>; k = d_conv = <c>conv_kernel</c>.
/// </summary>
public sealed record MambaConfig
{
    /// <summary><c>falcon_mamba</c> (with weightless RMS norms on B, C, dt) or <c>mamba</c>.</summary>
    public string ModelType { get; init; } = "falcon_mamba";
    /// <summary>V: rows of the embedding and lm_head.</summary>
    public int VocabSize { get; init; } = 50280;
    /// <summary>D = d_model.</summary>
    public int HiddenSize { get; init; } = 768;
    /// <summary>N = d_state.</summary>
    public int StateSize { get; init; } = 16;
    /// <summary>Number of Mamba blocks.</summary>
    public int NumHiddenLayers { get; init; } = 32;
    /// <summary>eps of the per-block RMSNorm and norm_f.</summary>
    public double LayerNormEpsilon { get; init; } = 1e-5;
    /// <summary>eps of the weightless RMS norms on B, C and dt (falcon_mamba only).</summary>
    public double MixerRmsEps { get; init; } = 1e-6;
    /// <summary>E = d_inner.</summary>
    public int IntermediateSize { get; init; } = 1536;
    /// <summary>expand (informational; <see cref="IntermediateSize"/> wins, SPEC.md §1 note A).</summary>
    public double Expand { get; init; } = 2;
    /// <summary>k = conv width.</summary>
    public int ConvKernel { get; init; } = 4;
    /// <summary>R = dt_rank.</summary>
    public int TimeStepRank { get; init; } = 48;
    /// <summary>Bias on in_proj / out_proj.</summary>
    public bool UseBias { get; init; }
    /// <summary>Bias on conv1d.</summary>
    public bool UseConvBias { get; init; } = true;
    /// <summary>Activation (only "silu" is supported).</summary>
    public string HiddenAct { get; init; } = "silu";
    /// <summary>Init std for Linear/Embedding.</summary>
    public double InitializerRange { get; init; } = 0.1;
    /// <summary>Keep the residual stream in f32 (this engine always does).</summary>
    public bool ResidualInFp32 { get; init; } = true;
    /// <summary>Use the embedding matrix as lm_head.</summary>
    public bool TieWordEmbeddings { get; init; } = true;
    /// <summary>dt_proj init scale.</summary>
    public double TimeStepScale { get; init; } = 1.0;
    /// <summary>dt init range low.</summary>
    public double TimeStepMin { get; init; } = 0.001;
    /// <summary>dt init range high.</summary>
    public double TimeStepMax { get; init; } = 0.1;
    /// <summary>"random" or "constant".</summary>
    public string TimeStepInitScheme { get; init; } = "random";
    /// <summary>Clamp of sampled dt at init.</summary>
    public double TimeStepFloor { get; init; } = 1e-4;
    /// <summary>Divide out_proj init by √layers.</summary>
    public bool RescalePrenormResidual { get; init; }
    /// <summary>bos id.</summary>
    public int? BosTokenId { get; init; } = 0;
    /// <summary>eos ids (config may hold an int or a list).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [0];
    /// <summary>pad id.</summary>
    public int? PadTokenId { get; init; } = 0;
    /// <summary>torch_dtype as stored.</summary>
    public string? TorchDtype { get; init; }

    /// <summary>True for falcon_mamba: apply the weightless RMS norms on dt, B, C (SPEC.md §2.2 step 7).</summary>
    public bool UseBcdtRms => ModelType == "falcon_mamba";

    /// <summary>Validates sizes; throws naming the field.</summary>
    public MambaConfig Validate(string source = "config.json")
    {
        void Pos(int v, string field) { if (v <= 0) throw new ModelFormatException($"{source}: field '{field}' must be a positive integer, got {v}"); }
        Pos(VocabSize, "vocab_size"); Pos(HiddenSize, "hidden_size"); Pos(StateSize, "state_size");
        Pos(NumHiddenLayers, "num_hidden_layers"); Pos(IntermediateSize, "intermediate_size");
        Pos(ConvKernel, "conv_kernel"); Pos(TimeStepRank, "time_step_rank");
        if (ModelType is not ("falcon_mamba" or "mamba"))
            throw new ModelFormatException($"{source}: unsupported model_type '{ModelType}' (expected 'falcon_mamba' or 'mamba')");
        if (HiddenAct != "silu")
            throw new ModelFormatException($"{source}: field 'hidden_act' is '{HiddenAct}', only 'silu' is supported");
        if (!(LayerNormEpsilon > 0)) throw new ModelFormatException($"{source}: field 'layer_norm_epsilon' must be > 0, got {LayerNormEpsilon}");
        if (!(MixerRmsEps > 0)) throw new ModelFormatException($"{source}: field 'mixer_rms_eps' must be > 0, got {MixerRmsEps}");
        if (ConvKernel > 64) throw new ModelFormatException($"{source}: field 'conv_kernel' = {ConvKernel} is absurd (max 64)");
        foreach (int id in EosTokenIds)
            if (id < 0 || id >= VocabSize) throw new ModelFormatException($"{source}: eos_token_id {id} is outside the vocabulary (vocab_size {VocabSize})");
        return this;
    }

    /// <summary>Reads <c>config.json</c> from a model folder or a file path.</summary>
    public static MambaConfig Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file)) throw new ModelFormatException($"missing config.json: '{file}' does not exist");
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception e) { throw new ModelFormatException($"{file}: cannot read ({e.Message})", e); }
        return Parse(text, file);
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names the file in errors.</summary>
    public static MambaConfig Parse(string json, string source = "config.json")
    {
        JsonObject o;
        try { o = JsonNode.Parse(json) as JsonObject ?? throw new ModelFormatException($"{source}: the top level is not a JSON object"); }
        catch (JsonException e) { throw new ModelFormatException($"{source}: invalid JSON ({e.Message})", e); }

        string modelType = Str(o, "model_type", source) ?? throw new ModelFormatException($"{source}: missing field 'model_type'");
        if (modelType is not ("falcon_mamba" or "mamba"))
            throw new ModelFormatException($"{source}: unsupported model_type '{modelType}' (expected 'falcon_mamba' or 'mamba')");
        var d = new MambaConfig();
        int hidden = Int(o, "hidden_size", source) ?? d.HiddenSize;
        double expand = Num(o, "expand", source) ?? 2;
        int inter = Int(o, "intermediate_size", source) ?? (int)(expand * hidden);
        int rank;
        var rankNode = o["time_step_rank"];
        if (rankNode is null || (rankNode is JsonValue rv && rv.TryGetValue<string>(out var rs) && rs == "auto"))
            rank = (int)Math.Ceiling(hidden / 16.0);
        else rank = Int(o, "time_step_rank", source)!.Value;

        IReadOnlyList<int> eos = d.EosTokenIds;
        var eosNode = o["eos_token_id"];
        if (eosNode is JsonArray arr)
            eos = arr.Select((n, i) => n is JsonValue v && v.TryGetValue<int>(out int x) ? x : throw new ModelFormatException($"{source}: field 'eos_token_id[{i}]' is not an integer")).ToArray();
        else if (eosNode is not null) eos = [Int(o, "eos_token_id", source)!.Value];

        return new MambaConfig
        {
            ModelType = modelType,
            VocabSize = Int(o, "vocab_size", source) ?? d.VocabSize,
            HiddenSize = hidden,
            StateSize = Int(o, "state_size", source) ?? d.StateSize,
            NumHiddenLayers = Int(o, "num_hidden_layers", source) ?? d.NumHiddenLayers,
            LayerNormEpsilon = Num(o, "layer_norm_epsilon", source) ?? d.LayerNormEpsilon,
            MixerRmsEps = Num(o, "mixer_rms_eps", source) ?? d.MixerRmsEps,
            IntermediateSize = inter,
            Expand = expand,
            ConvKernel = Int(o, "conv_kernel", source) ?? d.ConvKernel,
            TimeStepRank = rank,
            UseBias = Bool(o, "use_bias", source) ?? d.UseBias,
            UseConvBias = Bool(o, "use_conv_bias", source) ?? d.UseConvBias,
            HiddenAct = Str(o, "hidden_act", source) ?? d.HiddenAct,
            InitializerRange = Num(o, "initializer_range", source) ?? d.InitializerRange,
            ResidualInFp32 = Bool(o, "residual_in_fp32", source) ?? d.ResidualInFp32,
            TieWordEmbeddings = Bool(o, "tie_word_embeddings", source) ?? d.TieWordEmbeddings,
            TimeStepScale = Num(o, "time_step_scale", source) ?? d.TimeStepScale,
            TimeStepMin = Num(o, "time_step_min", source) ?? d.TimeStepMin,
            TimeStepMax = Num(o, "time_step_max", source) ?? d.TimeStepMax,
            TimeStepInitScheme = Str(o, "time_step_init_scheme", source) ?? d.TimeStepInitScheme,
            TimeStepFloor = Num(o, "time_step_floor", source) ?? d.TimeStepFloor,
            RescalePrenormResidual = Bool(o, "rescale_prenorm_residual", source) ?? d.RescalePrenormResidual,
            BosTokenId = o.ContainsKey("bos_token_id") ? Int(o, "bos_token_id", source) : d.BosTokenId,
            EosTokenIds = eos,
            PadTokenId = o.ContainsKey("pad_token_id") ? Int(o, "pad_token_id", source) : d.PadTokenId,
            TorchDtype = Str(o, "torch_dtype", source) ?? Str(o, "dtype", source),
        }.Validate(source);
    }

    /// <summary>Writes this config as HF config.json text (keeps tie_word_embeddings explicit, SPEC.md §1 note B).</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(ModelType == "falcon_mamba" ? "FalconMambaForCausalLM" : "MambaForCausalLM"),
            ["model_type"] = ModelType,
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["state_size"] = StateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["layer_norm_epsilon"] = Float(LayerNormEpsilon),
            ["expand"] = (int)Math.Round(Expand),   // an int in HF (intermediate_size carries the real width)
            ["intermediate_size"] = IntermediateSize,
            ["conv_kernel"] = ConvKernel,
            ["time_step_rank"] = TimeStepRank,
            ["use_bias"] = UseBias,
            ["use_conv_bias"] = UseConvBias,
            ["hidden_act"] = HiddenAct,
            ["initializer_range"] = Float(InitializerRange),
            ["residual_in_fp32"] = ResidualInFp32,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["time_step_scale"] = Float(TimeStepScale),
            ["time_step_min"] = Float(TimeStepMin),
            ["time_step_max"] = Float(TimeStepMax),
            ["time_step_init_scheme"] = TimeStepInitScheme,
            ["time_step_floor"] = Float(TimeStepFloor),
            ["rescale_prenorm_residual"] = RescalePrenormResidual,
            ["use_cache"] = true,
            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenIds.Count == 1 ? JsonValue.Create(EosTokenIds[0]) : new JsonArray(EosTokenIds.Select(i => (JsonNode)i).ToArray()),
            ["pad_token_id"] = PadTokenId,
        };
        if (ModelType == "falcon_mamba") o["mixer_rms_eps"] = Float(MixerRmsEps);
        if (TorchDtype != null) o["torch_dtype"] = TorchDtype;
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A float field written with a decimal point: transformers 5's strict config rejects 1 where it expects 1.0.</summary>
    static JsonNode Float(double v)
    {
        string t = v.ToString("R", CultureInfo.InvariantCulture);
        if (!t.Contains('.') && !t.Contains('E') && !t.Contains('e')) t += ".0";
        return JsonNode.Parse(t)!;
    }

    static int? Int(JsonObject o, string key, string src)
    {
        var n = o[key];
        if (n is null) return null;
        if (n is JsonValue v)
        {
            if (v.TryGetValue<long>(out long l) && l is >= int.MinValue and <= int.MaxValue) return (int)l;
            if (v.TryGetValue<double>(out double dd) && dd == Math.Floor(dd) && Math.Abs(dd) < int.MaxValue) return (int)dd;
        }
        throw new ModelFormatException($"{src}: field '{key}' must be an integer, got {n.ToJsonString()}");
    }

    static double? Num(JsonObject o, string key, string src)
    {
        var n = o[key];
        if (n is null) return null;
        if (n is JsonValue v && v.TryGetValue<double>(out double d)) return d;
        if (n is JsonValue s && s.TryGetValue<string>(out var str) && double.TryParse(str, NumberStyles.Float, CultureInfo.InvariantCulture, out double p)) return p;
        throw new ModelFormatException($"{src}: field '{key}' must be a number, got {n.ToJsonString()}");
    }

    static bool? Bool(JsonObject o, string key, string src)
    {
        var n = o[key];
        if (n is null) return null;
        if (n is JsonValue v && v.TryGetValue<bool>(out bool b)) return b;
        throw new ModelFormatException($"{src}: field '{key}' must be true or false, got {n.ToJsonString()}");
    }

    static string? Str(JsonObject o, string key, string src)
    {
        var n = o[key];
        if (n is null) return null;
        if (n is JsonValue v && v.TryGetValue<string>(out var s)) return s;
        throw new ModelFormatException($"{src}: field '{key}' must be a string, got {n.ToJsonString()}");
    }
}
