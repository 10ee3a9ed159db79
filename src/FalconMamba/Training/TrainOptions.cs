using System.Text.Json;
using System.Text.Json.Serialization;
using FalconMamba.Model;

namespace FalconMamba.Training;

/// <summary>One context-length stage: from <c>start_tokens</c> on, train with <c>context</c>.</summary>
public sealed record ContextStage
{
    /// <summary>Tokens seen when the stage starts.</summary>
    [JsonPropertyName("start_tokens")] public double StartTokens { get; init; }
    /// <summary>Context length (tokens per sequence).</summary>
    [JsonPropertyName("context")] public int Context { get; init; }
}

/// <summary>
/// Everything a training run needs, read from train.json (snake_case keys; docs/training.md lists them) and
/// overridable per flag. Schedule lengths are in tokens, as in the Falcon Mamba recipe (SPEC.md §7.3).
/// </summary>
public sealed record TrainOptions
{
    /// <summary>Existing HF model folder to continue from (its config wins over the shape fields).</summary>
    [JsonPropertyName("init_from")] public string? InitFrom { get; init; }
    /// <summary>"falcon_mamba" or "mamba".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "falcon_mamba";
    /// <summary>d_model.</summary>
    [JsonPropertyName("d_model")] public int DModel { get; init; } = 256;
    /// <summary>Number of layers.</summary>
    [JsonPropertyName("layers")] public int Layers { get; init; } = 8;
    /// <summary>d_inner (0: 2·d_model).</summary>
    [JsonPropertyName("d_inner")] public int DInner { get; init; }
    /// <summary>d_state.</summary>
    [JsonPropertyName("d_state")] public int DState { get; init; } = 16;
    /// <summary>dt_rank (0: ceil(d_model/16)).</summary>
    [JsonPropertyName("dt_rank")] public int DtRank { get; init; }
    /// <summary>Conv width.</summary>
    [JsonPropertyName("conv_kernel")] public int ConvKernel { get; init; } = 4;
    /// <summary>Vocabulary size (0: from the tokenizer / the init model).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    /// <summary>Tie lm_head to the embedding.</summary>
    [JsonPropertyName("tie_embeddings")] public bool TieEmbeddings { get; init; } = true;
    /// <summary>End-of-document id placed between packed documents (also eos_token_id of the config).</summary>
    [JsonPropertyName("eos_id")] public int EosId { get; init; }

    /// <summary>Folder of token shards (*.bin) or one shard.</summary>
    [JsonPropertyName("data")] public string Data { get; init; } = "";
    /// <summary>Folder with tokenizer.json etc. to copy into checkpoints.</summary>
    [JsonPropertyName("tokenizer")] public string? Tokenizer { get; init; }
    /// <summary>Output folder (checkpoints/, metrics.csv, plots).</summary>
    [JsonPropertyName("output")] public string Output { get; init; } = "runs/train";
    /// <summary>Fraction of the token stream held out for validation.</summary>
    [JsonPropertyName("validation_fraction")] public double ValidationFraction { get; init; } = 0.02;

    /// <summary>Sequences per forward/backward (micro-batch).</summary>
    [JsonPropertyName("micro_batch")] public int MicroBatch { get; init; } = 4;
    /// <summary>Sequences per optimizer step at the end of the ramp.</summary>
    [JsonPropertyName("batch")] public int Batch { get; init; } = 16;
    /// <summary>Sequences per step at the start of the ramp (0: no ramp).</summary>
    [JsonPropertyName("batch_min")] public int BatchMin { get; init; }
    /// <summary>Tokens over which the batch ramps from batch_min to batch.</summary>
    [JsonPropertyName("batch_ramp_tokens")] public double BatchRampTokens { get; init; }
    /// <summary>Scale the LR by √(b/b_max) during the ramp (BatchScaling).</summary>
    [JsonPropertyName("batch_scaling")] public bool BatchScaling { get; init; } = true;
    /// <summary>Context length (when no stages are given).</summary>
    [JsonPropertyName("context")] public int Context { get; init; } = 512;
    /// <summary>Context stages, e.g. [{"start_tokens":0,"context":2048},{"start_tokens":1e9,"context":8192}].</summary>
    [JsonPropertyName("context_stages")] public List<ContextStage>? ContextStages { get; init; }

    /// <summary>Optimizer steps to run (0: until the token budget).</summary>
    [JsonPropertyName("steps")] public long Steps { get; init; }
    /// <summary>Token budget (0: steps × batch × context).</summary>
    [JsonPropertyName("tokens")] public double Tokens { get; init; }
    /// <summary>Peak learning rate (the card: 6.4e-4).</summary>
    [JsonPropertyName("lr")] public double LearningRate { get; init; } = 6.4e-4;
    /// <summary>Warmup length in tokens.</summary>
    [JsonPropertyName("warmup_tokens")] public double WarmupTokens { get; init; }
    /// <summary>Decay length in tokens (the last part of the budget).</summary>
    [JsonPropertyName("decay_tokens")] public double DecayTokens { get; init; }
    /// <summary>exponential | linear | 1-sqrt.</summary>
    [JsonPropertyName("decay")] public string Decay { get; init; } = "exponential";
    /// <summary>η_min / η_max (the card: 1/256).</summary>
    [JsonPropertyName("min_lr_ratio")] public double MinLrRatio { get; init; } = 1.0 / 256;
    /// <summary>AdamW β1.</summary>
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    /// <summary>AdamW β2.</summary>
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.95;
    /// <summary>AdamW ε.</summary>
    [JsonPropertyName("eps")] public double Epsilon { get; init; } = 1e-8;
    /// <summary>Decoupled weight decay (the card: 0.1).</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.1;
    /// <summary>Also decay norms, biases, A_log, D and embeddings.</summary>
    [JsonPropertyName("decay_all")] public bool DecayAll { get; init; }
    /// <summary>Global gradient-norm clip (0: none).</summary>
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;

