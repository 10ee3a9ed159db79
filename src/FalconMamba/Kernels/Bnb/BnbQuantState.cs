using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using FalconMamba.Formats.Safetensors;

namespace FalconMamba.Kernels.Bnb;

/// <summary>
/// Reads the quant state that bitsandbytes' <c>Linear4bit</c> stores beside a packed weight M.weight
/// (<c>QuantState.as_dict(packed=True)</c>, SPEC.md §6.3): M.weight.absmax, M.weight.quant_map,
/// M.weight.nested_absmax / nested_quant_map (double quantization) and M.weight.quant_state.bitsandbytes__fp4|nf4 (JSON).
/// </summary>
public static unsafe class BnbQuantState
{
    /// <summary>True when <paramref name="name"/> is a bitsandbytes-packed weight (its quant_state tensor <paramref name="exists"/>).</summary>
    public static bool IsPacked(string name, Func<string, bool> exists) =>
        exists(name + ".quant_state.bitsandbytes__fp4") || exists(name + ".quant_state.bitsandbytes__nf4");

    /// <summary>Builds the matrix for packed weight <paramref name="name"/> of shape [rows, cols].</summary>
    public static Bnb4BitMatrix Load(string name, int rows, int cols, Func<string, (SafetensorsFile File, SafetensorsTensorInfo Info)?> get)
    {
        (SafetensorsFile File, SafetensorsTensorInfo Info) Need(string n) => get(n) ?? throw new ModelFormatException($"bitsandbytes weight '{name}': tensor '{n}' is missing");
        var stateEntry = get(name + ".quant_state.bitsandbytes__fp4") ?? get(name + ".quant_state.bitsandbytes__nf4")
            ?? throw new ModelFormatException($"bitsandbytes weight '{name}': no quant_state tensor");
        string json = Encoding.UTF8.GetString(stateEntry.File.Bytes(stateEntry.Info));
        string quantType, dtype;
        int blockSize;
        long[] shape;
        double nestedOffset = 0;
        int nestedBlock = 256;
        try
        {
            using var d = JsonDocument.Parse(json);
            var r = d.RootElement;
            quantType = r.GetProperty("quant_type").GetString()!;
            blockSize = r.GetProperty("blocksize").GetInt32();
            dtype = r.TryGetProperty("dtype", out var dt) ? dt.GetString()! : "float32";
            shape = r.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (r.TryGetProperty("nested_offset", out var off)) nestedOffset = off.GetDouble();
            if (r.TryGetProperty("nested_blocksize", out var nb)) nestedBlock = nb.GetInt32();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ModelFormatException($"{stateEntry.File.Path}: '{stateEntry.Info.Name}' is not a valid bitsandbytes quant state ({e.Message})");
        }
        if (quantType is not ("fp4" or "nf4")) throw new ModelFormatException($"{stateEntry.File.Path}: '{name}' has quant_type '{quantType}', expected fp4 or nf4");
        if (shape.Length != 2 || shape[0] != rows || shape[1] != cols)
            throw new ModelFormatException($"{stateEntry.File.Path}: bitsandbytes weight '{name}' has shape [{string.Join(", ", shape)}], expected [{rows}, {cols}] from config.json");
        long n = (long)rows * cols;
        long blocks = (n + blockSize - 1) / blockSize;
        var (wf, wi) = Need(name);
        if (wi.DType != "U8" || wi.ByteLength != (n + 1) / 2)
            throw new ModelFormatException($"{wf.Path}: bitsandbytes weight '{name}' is {wi.DType} with {wi.ByteLength} bytes, expected U8 with {(n + 1) / 2}");
        var quantMap = ReadF32(Need(name + ".quant_map"), 16);
        var (af, ai) = Need(name + ".absmax");
        float[] absmax;
        if (ai.DType == "U8")
        {
            // Double quantization: absmax = nested_quant_map[code] · nested_absmax[b / nested_blocksize] + nested_offset.
            var nestedMap = ReadF32(Need(name + ".nested_quant_map"), 256);
            var nestedAbs = ReadF32(Need(name + ".nested_absmax"), (int)((blocks + nestedBlock - 1) / nestedBlock));
            var codes = af.Bytes(ai);
            if (codes.Length != blocks) throw new ModelFormatException($"{af.Path}: '{ai.Name}' has {codes.Length} entries, expected {blocks}");
            absmax = new float[blocks];
            for (long b = 0; b < blocks; b++) absmax[b] = (float)(nestedMap[codes[(int)b]] * nestedAbs[b / nestedBlock] + nestedOffset);
        }
        else absmax = ReadF32((af, ai), (int)blocks);
        return new Bnb4BitMatrix(wf.DataPointer(wi), rows, cols, quantType, blockSize, absmax, quantMap, dtype, wf);
    }

    static float[] ReadF32((SafetensorsFile File, SafetensorsTensorInfo Info) t, int expected)
    {
        if (t.Info.ElementCount != expected) throw new ModelFormatException($"{t.File.Path}: '{t.Info.Name}' has {t.Info.ElementCount} elements, expected {expected}");
        return t.File.ReadFloat32(t.Info);
    }
}
