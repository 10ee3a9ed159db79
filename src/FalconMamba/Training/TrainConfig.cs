using System.Text.Json;
using System.Text.Json.Serialization;
using FalconMamba.Model;

namespace FalconMamba.Training;

/// <summary>One context-length stage: from <see cref="StartTokens"/> tokens on, train on windows of <see cref="Length"/>.</summary>
public sealed record ContextStage
{
    /// <summary>Tokens seen when the stage starts.</summary>
    public double StartTokens { get; init; }
    /// <summary>Sequence length.</summary>
    public int Length { get; init; }
}

/// <summary>
/// Everything a training run needs, read from <c>train.json</c> (snake_case keys, documented in docs/training.md);
/// every key is also a command-line flag of <c>falcon-mamba train</c>. Token counts are the schedule clock.
/// </summary>
public sealed record TrainConfig
{
    /// <summary>Run folder: checkpoints/, metrics.csv, plots, final/ model.</summary>
    public string Output { get; init; } = "";
    /// <summary>HF model folder to continue training from (its config.json gives the shape).</summary>
    public string? InitFrom { get; init; }
    /// <summary>Checkpoint folder to resume (restores weights, optimizer, loader and counters), or "latest".</summary>
    public string? Resume { get; init; }
    /// <summary>Tokenizer folder (tokenizer.json [+ tokenizer_config.json]); copied into every checkpoint.</summary>
    public string Tokenizer { get; init; } = "";

    /// <summary>"falcon_mamba" (B/C/dt RMS norms) or "mamba".</summary>
    public string ModelType { get; init; } = "falcon_mamba";
    /// <summary>D.</summary>
    public int HiddenSize { get; init; } = 256;
    /// <summary>E (0 = 2·D).</summary>
    public int IntermediateSize { get; init; }
    /// <summary>N.</summary>
    public int StateSize { get; init; } = 16;
    /// <summary>Blocks.</summary>
    public int NumHiddenLayers { get; init; } = 8;
    /// <summary>R (0 = ⌈D/16⌉, the HF "auto").</summary>
    public int TimeStepRank { get; init; }
    /// <summary>k.</summary>
    public int ConvKernel { get; init; } = 4;
    /// <summary>V (0 = the tokenizer's vocabulary size).</summary>
    public int VocabSize { get; init; }
    /// <summary>Share embedding and lm_head.</summary>
    public bool TieWordEmbeddings { get; init; } = true;
    /// <summary>Std of the embedding init.</summary>
    public double InitializerRange { get; init; } = 0.02;
    /// <summary>Divide out_proj init by √layers.</summary>
    public bool RescalePrenormResidual { get; init; } = true;

    /// <summary>Training text: .jsonl ("text" per line), other text files (documents split at blank lines), or .tok shards.</summary>
    public string[] TrainData { get; init; } = [];
    /// <summary>Validation text or shards; when empty, every (1/valid_fraction)-th training document is held out.</summary>
    public string[] ValidData { get; init; } = [];
    /// <summary>Held-out document fraction when no valid_data is given (0 = none).</summary>
    public double ValidFraction { get; init; } = 0.025;

    /// <summary>Sequence length (when no context_stages).</summary>
    public int SeqLen { get; init; } = 256;
    /// <summary>Context-length stages (first must start at 0), e.g. [{"start_tokens":0,"length":256},{"start_tokens":2e6,"length":512}].</summary>
    public ContextStage[] ContextStages { get; init; } = [];
    /// <summary>Sequences per optimizer step (b_max).</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Sequences at the start of the ramp (0 = no ramp).</summary>
    public int BatchMin { get; init; }
    /// <summary>Tokens over which the batch ramps from batch_min to batch_size.</summary>
    public double BatchRampTokens { get; init; }
    /// <summary>Scale η by √(b/b_max) during the ramp (BatchScaling: η/√b constant).</summary>
    public bool BatchScaling { get; init; } = true;
    /// <summary>Sequences per forward/backward (gradient accumulation splits a step into these; 0 = whole batch).</summary>
    public int MicroBatch { get; init; }