    /// <summary>Validation every this many steps (0: never).</summary>
    [JsonPropertyName("eval_interval")] public int EvalInterval { get; init; } = 100;
    /// <summary>Validation windows per evaluation.</summary>
    [JsonPropertyName("eval_windows")] public int EvalWindows { get; init; } = 16;
    /// <summary>Checkpoint every this many steps (0: only at the end / on Ctrl-C).</summary>
    [JsonPropertyName("checkpoint_interval")] public int CheckpointInterval { get; init; } = 500;
    /// <summary>Checkpoints kept.</summary>
    [JsonPropertyName("keep_checkpoints")] public int KeepCheckpoints { get; init; } = 3;
    /// <summary>Seed of initialisation and data order.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; } = 1;
    /// <summary>Threads (0: all cores).</summary>
    [JsonPropertyName("threads")] public int Threads { get; init; }
    /// <summary>Scan recompute chunk.</summary>
    [JsonPropertyName("scan_chunk")] public int ScanChunk { get; init; } = 64;
    /// <summary>Continue from the newest checkpoint in output/checkpoints when there is one.</summary>
    [JsonPropertyName("resume")] public bool Resume { get; init; } = true;

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>Reads train.json; unknown keys are errors.</summary>
    public static TrainOptions Load(string path)
    {
        try { return JsonSerializer.Deserialize<TrainOptions>(File.ReadAllText(path), Json) ?? throw new FalconMambaException($"{path}: empty"); }
        catch (JsonException e) { throw new FalconMambaException($"{path}: {e.Message}", e); }
    }

    /// <summary>As JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The decay shape.</summary>
    public DecayShape DecayShape => Decay.ToLowerInvariant() switch
    {
        "exponential" or "exp" => Training.DecayShape.Exponential,
        "linear" => Training.DecayShape.Linear,
        "1-sqrt" or "one_minus_sqrt" => Training.DecayShape.OneMinusSqrt,
        _ => throw new FalconMambaException($"train options: decay '{Decay}' must be exponential, linear or 1-sqrt"),
    };

    /// <summary>The stages (a single stage of <see cref="Context"/> when none are given).</summary>
    public IReadOnlyList<(double Start, int Context)> Stages =>
        ContextStages is { Count: > 0 } s ? s.OrderBy(x => x.StartTokens).Select(x => (x.StartTokens, x.Context)).ToList() : [(0, Context)];

    /// <summary>Checks ranges; throws naming the field.</summary>
    public void Validate()
    {
        void Pos(double v, string name) { if (v <= 0) throw new FalconMambaException($"train options: {name} must be > 0 (got {v})"); }
        if (string.IsNullOrEmpty(Data)) throw new FalconMambaException("train options: data (a folder of token shards) is required");
        Pos(MicroBatch, "micro_batch"); Pos(Batch, "batch"); Pos(LearningRate, "lr");
        if (Batch % MicroBatch != 0) throw new FalconMambaException($"train options: batch {Batch} must be a multiple of micro_batch {MicroBatch}");
        if (BatchMin < 0 || BatchMin > Batch) throw new FalconMambaException($"train options: batch_min {BatchMin} must be in 0..batch ({Batch})");
        if (Steps <= 0 && Tokens <= 0) throw new FalconMambaException("train options: give steps or tokens");
        foreach (var (_, c) in Stages) Pos(c, "context");
        if (Stages[0].Start != 0) throw new FalconMambaException("train options: the first context stage must start at 0 tokens");
        _ = DecayShape;
    }

    /// <summary>The model config for a fresh run.</summary>
    public MambaConfig ModelConfig(int vocab)
    {
        int e = DInner > 0 ? DInner : 2 * DModel;
        return new MambaConfig
        {
            ModelType = ModelType, HiddenSize = DModel, NumHiddenLayers = Layers, IntermediateSize = e, Expand = (double)e / DModel,
            StateSize = DState, TimeStepRank = DtRank > 0 ? DtRank : (DModel + 15) / 16, ConvKernel = ConvKernel, VocabSize = vocab,
            TieWordEmbeddings = TieEmbeddings, EosTokenIds = [EosId], BosTokenId = EosId, PadTokenId = EosId,
            InitializerRange = ModelType == "mamba" ? 0.02 : 0.1, TorchDtype = "float32",
        }.Validate("train options");
    }
}
