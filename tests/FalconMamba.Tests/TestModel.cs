using FalconMamba.Formats.Safetensors;
using FalconMamba.Model;

namespace FalconMamba.Tests;

/// <summary>
/// Tiny random checkpoints that tests write as Hugging Face folders. Values are drawn once in f32 (and rounded to the
/// stored dtype when asked) so the engine and the float64 reference read exactly the same numbers.
/// </summary>
public sealed class TestModel
{
    public MambaConfig Config { get; }
    /// <summary>HF name → (shape, f32 values).</summary>
    public Dictionary<string, (long[] Shape, float[] Values)> Tensors { get; } = new();

    public TestModel(MambaConfig config, int seed)
    {
        Config = config;
        var rng = new Random(seed);
        int D = config.HiddenSize, E = config.IntermediateSize, N = config.StateSize, R = config.TimeStepRank, K = config.ConvKernel, V = config.VocabSize;
        float U(double s) => (float)((rng.NextDouble() * 2 - 1) * s);
        float[] Rand(long n, double scale, double offset = 0) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(offset + U(scale)); return a; }
        void Add(string name, long[] shape, float[] v) => Tensors[name] = (shape, v);

        Add("backbone.embeddings.weight", [V, D], Rand((long)V * D, 1.0));
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            string p = $"backbone.layers.{l}.";
            Add(p + "norm.weight", [D], Rand(D, 0.2, 1.0));
            Add(p + "mixer.in_proj.weight", [2 * E, D], Rand(2L * E * D, 1.5 / Math.Sqrt(D)));
            if (config.UseBias) Add(p + "mixer.in_proj.bias", [2 * E], Rand(2 * E, 0.1));
            Add(p + "mixer.conv1d.weight", [E, 1, K], Rand((long)E * K, 0.8));
            if (config.UseConvBias) Add(p + "mixer.conv1d.bias", [E], Rand(E, 0.2));
            Add(p + "mixer.x_proj.weight", [R + 2 * N, E], Rand((long)(R + 2 * N) * E, 1.5 / Math.Sqrt(E)));
            Add(p + "mixer.dt_proj.weight", [E, R], Rand((long)E * R, 1.0 / Math.Sqrt(R)));
            Add(p + "mixer.dt_proj.bias", [E], Rand(E, 1.5, -2.5));
            var aLog = new float[E * N];
            for (int c = 0; c < E; c++) for (int n = 0; n < N; n++) aLog[c * N + n] = (float)Math.Log(n + 1) + U(0.3);
            Add(p + "mixer.A_log", [E, N], aLog);
            Add(p + "mixer.D", [E], Rand(E, 0.5, 1.0));
            Add(p + "mixer.out_proj.weight", [D, E], Rand((long)D * E, 1.0 / Math.Sqrt(E)));
            if (config.UseBias) Add(p + "mixer.out_proj.bias", [D], Rand(D, 0.1));
        }
        Add("backbone.norm_f.weight", [D], Rand(D, 0.2, 1.0));
        if (!config.TieWordEmbeddings) Add("lm_head.weight", [V, D], Rand((long)V * D, 1.0 / Math.Sqrt(D)));
    }

    /// <summary>A small falcon_mamba config; override fields with `with`.</summary>
    public static MambaConfig MakeConfig(string type = "falcon_mamba", int d = 32, int layers = 2, int e = 64, int n = 16, int r = 4, int k = 4, int v = 97, bool tie = false) => new MambaConfig
    {
        ModelType = type, HiddenSize = d, NumHiddenLayers = layers, IntermediateSize = e, StateSize = n, TimeStepRank = r,
        ConvKernel = k, VocabSize = v, TieWordEmbeddings = tie, EosTokenIds = [0], BosTokenId = 0, PadTokenId = 0,
        Expand = (double)e / d,
    }.Validate();

    /// <summary>Values as the stored dtype rounds them.</summary>
    public static float Round(float v, string dtype) => dtype switch
    {
        "BF16" => BFloat16.ToSingle(BFloat16.FromSingle(v)),
        "F16" => (float)(Half)v,
        _ => v,
    };

    /// <summary>Parameters as float64 for the reference (rounded through <paramref name="dtype"/>).</summary>
    public Dictionary<string, double[]> AsDouble(string dtype = "F32") =>
        Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Values.Select(v => (double)Round(v, dtype)).ToArray());


    /// <summary>Writes config.json and model.safetensors (or shards) to <paramref name="dir"/>.</summary>
    public string WriteFolder(string dir, string dtype = "F32", long? shardBytes = null)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), Config.ToJson());
        var entries = Tensors.Select(kv => SafetensorsEntry.FromFloat32(kv.Key, kv.Value.Shape, kv.Value.Values, dtype)).ToList();   // every tensor in one dtype, as HF stores a bf16 model
        if (shardBytes is long s) SafetensorsWriter.WriteSharded(dir, entries, s);
        else SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), entries, new Dictionary<string, string> { ["format"] = "pt" });
        return dir;
    }
}
