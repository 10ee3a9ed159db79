namespace FalconMamba.Generation;

/// <summary>
/// How to pick the next token and when to stop. Names and semantics follow transformers' GenerationConfig
/// (temperature, top_k, top_p, min_p, repetition_penalty, max_new_tokens, eos_token_id, stop_strings).
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Sample (true) or greedy argmax (false). Temperature 0 also means greedy.</summary>
    public bool DoSample { get; init; }
    /// <summary>Logits are divided by this before sampling.</summary>
    public float Temperature { get; init; } = 1.0f;
    /// <summary>Keep the k most likely tokens (0 = off). HF's default is 50 when sampling.</summary>
    public int TopK { get; init; } = 50;
    /// <summary>Nucleus sampling: keep the smallest set whose probability reaches top_p (1 = off).</summary>
    public float TopP { get; init; } = 1.0f;
    /// <summary>Drop tokens whose probability is below min_p × the top probability (0 = off).</summary>
    public float MinP { get; init; }
    /// <summary>HF repetition penalty (1 = off): a seen token's logit is divided by it if positive, multiplied if negative.</summary>
    public float RepetitionPenalty { get; init; } = 1.0f;
    /// <summary>Seed of the sampler's RNG (same seed → same text); null = random.</summary>
    public int? Seed { get; init; }
    /// <summary>Maximum number of generated tokens.</summary>
    public int MaxNewTokens { get; init; } = 128;
    /// <summary>Stop when any of these ids is generated (null = the model's eos ids).</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }
    /// <summary>Stop when the generated text contains any of these strings (the string is not emitted).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Checks ranges; throws naming the argument.</summary>
    public SamplingOptions Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException("--temperature", Temperature, "--temperature must be a finite number ≥ 0");
        if (TopK < 0) throw new ArgumentOutOfRangeException("--top-k", TopK, "--top-k must be ≥ 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException("--top-p", TopP, "--top-p must be in (0, 1]");
        if (!(MinP >= 0 && MinP <= 1)) throw new ArgumentOutOfRangeException("--min-p", MinP, "--min-p must be in [0, 1]");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) throw new ArgumentOutOfRangeException("--repeat-penalty", RepetitionPenalty, "--repeat-penalty must be a finite number > 0");
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException("--max-new-tokens", MaxNewTokens, "--max-new-tokens must be ≥ 0");
        return this;
    }

    /// <summary>True when the next token is the argmax.</summary>
    public bool IsGreedy => !DoSample || Temperature == 0;
}
