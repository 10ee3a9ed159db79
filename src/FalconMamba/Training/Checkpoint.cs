using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using FalconMamba.Formats.Safetensors;
using FalconMamba.Model;

namespace FalconMamba.Training;

/// <summary>Trainer counters saved with a checkpoint.</summary>
public sealed record TrainerState(long Step, double Tokens, long AdamStep, LoaderPosition Loader);

/// <summary>
/// A training checkpoint is a Hugging Face model folder (config.json, model.safetensors in F32, generation_config.json,
/// tokenizer files when given) that <c>generate</c> and transformers load as is, plus optimizer.safetensors (Adam
/// moments under "exp_avg." / "exp_avg_sq." + HF name) and trainer_state.json (counters, data-loader position and the
/// SHA-256 of both tensor files, so a corrupt or half-copied checkpoint is refused with a clear error). Written to a
/// temp folder and renamed into place.
/// </summary>
public static class Checkpoint
{
    const string StateFile = "trainer_state.json";
    static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt"];

    /// <summary>Writes step-NNNNNNNN under <paramref name="dir"/> and removes all but the newest <paramref name="keep"/>. Returns the folder.</summary>
    public static string Save(string dir, MambaParameters p, AdamW opt, TrainerState state, string? tokenizerDir, int keep)
    {
        Directory.CreateDirectory(dir);
        string final = Path.Combine(dir, $"step-{state.Step:D8}");
        string tmp = Path.Combine(dir, $".tmp-step-{state.Step:D8}-{Environment.ProcessId}");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        WriteModelFolder(tmp, p, tokenizerDir);
        var entries = new List<SafetensorsEntry>();
        entries.AddRange(opt.M.ToEntries("F32", "exp_avg."));
        entries.AddRange(opt.V.ToEntries("F32", "exp_avg_sq."));
        SafetensorsWriter.Write(Path.Combine(tmp, "optimizer.safetensors"), entries, new Dictionary<string, string> { ["adam_step"] = opt.Step.ToString() });
        var json = new JsonObject
        {
            ["step"] = state.Step, ["tokens"] = state.Tokens, ["adam_step"] = state.AdamStep,
            ["loader"] = new JsonObject { ["epoch"] = state.Loader.Epoch, ["cursor"] = state.Loader.Cursor, ["context"] = state.Loader.Context },
            ["sha256"] = new JsonObject { ["model.safetensors"] = Sha(Path.Combine(tmp, "model.safetensors")), ["optimizer.safetensors"] = Sha(Path.Combine(tmp, "optimizer.safetensors")) },
        };
        File.WriteAllText(Path.Combine(tmp, StateFile), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(tmp, final);
        foreach (var old in List(dir).SkipLast(Math.Max(1, keep))) Directory.Delete(old, true);
        return final;
    }

    /// <summary>Writes an HF folder: config.json, model.safetensors, generation_config.json, tokenizer files.</summary>
    public static void WriteModelFolder(string folder, MambaParameters p, string? tokenizerDir, string dtype = "F32")
    {
        Directory.CreateDirectory(folder);
        var cfg = p.Config with { TorchDtype = dtype == "F32" ? "float32" : dtype == "BF16" ? "bfloat16" : "float16" };
        File.WriteAllText(Path.Combine(folder, "config.json"), cfg.ToJson());
        p.Save(Path.Combine(folder, "model.safetensors"), dtype);
        var gen = new JsonObject
        {
            ["_from_model_config"] = true, ["bos_token_id"] = cfg.BosTokenId,
            ["eos_token_id"] = cfg.EosTokenIds.Count == 1 ? JsonValue.Create(cfg.EosTokenIds[0]) : new JsonArray(cfg.EosTokenIds.Select(i => (JsonNode)i).ToArray()),
            ["pad_token_id"] = cfg.PadTokenId,
        };
        File.WriteAllText(Path.Combine(folder, "generation_config.json"), gen.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (tokenizerDir != null)
            foreach (var f in TokenizerFiles)
                if (File.Exists(Path.Combine(tokenizerDir, f))) File.Copy(Path.Combine(tokenizerDir, f), Path.Combine(folder, f), true);
    }

    /// <summary>Checkpoint folders under <paramref name="dir"/>, oldest first.</summary>
    public static IReadOnlyList<string> List(string dir) =>
        Directory.Exists(dir) ? Directory.GetDirectories(dir, "step-*").Order(StringComparer.Ordinal).ToList() : [];

    /// <summary>Loads parameters, optimizer moments and state from a checkpoint folder into existing objects.</summary>
    public static TrainerState Load(string folder, MambaParameters p, AdamW opt)
    {
        string statePath = Path.Combine(folder, StateFile);
        if (!File.Exists(statePath)) throw new FalconMambaException($"checkpoint {folder}: {StateFile} is missing (not a checkpoint, or an interrupted write)");
        JsonNode root;
        try { root = JsonNode.Parse(File.ReadAllText(statePath)) ?? throw new FalconMambaException($"{statePath}: empty"); }
        catch (JsonException e) { throw new FalconMambaException($"{statePath}: invalid JSON ({e.Message})", e); }
        foreach (var f in new[] { "model.safetensors", "optimizer.safetensors" })
        {
            string path = Path.Combine(folder, f);
            if (!File.Exists(path)) throw new FalconMambaException($"checkpoint {folder}: {f} is missing");
            string? want = root["sha256"]?[f]?.GetValue<string>();
            if (want == null) throw new FalconMambaException($"{statePath}: sha256 of {f} is missing");
            if (Sha(path) != want) throw new FalconMambaException($"checkpoint {folder}: {f} does not match its SHA-256 in {StateFile} (corrupt or partly copied)");
        }
        var cfg = MambaConfig.Load(folder);
        if (cfg.ToJson() != (p.Config with { TorchDtype = "float32" }).ToJson())
            throw new FalconMambaException($"checkpoint {folder}: config.json describes a different model shape than this run");
        using (var m = SafetensorsFile.Open(Path.Combine(folder, "model.safetensors"))) p.Load([m]);
        using (var o = SafetensorsFile.Open(Path.Combine(folder, "optimizer.safetensors")))
        {
            opt.M.Load([o], "exp_avg.");
            opt.V.Load([o], "exp_avg_sq.");
        }
        try
        {
            var l = root["loader"]!;
            var state = new TrainerState(root["step"]!.GetValue<long>(), root["tokens"]!.GetValue<double>(), root["adam_step"]!.GetValue<long>(),
                new LoaderPosition(l["epoch"]!.GetValue<int>(), l["cursor"]!.GetValue<long>(), l["context"]!.GetValue<int>()));
            opt.Step = state.AdamStep;
            return state;
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new FalconMambaException($"{statePath}: missing or malformed field ({e.Message})", e);
        }
    }

    static string Sha(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
