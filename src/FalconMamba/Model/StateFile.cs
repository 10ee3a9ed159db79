using System.Runtime.InteropServices;
using FalconMamba.Formats.Safetensors;

namespace FalconMamba.Model;

/// <summary>
/// Saves and restores a sequence state as a safetensors file (per layer <c>layers.i.conv</c> [k−1, E] and
/// <c>layers.i.ssm</c> [E, N], f32), so a long prompt is read once and reused for days: the users' most common ask
/// of Mamba engines (ECOSYSTEM.md §1: state-spaces/mamba #143, llama.cpp #21831). Metadata records the model shape
/// and the position; loading into a model of another shape fails with a clear error. Written through a temp file.
/// </summary>
public static class StateFile
{
    /// <summary>Writes <paramref name="state"/> to <paramref name="path"/>.</summary>
    public static void Save(MambaState state, string path, IReadOnlyList<int>? tokens = null)
    {
        var c = state.Config;
        var entries = new List<SafetensorsEntry>();
        for (int l = 0; l < state.Conv.Length; l++)
        {
            entries.Add(SafetensorsEntry.FromFloat32($"layers.{l}.conv", [c.ConvKernel - 1, c.IntermediateSize], state.Conv[l]));
            entries.Add(SafetensorsEntry.FromFloat32($"layers.{l}.ssm", [c.IntermediateSize, c.StateSize], state.Ssm[l]));
        }
        if (tokens is { Count: > 0 })
            entries.Add(SafetensorsEntry.FromBytes("tokens", "I32", [tokens.Count], MemoryMarshal.AsBytes(tokens.ToArray().AsSpan()).ToArray()));
        var meta = new Dictionary<string, string>
        {
            ["format"] = "falcon-mamba-state-v1",
            ["model_type"] = c.ModelType,
            ["num_hidden_layers"] = c.NumHiddenLayers.ToString(),
            ["intermediate_size"] = c.IntermediateSize.ToString(),
            ["state_size"] = c.StateSize.ToString(),
            ["conv_kernel"] = c.ConvKernel.ToString(),
            ["hidden_size"] = c.HiddenSize.ToString(),
            ["vocab_size"] = c.VocabSize.ToString(),
            ["position"] = state.Position.ToString(),
        };
        SafetensorsWriter.Write(path, entries, meta);
    }

    /// <summary>Reads a state saved for a model of the same shape; returns it with the tokens it was built from (if saved).</summary>
    public static (MambaState State, int[] Tokens) Load(string path, MambaConfig config)
    {
        using var f = SafetensorsFile.Open(path);
        string Meta(string key) => f.Metadata.TryGetValue(key, out var v) ? v : throw new ModelFormatException($"{path}: not a state file (metadata '{key}' is missing)");
        if (Meta("format") != "falcon-mamba-state-v1") throw new ModelFormatException($"{path}: unknown state format '{Meta("format")}'");
        void Check(string key, int expected)
        {
            if (Meta(key) != expected.ToString())
                throw new ModelFormatException($"{path}: state was saved for {key} = {Meta(key)}, this model has {expected}");
        }
        Check("num_hidden_layers", config.NumHiddenLayers);
        Check("intermediate_size", config.IntermediateSize);
        Check("state_size", config.StateSize);
        Check("conv_kernel", config.ConvKernel);
        Check("hidden_size", config.HiddenSize);
        Check("vocab_size", config.VocabSize);
        if (Meta("model_type") != config.ModelType) throw new ModelFormatException($"{path}: state was saved for model_type {Meta("model_type")}, this model is {config.ModelType}");
        var state = new MambaState(config);
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            Read(f, $"layers.{l}.conv", state.Conv[l], path);
            Read(f, $"layers.{l}.ssm", state.Ssm[l], path);
        }
        state.Position = long.TryParse(Meta("position"), out long p) && p >= 0 ? p : throw new ModelFormatException($"{path}: invalid position '{Meta("position")}'");
        int[] tokens = f.Tensors.TryGetValue("tokens", out var t) && t.DType == "I32" ? MemoryMarshal.Cast<byte, int>(f.Bytes(t)).ToArray() : [];
        return (state, tokens);
    }

    static void Read(SafetensorsFile f, string name, float[] dst, string path)
    {
        if (!f.Tensors.TryGetValue(name, out var t)) throw new ModelFormatException($"{path}: tensor '{name}' is missing");
        if (t.DType != "F32" || t.ElementCount != dst.Length) throw new ModelFormatException($"{path}: tensor '{name}' is {t.DType} {t.ShapeText}, expected F32 with {dst.Length} elements");
        MemoryMarshal.Cast<byte, float>(f.Bytes(t)).CopyTo(dst);
    }
}
