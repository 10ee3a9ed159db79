using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FalconMamba.Formats.Safetensors;

/// <summary>A tensor to be written: its name, dtype, shape and a callback that writes exactly its bytes.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, Action<Stream> WriteData)
{
    /// <summary>Bytes the callback must write.</summary>
    public long ByteLength => Shape.Aggregate(1L, (a, b) => a * b) * SafetensorsDType.SizeOf(DType);

    /// <summary>An entry from raw bytes.</summary>
    public static SafetensorsEntry FromBytes(string name, string dtype, long[] shape, byte[] data) =>
        new(name, dtype, shape, s => s.Write(data));

    /// <summary>An entry from f32 values, stored as F32, F16 or BF16 (round to nearest even).</summary>
    public static SafetensorsEntry FromFloat32(string name, long[] shape, float[] values, string dtype = "F32")
    {
        if (values.LongLength != shape.Aggregate(1L, (a, b) => a * b))
            throw new ArgumentException($"tensor '{name}': {values.Length} values do not fill shape [{string.Join(", ", shape)}]");
        return new(name, dtype, shape, s => WriteConverted(s, values, dtype, name));
    }

    static void WriteConverted(Stream s, float[] values, string dtype, string name)
    {
        const int Block = 1 << 16;
        switch (dtype)
        {
            case "F32":
                s.Write(MemoryMarshal.AsBytes(values.AsSpan()));
                break;
            case "F16":
            {
                var buf = new Half[Block];
                for (int i = 0; i < values.Length; i += Block)
                {
                    int n = Math.Min(Block, values.Length - i);
                    System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values.AsSpan(i, n), buf.AsSpan(0, n));
                    s.Write(MemoryMarshal.AsBytes(buf.AsSpan(0, n)));
                }
                break;
            }
            case "BF16":
            {
                var buf = new ushort[Block];
                for (int i = 0; i < values.Length; i += Block)
                {
                    int n = Math.Min(Block, values.Length - i);
                    for (int j = 0; j < n; j++) buf[j] = BFloat16.FromSingle(values[i + j]);
                    s.Write(MemoryMarshal.AsBytes(buf.AsSpan(0, n)));
                }
                break;
            }
            default: throw new ArgumentException($"tensor '{name}': cannot store f32 values as {dtype}");
        }
    }
}

/// <summary>bf16 bit conversions.</summary>
public static class BFloat16
{
    /// <summary>f32 → bf16 bits, round to nearest even; NaN stays NaN (as torch does).</summary>
    public static ushort FromSingle(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>bf16 bits → f32.</summary>
    public static float ToSingle(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);
}

/// <summary>
/// Writes safetensors files (SPEC.md §3.3): header JSON padded with spaces to a multiple of 8, tensors packed in
/// header order. Writes to a temp file and renames it, so an interruption never leaves a half-written file.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes one file.</summary>
    public static void Write(string path, IReadOnlyList<SafetensorsEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!names.Add(t.Name)) throw new ArgumentException($"tensor '{t.Name}' is given twice");
            if (SafetensorsDType.SizeOf(t.DType) == 0) throw new ArgumentException($"tensor '{t.Name}': unknown dtype '{t.DType}'");
        }
        // Order as the reference writer does: larger dtype first, then by name.
        var ordered = tensors.OrderByDescending(t => SafetensorsDType.SizeOf(t.DType)).ThenBy(t => t.Name, StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var m = new JsonObject();
            foreach (var kv in metadata) m[kv.Key] = kv.Value;
            header["__metadata__"] = m;
        }
        long offset = 0;
        foreach (var t in ordered)
        {
            long len = t.ByteLength;
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.DType,
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + len),
            };
            offset += len;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        int padded = (json.Length + 7) / 8 * 8;

        string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len8 = stackalloc byte[8];
                BitConverter.TryWriteBytes(len8, (ulong)padded);
                fs.Write(len8);
                fs.Write(json);
                for (int i = json.Length; i < padded; i++) fs.WriteByte(0x20);
                foreach (var t in ordered)
                {
                    long before = fs.Position;
                    t.WriteData(fs);
                    if (fs.Position - before != t.ByteLength)
                        throw new InvalidOperationException($"tensor '{t.Name}': wrote {fs.Position - before} bytes, expected {t.ByteLength}");
                }
                fs.Flush(true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>
    /// Writes shards <c>model-0000i-of-0000n.safetensors</c> of at most <paramref name="maxShardBytes"/> each and the
    /// <c>model.safetensors.index.json</c> (as transformers' save_pretrained does, SPEC.md §3.2). Returns the shard paths.
    /// </summary>
    public static IReadOnlyList<string> WriteSharded(string folder, IReadOnlyList<SafetensorsEntry> tensors, long maxShardBytes)
    {
        var shards = new List<List<SafetensorsEntry>> { new() };
        long size = 0;
        foreach (var t in tensors)
        {
            if (size > 0 && size + t.ByteLength > maxShardBytes) { shards.Add(new()); size = 0; }
            shards[^1].Add(t);
            size += t.ByteLength;
        }
        var paths = new List<string>();
        var weightMap = new JsonObject();
        for (int i = 0; i < shards.Count; i++)
        {
            string name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Write(System.IO.Path.Combine(folder, name), shards[i], new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var t in shards[i]) weightMap[t.Name] = name;
            paths.Add(System.IO.Path.Combine(folder, name));
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(t => t.ByteLength) },
            ["weight_map"] = weightMap,
        };
        string indexPath = System.IO.Path.Combine(folder, "model.safetensors.index.json");
        File.WriteAllText(indexPath + ".tmp", index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(indexPath + ".tmp", indexPath, overwrite: true);
        return paths;
    }
}
