using System.Text.Json;
using FalconMamba.Formats.Safetensors;
using FalconMamba.Kernels;

namespace FalconMamba.Model;

/// <summary>
/// Loads weights from a Hugging Face model folder: config.json + model.safetensors, or shards listed in
/// model.safetensors.index.json (SPEC.md §3). Names follow the checkpoint (<c>backbone.layers.i.mixer.in_proj.weight</c>),
/// and every tensor is checked against the config (name, shape, dtype) with an error naming file, tensor, expected and actual.
/// Matrices stay in the memory mapping in their stored dtype (F32/F16/BF16); small vectors are read into f32 arrays.
/// </summary>
public static class ModelLoader
{
    /// <summary>Loads from a folder or a .gguf file.</summary>
    public static MambaWeights LoadWeights(string path, ModelLoadOptions options, IProgress<double>? progress = null)
    {
        // with UseMmap = false the copy into RAM is most of the time: mapping reports 0–10 %, the copy the rest
        var mapping = options.UseMmap || progress is null ? progress : new ScaledProgress(progress, 0, 0.1);
        MambaWeights weights;
        if (File.Exists(path) && path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            (weights, _) = Formats.Gguf.GgufModelLoader.Load(path, mapping);
        else if (!Directory.Exists(path))
            throw new ModelFormatException(File.Exists(path)
                ? $"'{path}' is a file; expected a model folder (config.json + *.safetensors) or a .gguf file"
                : $"model folder '{path}' does not exist");
        else weights = LoadSafetensors(path, MambaConfig.Load(path), mapping);
        // then quantize at load and/or move the matrices off the mapping, as the options ask
        try
        {
            if (options.Quantize is { } q) weights = WeightQuantizer.Apply(weights, q);
            return options.UseMmap ? weights : WeightResidency.CopyToLargePages(weights, progress is null ? null : new ScaledProgress(progress, 0.1, 1));
        }
        catch
        {
            weights.Dispose();   // the mappings (quantize-at-load and the copy hand them on only when they succeed)
            throw;
        }
    }

    /// <summary>Maps a phase's 0–1 onto [from, to] of the whole load's progress.</summary>
    sealed class ScaledProgress(IProgress<double> inner, double from, double to) : IProgress<double>
    {
        public void Report(double value) => inner.Report(from + (to - from) * value);
    }

    /// <summary>Opens the safetensors shard(s) of a folder.</summary>
    public static IReadOnlyList<SafetensorsFile> OpenShards(string folder)
    {
        string index = Path.Combine(folder, "model.safetensors.index.json");
        var files = new List<string>();
        if (File.Exists(index))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(index));
                if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                    throw new ModelFormatException($"{index}: missing object 'weight_map'");
                foreach (var kv in map.EnumerateObject())
                {
                    string f = kv.Value.GetString() ?? throw new ModelFormatException($"{index}: weight_map['{kv.Name}'] is not a string");
                    if (f.Contains('/') || f.Contains('\\') || f.Contains("..")) throw new ModelFormatException($"{index}: weight_map['{kv.Name}'] = '{f}' is not a plain file name");
                    if (!files.Contains(f)) files.Add(f);
                }
            }
            catch (JsonException e) { throw new ModelFormatException($"{index}: invalid JSON ({e.Message})", e); }
            files = files.Select(f => Path.Combine(folder, f)).ToList();
            foreach (var f in files) if (!File.Exists(f)) throw new ModelFormatException($"{index}: shard '{Path.GetFileName(f)}' is listed but missing from {folder}");
        }
        else if (File.Exists(Path.Combine(folder, "model.safetensors"))) files.Add(Path.Combine(folder, "model.safetensors"));
        else
        {
            files.AddRange(Directory.GetFiles(folder, "*.safetensors").Order(StringComparer.Ordinal));
            if (files.Count == 0) throw new ModelFormatException($"{folder}: no model.safetensors, model.safetensors.index.json or *.safetensors file");
        }
        var opened = new List<SafetensorsFile>();
        try { foreach (var f in files) opened.Add(SafetensorsFile.Open(f)); }
        catch { foreach (var o in opened) o.Dispose(); throw; }
        return opened;
    }

    static MambaWeights LoadSafetensors(string folder, MambaConfig config, IProgress<double>? progress)
    {
        var shards = OpenShards(folder);
        try
        {
            var byName = new Dictionary<string, (SafetensorsFile File, SafetensorsTensorInfo Info)>(StringComparer.Ordinal);
            foreach (var s in shards)
                foreach (var t in s.Tensors.Values)
                {
                    if (byName.TryGetValue(t.Name, out var prev)) throw new ModelFormatException($"tensor '{t.Name}' appears in both {prev.File.Path} and {s.Path}");
                    byName[t.Name] = (s, t);
                }
            var loader = new TensorReader(byName, folder);
            int d = config.HiddenSize, e = config.IntermediateSize, n = config.StateSize, r = config.TimeStepRank, k = config.ConvKernel, v = config.VocabSize;

            string embName = byName.ContainsKey("backbone.embeddings.weight") ? "backbone.embeddings.weight" : "backbone.embedding.weight";
            var embedding = loader.Matrix(embName, v, d);
            var layers = new MambaLayerWeights[config.NumHiddenLayers];
            for (int i = 0; i < layers.Length; i++)
            {
                string p = $"backbone.layers.{i}.";
                var aLog = loader.Vector(p + "mixer.A_log", [e, n]);
                var a = new float[aLog.Length];
                for (int j = 0; j < a.Length; j++) a[j] = -MathF.Exp(aLog[j]);   // A = −exp(A_log)
                layers[i] = new MambaLayerWeights
                {
                    Norm = loader.Vector(p + "norm.weight", [d]),
                    InProj = loader.Matrix(p + "mixer.in_proj.weight", 2 * e, d),
                    InProjBias = config.UseBias ? loader.Vector(p + "mixer.in_proj.bias", [2 * e]) : null,
                    ConvWeight = loader.Vector(p + "mixer.conv1d.weight", [e, 1, k]),
                    ConvBias = config.UseConvBias ? loader.Vector(p + "mixer.conv1d.bias", [e]) : null,
                    XProj = loader.Matrix(p + "mixer.x_proj.weight", r + 2 * n, e),
                    DtProj = loader.Matrix(p + "mixer.dt_proj.weight", e, r),
                    DtBias = loader.Vector(p + "mixer.dt_proj.bias", [e]),
                    A = a,
                    D = loader.Vector(p + "mixer.D", [e]),
                    OutProj = loader.Matrix(p + "mixer.out_proj.weight", d, e),
                    OutProjBias = config.UseBias ? loader.Vector(p + "mixer.out_proj.bias", [d]) : null,
                };
                progress?.Report((i + 1.0) / layers.Length);
            }
            var normF = loader.Vector("backbone.norm_f.weight", [d]);
            // Tied embeddings: falcon-mamba-7b stores a separate lm_head (tie_word_embeddings=false); fall back to the
            // embedding when tied or when lm_head.weight is absent (SPEC.md pitfall 19).
            WeightMatrix lmHead = !config.TieWordEmbeddings && byName.ContainsKey("lm_head.weight")
                ? loader.Matrix("lm_head.weight", v, d)
                : embedding;
            return new MambaWeights(config, embedding, layers, normF, lmHead, shards.Cast<IDisposable>().ToArray());
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
    }

    sealed unsafe class TensorReader(Dictionary<string, (SafetensorsFile File, SafetensorsTensorInfo Info)> byName, string folder)
    {
        (SafetensorsFile File, SafetensorsTensorInfo Info) Get(string name)
        {
            if (!byName.TryGetValue(name, out var x)) throw new ModelFormatException($"{folder}: tensor '{name}' is missing from the checkpoint");
            return x;
        }

        public WeightMatrix Matrix(string name, int rows, int cols)
        {
            // bitsandbytes 4-bit layout (transformers' Linear4bit state dict, SPEC.md §6)
            if (Kernels.Bnb.BnbQuantState.IsPacked(name, byName.ContainsKey))
                return Kernels.Bnb.BnbQuantState.Load(name, rows, cols, n => byName.TryGetValue(n, out var x) ? x : null);
            var (file, t) = Get(name);
            if (t.Shape.Length != 2 || t.Shape[0] != rows || t.Shape[1] != cols)
                throw new ModelFormatException($"{file.Path}: tensor '{name}' has shape {t.ShapeText}, expected [{rows}, {cols}] from config.json");
            byte* p = file.DataPointer(t);
            return t.DType switch
            {
                "F32" => new F32Matrix(p, rows, cols, file),
                "BF16" => new BF16Matrix(p, rows, cols, file),
                "F16" => new F16Matrix(p, rows, cols, file),
                _ => throw new ModelFormatException($"{file.Path}: tensor '{name}' has dtype {t.DType}, expected F32, F16 or BF16"),
            };
        }

        public float[] Vector(string name, long[] shape)
        {
            var (file, t) = Get(name);
            if (!t.Shape.SequenceEqual(shape))
                throw new ModelFormatException($"{file.Path}: tensor '{name}' has shape {t.ShapeText}, expected [{string.Join(", ", shape)}] from config.json");
            if (t.DType is not ("F32" or "F16" or "BF16"))
                throw new ModelFormatException($"{file.Path}: tensor '{name}' has dtype {t.DType}, expected F32, F16 or BF16");
            return file.ReadFloat32(t);
        }
    }
}