    /// <summary>η_max.</summary>
    public double Lr { get; init; } = 6.4e-4;
    /// <summary>Linear warmup length in tokens.</summary>
    public double WarmupTokens { get; init; }
    /// <summary>Decay phase length in tokens (at the end of the budget).</summary>
    public double DecayTokens { get; init; }
    /// <summary>"exponential", "linear" or "1-sqrt".</summary>
    public string DecayShape { get; init; } = "exponential";
    /// <summary>η_min / η_max at the end of the decay (card: 1/256).</summary>
    public double MinLrRatio { get; init; } = 1.0 / 256;
    /// <summary>AdamW decoupled weight decay.</summary>
    public double WeightDecay { get; init; } = 0.1;
    /// <summary>AdamW β1.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>AdamW β2.</summary>
    public double Beta2 { get; init; } = 0.95;
    /// <summary>AdamW ε.</summary>
    public double Eps { get; init; } = 1e-8;
    /// <summary>Global gradient-norm clip (0 = off).</summary>
    public double GradClip { get; init; } = 1.0;
    /// <summary>Name suffixes exempt from weight decay (null = norms, biases, A_log, D, embeddings).</summary>
    public string[]? NoDecay { get; init; }

    /// <summary>Stop after this many optimizer steps (0 = use max_tokens).</summary>
    public long MaxSteps { get; init; }
    /// <summary>Token budget (0 = max_steps × batch × length); also the schedule's total.</summary>
    public double MaxTokens { get; init; }
    /// <summary>Validate every N steps (0 = only at the end).</summary>
    public int EvalInterval { get; init; } = 100;
    /// <summary>Validation windows per evaluation.</summary>
    public int EvalWindows { get; init; } = 32;
    /// <summary>Checkpoint every N steps (0 = only at the end).</summary>
    public int CheckpointInterval { get; init; } = 500;
    /// <summary>Checkpoints kept (older ones deleted).</summary>
    public int KeepCheckpoints { get; init; } = 3;
    /// <summary>Seed of init and data order.</summary>
    public int Seed { get; init; } = 1234;
    /// <summary>Worker threads (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Scan steps between stored states in the backward recompute.</summary>
    public int ScanChunk { get; init; } = 64;
    /// <summary>Logit rows materialised at once in the loss.</summary>
    public int LossChunk { get; init; } = 64;
    /// <summary>"f32" or "bf16": operands of the Linear / lm_head products (<see cref="TrainPrecision"/>); weights and AdamW stay f32.</summary>
    public string Precision { get; init; } = "f32";

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true, WriteIndented = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    /// <summary>Parses train.json text; unknown keys and wrong types are errors naming the key.</summary>
    public static TrainConfig Parse(string json, string source = "train.json")
    {
        try { return JsonSerializer.Deserialize<TrainConfig>(json, Json) ?? throw new FalconMambaException($"{source}: empty config"); }
        catch (JsonException e) { throw new FalconMambaException($"{source}: {e.Message}", e); }
    }

    /// <summary>Serialises to train.json form.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The JSON key of a property (snake_case).</summary>
    public static string KeyOf(string propertyName) => JsonNamingPolicy.SnakeCaseLower.ConvertName(propertyName);

    /// <summary>The decay shape enum.</summary>
    public DecayShape Shape => DecayShape switch
    {
        "exponential" => Training.DecayShape.Exponential,
        "linear" => Training.DecayShape.Linear,
        "1-sqrt" => Training.DecayShape.OneMinusSqrt,
        _ => throw new FalconMambaException($"decay_shape '{DecayShape}': expected exponential, linear or 1-sqrt"),
    };

