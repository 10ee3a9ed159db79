using System.Text.Json;
using System.Text.Json.Nodes;

namespace FalconMamba.Training;

/// <summary>
/// A checkpoint is a Hugging Face model folder — config.json, model.safetensors (F32), generation_config.json and the
/// tokenizer files — plus optimizer.safetensors (AdamW moments), trainer_state.json (step, tokens, loader position) and
/// train_config.json. It is written into a temporary folder and renamed into place, so a crash never leaves a
/// half-written <c>step-*</c> folder; the run keeps the newest N.
/// </summary>
public static class Checkpoint
{
    /// <summary>Tokenizer files copied into each checkpoint when present.</summary>
    public static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

    /// <summary>Writes an HF model folder (no optimizer) to <paramref name="folder"/>, replacing it atomically.</summary>
    public static void SaveModel(string folder, MambaParameters p, string? tokenizerFolder, Action<string>? extra = null)
    {
        string parent = Path.GetDirectoryName(Path.GetFullPath(folder))!;
        Directory.CreateDirectory(parent);
        string tmp = Path.Combine(parent, $".{Path.GetFileName(folder)}.tmp-{Environment.ProcessId}");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        // rescale_prenorm_residual only shapes the initialisation, but transformers 5.17 applies it again to weights it
        // loads (out_proj ÷ √layers; measured: 0.105 relative logit error, gone when false), so a trained checkpoint says false.
        File.WriteAllText(Path.Combine(tmp, "config.json"), (p.Config with { RescalePrenormResidual = false }).ToJson());
        p.Save(Path.Combine(tmp, "model.safetensors"));
        var gen = new JsonObject { ["_from_model_config"] = true };
        if (p.Config.BosTokenId is int bos) gen["bos_token_id"] = bos;
        if (p.Config.EosTokenIds.Count > 0) gen["eos_token_id"] = p.Config.EosTokenIds[0];
        if (p.Config.PadTokenId is int pad) gen["pad_token_id"] = pad;
        File.WriteAllText(Path.Combine(tmp, "generation_config.json"), gen.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (tokenizerFolder != null)
            foreach (var f in TokenizerFiles)
                if (File.Exists(Path.Combine(tokenizerFolder, f))) File.Copy(Path.Combine(tokenizerFolder, f), Path.Combine(tmp, f));
        extra?.Invoke(tmp);
        string old = folder + $".old-{Environment.ProcessId}";
        if (Directory.Exists(folder)) Directory.Move(folder, old);
        Directory.Move(tmp, folder);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    /// <summary>Writes <c>{output}/checkpoints/step-NNNNNNNN</c> and deletes all but the newest <paramref name="keep"/>. Returns its path.</summary>
    public static string Save(string output, Trainer t, string? tokenizerFolder, int keep)
    {
        string dir = Path.Combine(output, "checkpoints");
        string folder = Path.Combine(dir, $"step-{t.Step:D8}");
        SaveModel(folder, t.Parameters, tokenizerFolder, tmp =>
        {
            t.Optimizer.Save(Path.Combine(tmp, "optimizer.safetensors"));
            var s = t.State;
            var state = new JsonObject
            {
                ["step"] = s.Step, ["tokens"] = s.Tokens,
                ["loader"] = new JsonObject { ["epoch"] = s.Loader.Epoch, ["cursor"] = s.Loader.Cursor, ["sequence_length"] = s.Loader.SequenceLength },
                ["seed"] = t.Config.Seed,
            };
            File.WriteAllText(Path.Combine(tmp, "trainer_state.json"), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            File.WriteAllText(Path.Combine(tmp, "train_config.json"), t.Config.ToJson());
        });
        foreach (var stale in List(output).SkipLast(keep)) Directory.Delete(stale, true);
        return folder;
    }

    /// <summary>Checkpoint folders of a run, oldest first.</summary>
    public static IReadOnlyList<string> List(string output)
    {
        string dir = Path.Combine(output, "checkpoints");
        if (!Directory.Exists(dir)) return [];
        return Directory.GetDirectories(dir, "step-*").Where(d => !Path.GetFileName(d).Contains('.')).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Resolves "latest" (newest checkpoint of <paramref name="output"/>) or a folder path.</summary>
    public static string Resolve(string spec, string output)
    {
        if (spec == "latest")
            return List(output).LastOrDefault() ?? throw new FalconMambaException($"resume: no checkpoint under {Path.Combine(output, "checkpoints")}");
        if (!Directory.Exists(spec)) throw new FalconMambaException($"resume: checkpoint folder '{spec}' does not exist");
        return spec;
    }

    /// <summary>Reads trainer_state.json; a missing file or field is an error naming it.</summary>
    public static TrainerState ReadState(string folder)
    {
        string path = Path.Combine(folder, "trainer_state.json");
        if (!File.Exists(path)) throw new FalconMambaException($"{folder}: not a training checkpoint (trainer_state.json is missing)");
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new FalconMambaException($"{path}: empty");
            T Get<T>(JsonNode? n, string key) => n?[key] is JsonNode v ? v.GetValue<T>() : throw new FalconMambaException($"{path}: field '{key}' is missing");
            var l = o["loader"] ?? throw new FalconMambaException($"{path}: field 'loader' is missing");
            return new TrainerState(Get<long>(o, "step"), Get<double>(o, "tokens"),
                new LoaderState(Get<int>(l, "epoch"), Get<long>(l, "cursor"), Get<int>(l, "sequence_length")));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new FalconMambaException($"{path}: corrupt trainer state ({e.Message})", e);
        }
    }
}
