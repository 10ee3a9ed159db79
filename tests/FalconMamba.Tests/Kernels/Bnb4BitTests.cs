using System.Text;
using FalconMamba.Formats.Safetensors;
using FalconMamba.Model;

namespace FalconMamba.Tests.Kernels;

/// <summary>
/// bitsandbytes 4-bit checkpoints in transformers' layout (SPEC.md §6): a test-side quantizer writes them, a scalar
/// dequantizer written here from the SPEC formula is the reference.
/// </summary>
public class Bnb4BitTests
{
    // SPEC.md §6.4 code tables.
    static readonly float[] Nf4 = [-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
        -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
        0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f];
    static readonly float[] Fp4 = new float[] { 0, 0.0625f, 8, 12, 4, 6, 2, 3, -0f, -0.0625f, -8, -12, -4, -6, -2, -3 }.Select(v => v / 12f).ToArray();

    sealed record Packed(byte[] Codes, float[] AbsmaxF32, byte[]? AbsmaxU8, float[]? NestedAbsmax, float[]? NestedMap, float NestedOffset);

    static Packed Quantize(float[] w, float[] map, int block, bool doubleQuant)
    {
        long n = w.Length;
        int blocks = (int)((n + block - 1) / block);
        var absmax = new float[blocks];
        var codes = new byte[(n + 1) / 2];
        for (int b = 0; b < blocks; b++)
        {
            float m = 0;
            for (long k = (long)b * block; k < Math.Min(n, (long)(b + 1) * block); k++) m = Math.Max(m, Math.Abs(w[k]));
            absmax[b] = m;
            for (long k = (long)b * block; k < Math.Min(n, (long)(b + 1) * block); k++)
            {
                float v = m == 0 ? 0 : w[k] / m;
                int best = 0;
                for (int c = 1; c < 16; c++) if (Math.Abs(map[c] - v) < Math.Abs(map[best] - v)) best = c;
                codes[k >> 1] |= (byte)((k & 1) == 0 ? best << 4 : best);
            }
        }
        if (!doubleQuant) return new Packed(codes, absmax, null, null, null, 0);
        float offset = absmax.Average();
        var nestedMap = Enumerable.Range(0, 256).Select(i => -1f + 2f * i / 255f).ToArray();   // any 256-entry table works: the file carries it
        int nb = (blocks + 255) / 256;
        var nestedAbs = new float[nb];
        var u8 = new byte[blocks];
        for (int g = 0; g < nb; g++)
        {
            float m = 0;
            for (int b = g * 256; b < Math.Min(blocks, (g + 1) * 256); b++) m = Math.Max(m, Math.Abs(absmax[b] - offset));
            nestedAbs[g] = m;
            for (int b = g * 256; b < Math.Min(blocks, (g + 1) * 256); b++)
            {
                float v = m == 0 ? 0 : (absmax[b] - offset) / m;
                u8[b] = (byte)Math.Clamp((int)Math.Round((v + 1) / 2 * 255), 0, 255);
            }
        }
        return new Packed(codes, absmax, u8, nestedAbs, nestedMap, offset);
    }

    /// <summary>The SPEC.md §6.5 dequantization, element by element, in double then cast to the dtype.</summary>
    static float[] ReferenceDequant(Packed p, float[] map, int block, long n, string dtype)
    {
        var w = new float[n];
        for (long k = 0; k < n; k++)
        {
            int code = (k & 1) == 0 ? p.Codes[k >> 1] >> 4 : p.Codes[k >> 1] & 0x0F;
            double absmax = p.AbsmaxU8 is null ? p.AbsmaxF32[k / block] : (double)p.NestedMap![p.AbsmaxU8[k / block]] * p.NestedAbsmax![k / block / 256] + p.NestedOffset;
            float v = (float)(map[code] * (float)absmax);
            w[k] = dtype == "float16" ? (float)(Half)v : v;
        }
        return w;
    }