    /// <summary>The model config for a fresh run (vocab from the tokenizer when vocab_size is 0).</summary>
    public MambaConfig ModelConfig(int tokenizerVocab, int? bos, int? eos, int? pad) => new MambaConfig
    {
        ModelType = ModelType, VocabSize = VocabSize > 0 ? VocabSize : tokenizerVocab, HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize > 0 ? IntermediateSize : 2 * HiddenSize, Expand = 2, StateSize = StateSize,
        NumHiddenLayers = NumHiddenLayers, TimeStepRank = TimeStepRank > 0 ? TimeStepRank : (HiddenSize + 15) / 16,
        ConvKernel = ConvKernel, TieWordEmbeddings = TieWordEmbeddings, InitializerRange = InitializerRange,
        RescalePrenormResidual = RescalePrenormResidual, BosTokenId = bos, EosTokenIds = eos is int e ? [e] : [], PadTokenId = pad,
        TorchDtype = "float32",
    }.Validate("train config");

    /// <summary>The precision enum.</summary>
    public TrainPrecision PrecisionMode => Precision switch
    {
        "f32" => TrainPrecision.F32,
        "bf16" => TrainPrecision.Bf16,
        _ => throw new FalconMambaException($"precision '{Precision}': expected f32 or bf16"),
    };

    /// <summary>Checks ranges; errors name the key.</summary>
    public TrainConfig Validate()
    {
        void Req(bool ok, string key, string what) { if (!ok) throw new FalconMambaException($"{key}: {what}"); }
        Req(Output.Length > 0, "output", "required");
        Req(Tokenizer.Length > 0 || InitFrom != null || Resume != null, "tokenizer", "required (a folder with tokenizer.json)");
        Req(TrainData.Length > 0, "train_data", "required");
        Req(SeqLen >= 1, "seq_len", "must be ≥ 1");
        Req(BatchSize >= 1, "batch_size", "must be ≥ 1");
        Req(BatchMin >= 0 && BatchMin <= BatchSize, "batch_min", "must be in [0, batch_size]");
        Req(MicroBatch >= 0, "micro_batch", "must be ≥ 0");
        Req(Lr > 0, "lr", "must be > 0");
        Req(MaxSteps > 0 || MaxTokens > 0, "max_steps", "give max_steps or max_tokens");
        Req(ValidFraction >= 0 && ValidFraction < 0.5, "valid_fraction", "must be in [0, 0.5)");
        Req(KeepCheckpoints >= 1, "keep_checkpoints", "must be ≥ 1");
        Req(ScanChunk >= 1 && LossChunk >= 1, "scan_chunk", "scan_chunk and loss_chunk must be ≥ 1");
        Req(ContextStages.Length == 0 || ContextStages[0].StartTokens == 0, "context_stages", "the first stage must start at 0");
        Req(ContextStages.All(s => s.Length >= 1), "context_stages", "lengths must be ≥ 1");
        _ = Shape;
        _ = PrecisionMode;
        return this;
    }

    /// <summary>Sequence length at <paramref name="tokens"/>.</summary>
    public int LengthAt(double tokens) => ContextStages.Length == 0 ? SeqLen
        : Schedules.ContextLength(tokens, ContextStages.Select(s => (s.StartTokens, s.Length)).ToList());

    /// <summary>Sequences per step at <paramref name="tokens"/>.</summary>
    public int BatchAt(double tokens) => BatchMin > 0 && BatchRampTokens > 0 ? Schedules.BatchRamp(tokens, BatchRampTokens, BatchMin, BatchSize) : BatchSize;

    /// <summary>Schedule total in tokens.</summary>
    public double TotalTokens => MaxTokens > 0 ? MaxTokens : (double)MaxSteps * BatchSize * LengthAt(double.MaxValue);

    /// <summary>η at <paramref name="tokens"/> for a step of <paramref name="batch"/> sequences.</summary>
    public double LrAt(double tokens, int batch)
    {
        double lr = Schedules.Wsd(tokens, TotalTokens, WarmupTokens, DecayTokens, Lr, Shape, MinLrRatio);
        return BatchScaling && batch != BatchSize ? Schedules.BatchScaled(lr, batch, BatchSize) : lr;
    }
}
