using System.Runtime.InteropServices;
using FalconMamba.Formats.Safetensors;
using FalconMamba.Model;

namespace FalconMamba.Bench;

/// <summary>
/// Writes a randomly initialised HF model folder of a named shape (falcon-mamba-7b, mamba-130m, …) for benchmarks.
/// Tensors are generated while they are written, so a 14.5 GB bf16 7B never sits in memory; shards of ≤ 5 GB as on the hub.
/// Values: Linear weights ~ U(±1/√fan_in), embeddings ~ U(±1), A_log = log(1..N), D = 1, dt bias = inverse softplus of
/// 0.01 — scaled like a trained model closely enough for timing (the numbers themselves are meaningless).
/// </summary>
public static class RandomModelWriter
{
    public static MambaConfig Shape(string name) => name switch
    {
        "falcon-mamba-7b" => new MambaConfig { ModelType = "falcon_mamba", VocabSize = 65024, HiddenSize = 4096, NumHiddenLayers = 64, IntermediateSize = 8192, StateSize = 16, TimeStepRank = 256, ConvKernel = 4, TieWordEmbeddings = false, EosTokenIds = [11], BosTokenId = 0, PadTokenId = 11, Expand = 16, TorchDtype = "bfloat16" },
        "mamba-130m" => new MambaConfig { ModelType = "mamba", VocabSize = 50280, HiddenSize = 768, NumHiddenLayers = 24, IntermediateSize = 1536, StateSize = 16, TimeStepRank = 48, ConvKernel = 4, TieWordEmbeddings = true, EosTokenIds = [0] },
        "falcon-mamba-130m" => new MambaConfig { ModelType = "falcon_mamba", VocabSize = 65024, HiddenSize = 768, NumHiddenLayers = 24, IntermediateSize = 1536, StateSize = 16, TimeStepRank = 48, ConvKernel = 4, TieWordEmbeddings = false, EosTokenIds = [11] },
        "tiny" => new MambaConfig { ModelType = "falcon_mamba", VocabSize = 512, HiddenSize = 64, NumHiddenLayers = 2, IntermediateSize = 128, StateSize = 16, TimeStepRank = 4, ConvKernel = 4, TieWordEmbeddings = false, EosTokenIds = [0] },
        _ => throw new ArgumentException($"--shape: unknown shape '{name}' (falcon-mamba-7b, falcon-mamba-130m, mamba-130m, tiny)"),
    };

    public static void Write(MambaConfig c, string dtype, string dir, int seed, Action<string>? log = null)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), c.ToJson());
        int D = c.HiddenSize, E = c.IntermediateSize, N = c.StateSize, R = c.TimeStepRank, K = c.ConvKernel, V = c.VocabSize;
        var entries = new List<SafetensorsEntry>();
        int index = 0;
        void Add(string name, long[] shape, Func<long, float> gen, string? dt = null)
        {
            int s = seed * 1000 + index++;
            entries.Add(new SafetensorsEntry(name, dt ?? dtype, shape, stream => WriteGenerated(stream, shape, gen, dt ?? dtype, s, name, log)));
        }
        float Uniform(Random rng, double scale) => (float)((rng.NextDouble() * 2 - 1) * scale);
        Add("backbone.embeddings.weight", [V, D], _ => 0);
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"backbone.layers.{l}.";
            Add(p + "norm.weight", [D], _ => 1);
            Add(p + "mixer.in_proj.weight", [2 * E, D], _ => 0);
            Add(p + "mixer.conv1d.weight", [E, 1, K], _ => 0);
            Add(p + "mixer.conv1d.bias", [E], _ => 0);
            Add(p + "mixer.x_proj.weight", [R + 2 * N, E], _ => 0);
            Add(p + "mixer.dt_proj.weight", [E, R], _ => 0);
            Add(p + "mixer.dt_proj.bias", [E], _ => -4.6f);   // softplus⁻¹(0.01)
            Add(p + "mixer.A_log", [E, N], i => MathF.Log(i % N + 1));
            Add(p + "mixer.D", [E], _ => 1);
            Add(p + "mixer.out_proj.weight", [D, E], _ => 0);
        }
        Add("backbone.norm_f.weight", [D], _ => 1);
        if (!c.TieWordEmbeddings) Add("lm_head.weight", [V, D], _ => 0);
        // Linear weights (generator returned 0 above) get uniform noise scaled by fan-in; the rest are deterministic.
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            bool random = e.Shape.Length >= 2 && !e.Name.EndsWith("A_log", StringComparison.Ordinal);
            if (!random) continue;
            long fanIn = e.Shape[^1] == 1 ? e.Shape[^1] : e.Shape[^1];
            double scale = e.Name.Contains("embeddings") ? 1.0 : e.Name.Contains("conv1d") ? 0.5 : 1.0 / Math.Sqrt(fanIn);
            int s = seed * 1000 + i;
            var shape = e.Shape;
            string name = e.Name, dt = e.DType;
            entries[i] = new SafetensorsEntry(name, dt, shape, stream =>
            {
                var rng = new Random(s);
                WriteGenerated(stream, shape, _ => Uniform(rng, scale), dt, s, name, log);
            });
        }
        SafetensorsWriter.WriteSharded(dir, entries, 5_000_000_000L);
    }

    static void WriteGenerated(Stream s, long[] shape, Func<long, float> gen, string dtype, int seed, string name, Action<string>? log)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        const int Block = 1 << 20;
        var buf = new float[Block];
        for (long i = 0; i < n; i += Block)
        {
            int len = (int)Math.Min(Block, n - i);
            for (int j = 0; j < len; j++) buf[j] = gen(i + j);
            var chunk = buf.AsSpan(0, len);
            switch (dtype)
            {
                case "F32": s.Write(MemoryMarshal.AsBytes(chunk)); break;
                case "BF16":
                {
                    var b = new ushort[len];
                    for (int j = 0; j < len; j++) b[j] = BFloat16.FromSingle(chunk[j]);
                    s.Write(MemoryMarshal.AsBytes(b.AsSpan()));
                    break;
                }
                case "F16":
                {
                    var h = new Half[len];
                    System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(chunk, h);
                    s.Write(MemoryMarshal.AsBytes(h.AsSpan()));
                    break;
                }
                default: throw new ArgumentException($"--dtype: {dtype} is not F32, F16 or BF16");
            }
        }
        if (n > 10_000_000) log?.Invoke($"  wrote {name} [{string.Join(", ", shape)}] {dtype}");
    }
}