    static IEnumerable<SafetensorsEntry> Entries(string name, long rows, long cols, Packed p, float[] map, string qt, int block, string dtype)
    {
        yield return SafetensorsEntry.FromBytes(name, "U8", [(rows * cols + 1) / 2, 1], p.Codes);
        yield return SafetensorsEntry.FromFloat32(name + ".quant_map", [16], map);
        if (p.AbsmaxU8 is null) yield return SafetensorsEntry.FromFloat32(name + ".absmax", [p.AbsmaxF32.Length], p.AbsmaxF32);
        else
        {
            yield return SafetensorsEntry.FromBytes(name + ".absmax", "U8", [p.AbsmaxU8.Length], p.AbsmaxU8);
            yield return SafetensorsEntry.FromFloat32(name + ".nested_absmax", [p.NestedAbsmax!.Length], p.NestedAbsmax);
            yield return SafetensorsEntry.FromFloat32(name + ".nested_quant_map", [256], p.NestedMap!);
        }
        string json = p.AbsmaxU8 is null
            ? $"{{\"quant_type\": \"{qt}\", \"blocksize\": {block}, \"dtype\": \"{dtype}\", \"shape\": [{rows}, {cols}]}}"
            : $"{{\"quant_type\": \"{qt}\", \"blocksize\": {block}, \"dtype\": \"{dtype}\", \"shape\": [{rows}, {cols}], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": {p.NestedOffset.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}}}";
        var bytes = Encoding.UTF8.GetBytes(json);
        yield return SafetensorsEntry.FromBytes($"{name}.quant_state.bitsandbytes__{qt}", "U8", [bytes.Length], bytes);
    }

    [Theory]
    [InlineData("fp4", false)]
    [InlineData("nf4", false)]
    [InlineData("nf4", true)]
    [InlineData("fp4", true)]
    public void QuantizedCheckpointRunsLikeItsReferenceDequantization(string qt, bool doubleQuant)
    {
        var cfg = TestModel.MakeConfig(d: 64, e: 128, n: 16, r: 8, v: 80);
        var tm = new TestModel(cfg, 31);
        var map = qt == "nf4" ? Nf4 : Fp4;
        const int Block = 64;
        var quantEntries = new List<SafetensorsEntry>();
        var reference = new TestModel(cfg, 31);
        foreach (var (name, (shape, values)) in tm.Tensors.ToList())
        {
            bool linear = name.Contains("in_proj.weight") || name.Contains("x_proj.weight") || name.Contains("dt_proj.weight") || name.Contains("out_proj.weight");
            if (linear)
            {
                var p = Quantize(values, map, Block, doubleQuant);
                quantEntries.AddRange(Entries(name, shape[0], shape[1], p, map, qt, Block, "float16"));
                reference.Tensors[name] = (shape, ReferenceDequant(p, map, Block, values.Length, "float16"));
            }
            else
            {
                quantEntries.Add(SafetensorsEntry.FromFloat32(name, shape, values, "F16"));
                reference.Tensors[name] = (shape, values.Select(v => (float)(Half)v).ToArray());
            }
        }
        string qdir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(qdir, "config.json"), cfg.ToJson());
        SafetensorsWriter.Write(Path.Combine(qdir, "model.safetensors"), quantEntries);
        string rdir = reference.WriteFolder(TestPaths.NewTempDir(), "F32");

        using var qm = MambaModel.Load(qdir);
        using var rm = MambaModel.Load(rdir);
        Assert.Equal(qt == "nf4" ? FalconMamba.Kernels.TensorType.NF4 : FalconMamba.Kernels.TensorType.FP4, qm.Weights.Layers[0].InProj.Type);
        // every row of every quantized matrix equals the reference dequantization
        var a = qm.Weights.Layers[1].OutProj.ToFloat32();
        var b = rm.Weights.Layers[1].OutProj.ToFloat32();
        Assert.Equal(b, a);
        int[] tokens = Enumerable.Range(0, 25).Select(i => (i * 17) % 80).ToArray();
        using var c1 = qm.CreateContext(2, 8);
        using var c2 = rm.CreateContext(2, 8);
        var l1 = c1.Prefill(tokens, qm.CreateState()).ToArray();
        var l2 = c2.Prefill(tokens, rm.CreateState()).ToArray();
        double d = l1.Zip(l2, (x, y) => Math.Abs(x - y)).Max();
        TestContext.Current.TestOutputHelper?.WriteLine($"{qt} double-quant={doubleQuant}: max|Δlogit| vs reference-dequantized f32 model = {d:E3}; 4-bit bytes {qm.Weights.Layers[0].InProj.ByteSize} vs f32 {rm.Weights.Layers[0].InProj.ByteSize}");
        Assert.True(d <= 1e-5 * l2.Max(Math.Abs));
    }

    [Fact]
    public void MissingQuantStatePiecesAreNamed()
    {
        var cfg = TestModel.MakeConfig(d: 64, e: 128, n: 16, r: 8, v: 80);
        var tm = new TestModel(cfg, 1);
        var entries = new List<SafetensorsEntry>();
        foreach (var (name, (shape, values)) in tm.Tensors)
        {
            if (name == "backbone.layers.0.mixer.in_proj.weight")
                entries.AddRange(Entries(name, shape[0], shape[1], Quantize(values, Nf4, 64, false), Nf4, "nf4", 64, "float16").Where(e => !e.Name.EndsWith("absmax")));
            else entries.Add(SafetensorsEntry.FromFloat32(name, shape, values));
        }
        string dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJson());
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), entries);
        var e = Assert.Throws<ModelFormatException>(() => MambaModel.Load(dir));
        Assert.Contains("backbone.layers.0.mixer.in_proj.weight.absmax", e.Message);
    }
}
