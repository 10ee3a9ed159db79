using System.Text.Json.Nodes;

namespace FalconMamba.Generation;

/// <summary>
/// <c>generation_config.json</c> of a model folder (SPEC.md §8.1): special ids and sampling defaults. Values absent
/// from the file fall back to transformers' GenerationConfig defaults.
/// </summary>
public sealed record GenerationConfig
{
    /// <summary>bos id.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>eos ids (int or list in the file); the instruct model stops on both 11 and 10.</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }
    /// <summary>pad id.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>do_sample.</summary>
    public bool? DoSample { get; init; }
    /// <summary>temperature.</summary>
    public float? Temperature { get; init; }
    /// <summary>top_k.</summary>
    public int? TopK { get; init; }
    /// <summary>top_p.</summary>
    public float? TopP { get; init; }
    /// <summary>min_p.</summary>
    public float? MinP { get; init; }
    /// <summary>repetition_penalty.</summary>
    public float? RepetitionPenalty { get; init; }
    /// <summary>max_new_tokens.</summary>
    public int? MaxNewTokens { get; init; }

    /// <summary>Reads folder/generation_config.json, or returns null when the file is absent.</summary>
    public static GenerationConfig? Load(string folder)
    {
        string file = Path.Combine(folder, "generation_config.json");
        if (!File.Exists(file)) return null;
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(file)) as JsonObject ?? throw new FalconMambaException($"{file}: the top level is not a JSON object"); }
        catch (System.Text.Json.JsonException e) { throw new FalconMambaException($"{file}: invalid JSON ({e.Message})", e); }
        try
        {
            IReadOnlyList<int>? eos = o["eos_token_id"] switch
            {
                null => null,
                JsonArray a => a.Select(n => n!.GetValue<int>()).ToArray(),
                var n => [n.GetValue<int>()],
            };
            return new GenerationConfig
            {
                BosTokenId = o["bos_token_id"]?.GetValue<int>(),
                EosTokenIds = eos,
                PadTokenId = o["pad_token_id"]?.GetValue<int>(),
                DoSample = o["do_sample"]?.GetValue<bool>(),
                Temperature = (float?)o["temperature"]?.GetValue<double>(),
                TopK = o["top_k"]?.GetValue<int>(),
                TopP = (float?)o["top_p"]?.GetValue<double>(),
                MinP = (float?)o["min_p"]?.GetValue<double>(),
                RepetitionPenalty = (float?)o["repetition_penalty"]?.GetValue<double>(),
                MaxNewTokens = o["max_new_tokens"]?.GetValue<int>(),
            };
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new FalconMambaException($"{file}: a field has the wrong type ({e.Message})", e);
        }
    }

    /// <summary>Sampling defaults from this file (CLI flags override them).</summary>
    public SamplingOptions ToSamplingOptions() => new()
    {
        DoSample = DoSample ?? false,
        Temperature = Temperature ?? 1f,
        TopK = TopK ?? 50,
        TopP = TopP ?? 1f,
        MinP = MinP ?? 0f,
        RepetitionPenalty = RepetitionPenalty ?? 1f,
        MaxNewTokens = MaxNewTokens ?? 128,
        EosTokenIds = EosTokenIds,
    };
}
