using System.Text;
using System.Text.Json;

namespace FalconMamba.Formats.Safetensors;

/// <summary>One tensor's header entry: dtype, shape, and the absolute byte range in the file.</summary>
public sealed record SafetensorsTensorInfo(string Name, string DType, long[] Shape, long Offset, long ByteLength)
{
    /// <summary>Number of elements (product of the shape).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    /// <summary>Shape as text, e.g. [16384, 4096].</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A memory-mapped safetensors file (format: huggingface/safetensors README, SPEC.md §3.3): u64 header length N,
/// N bytes of JSON, then the packed tensor bytes. Validated like the reference reader (<c>Metadata::validate</c>):
/// header size limit, valid UTF-8 JSON, known dtypes, byte size = shape × dtype, contiguous non-overlapping ranges
/// that end exactly at the end of the file. Tensor bytes are returned as spans over the mapping, never copied.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    const long MaxHeaderSize = 100_000_000;
    readonly MappedFile _map;
    readonly Dictionary<string, SafetensorsTensorInfo> _tensors;

    /// <summary>The file path.</summary>
    public string Path => _map.Path;
    /// <summary>The mapping (kept alive by weights that point into it).</summary>
    public MappedFile Mapping => _map;
    /// <summary>Tensor entries by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors => _tensors;
    /// <summary>The optional <c>__metadata__</c> string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafetensorsFile(MappedFile map, Dictionary<string, SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        _map = map;
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    public static SafetensorsFile Open(string path)
    {
        var map = new MappedFile(path);
        try { return Parse(map); }
        catch { map.Dispose(); throw; }
    }

    static SafetensorsFile Parse(MappedFile map)
    {
        string p = map.Path;
        if (map.Length < 8) throw new ModelFormatException($"{p}: truncated safetensors file ({map.Length} bytes; the 8-byte header length is missing)");
        ulong n = BitConverter.ToUInt64(map.Span(0, 8));
        if (n > MaxHeaderSize) throw new ModelFormatException($"{p}: safetensors header length {n} exceeds the limit of {MaxHeaderSize} bytes (not a safetensors file?)");
        if (8 + (long)n > map.Length) throw new ModelFormatException($"{p}: truncated safetensors file: header says {n} bytes of JSON but the file has {map.Length} bytes");
        long dataStart = 8 + (long)n;
        string json;
        try { json = new UTF8Encoding(false, true).GetString(map.Span(8, (int)n)); }
        catch (DecoderFallbackException) { throw new ModelFormatException($"{p}: safetensors header is not valid UTF-8"); }

        var tensors = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>();
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw new ModelFormatException($"{p}: safetensors header is not valid JSON ({e.Message})", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelFormatException($"{p}: safetensors header is not a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw new ModelFormatException($"{p}: '__metadata__' is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                if (tensors.ContainsKey(prop.Name)) throw new ModelFormatException($"{p}: tensor '{prop.Name}' appears twice in the header");
                tensors[prop.Name] = ParseEntry(p, prop.Name, prop.Value, dataStart);
            }
        }

        // Contiguity: sorted by offset, each begins where the previous ended; the last ends at EOF.
        long expected = dataStart;
        foreach (var t in tensors.Values.OrderBy(t => t.Offset).ThenBy(t => t.ByteLength))
        {
            if (t.Offset < expected)
                throw new ModelFormatException($"{p}: tensor '{t.Name}' data range overlaps the previous tensor (begins at {t.Offset - dataStart}, previous ends at {expected - dataStart})");
            if (t.Offset > expected)
                throw new ModelFormatException($"{p}: gap in tensor data before tensor '{t.Name}' (begins at {t.Offset - dataStart}, expected {expected - dataStart})");
            expected = t.Offset + t.ByteLength;
        }
        if (expected > map.Length)
            throw new ModelFormatException($"{p}: truncated safetensors file: tensor data needs {expected} bytes, the file has {map.Length}");
        if (expected != map.Length)
            throw new ModelFormatException($"{p}: {map.Length - expected} unexpected bytes after the last tensor (file {map.Length} bytes, tensor data ends at {expected})");
        return new SafetensorsFile(map, tensors, metadata);
    }

    static SafetensorsTensorInfo ParseEntry(string p, string name, JsonElement e, long dataStart)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ModelFormatException($"{p}: tensor '{name}': header entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new ModelFormatException($"{p}: tensor '{name}': missing or non-string 'dtype'");
        string dtype = dt.GetString()!;
        int size = SafetensorsDType.SizeOf(dtype);
        if (size == 0) throw new ModelFormatException($"{p}: tensor '{name}': unknown dtype '{dtype}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException($"{p}: tensor '{name}': missing or non-array 'shape'");
        var shape = new List<long>();
        long count = 1;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw new ModelFormatException($"{p}: tensor '{name}': shape {sh.GetRawText()} has an invalid dimension");
            shape.Add(v);
            count = v == 0 ? 0 : (count > long.MaxValue / v ? throw new ModelFormatException($"{p}: tensor '{name}': shape {sh.GetRawText()} overflows") : count * v);
        }
        if (!e.TryGetProperty("data_offsets", out var offs) || offs.ValueKind != JsonValueKind.Array || offs.GetArrayLength() != 2)
            throw new ModelFormatException($"{p}: tensor '{name}': 'data_offsets' must be [begin, end]");
        if (!offs[0].TryGetInt64(out long begin) || !offs[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new ModelFormatException($"{p}: tensor '{name}': invalid data_offsets {offs.GetRawText()}");
        if (count > long.MaxValue / size || end - begin != count * size)
            throw new ModelFormatException($"{p}: tensor '{name}': data_offsets {offs.GetRawText()} hold {end - begin} bytes but shape {sh.GetRawText()} × {dtype} needs {count * size}");
        return new SafetensorsTensorInfo(name, dtype, shape.ToArray(), dataStart + begin, end - begin);
    }

    /// <summary>Pointer to a tensor's bytes inside the mapping.</summary>
    public byte* DataPointer(SafetensorsTensorInfo t) => _map.Pointer + t.Offset;

    /// <summary>A tensor's bytes (≤ 2 GiB) as a span over the mapping.</summary>
    public ReadOnlySpan<byte> Bytes(SafetensorsTensorInfo t)
    {
        if (t.ByteLength > int.MaxValue) throw new ModelFormatException($"{Path}: tensor '{t.Name}' is larger than 2 GiB; read it through DataPointer");
        return new ReadOnlySpan<byte>(DataPointer(t), (int)t.ByteLength);
    }

    /// <summary>Reads a small tensor (any float dtype) into a new f32 array.</summary>
    public float[] ReadFloat32(SafetensorsTensorInfo t)
    {
        var bytes = Bytes(t);
        var result = new float[t.ElementCount];
        switch (t.DType)
        {
            case "F32": System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result); break;
            case "F16": System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(bytes), result); break;
            case "BF16": Kernels.Dot.BF16ToF32(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes), result); break;
            case "F64":
                var d = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(bytes);
                for (int i = 0; i < d.Length; i++) result[i] = (float)d[i];
                break;
            default: throw new ModelFormatException($"{Path}: tensor '{t.Name}' has dtype {t.DType}; expected F32, F16 or BF16");
        }
        return result;
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose() => _map.Dispose();
}
