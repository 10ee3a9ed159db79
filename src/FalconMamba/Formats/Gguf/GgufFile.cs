using System.Text;
using FalconMamba.Kernels.Quantized;

namespace FalconMamba.Formats.Gguf;

/// <summary>
/// A memory-mapped GGUF file, versions 2 and 3 (SPEC.md §4.1; ggml <c>docs/gguf.md</c>): header, metadata key/values,
/// tensor infos, aligned tensor data. Every count, length and offset is checked against the file size before anything
/// is allocated, so a corrupt header gives a <see cref="ModelFormatException"/> naming the key or tensor, never an
/// out-of-memory or a crash. Tensor bytes are used in place from the mapping; the file must outlive the weights that
/// point into it (dispose it last).
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    /// <summary>"GGUF" read as a little-endian u32.</summary>
    public const uint Magic = 0x46554747;
    /// <summary>Default <c>general.alignment</c>.</summary>
    public const int DefaultAlignment = 32;
    const int MaxArrayDepth = 8;

    readonly MappedFile _map;
    readonly Dictionary<string, GgufValue> _metadata;
    readonly Dictionary<string, GgufTensorInfo> _byName;

    /// <summary>The file path.</summary>
    public string Path => _map.Path;
    /// <summary>The mapping.</summary>
    public MappedFile Mapping => _map;
    /// <summary>Format version (2 or 3).</summary>
    public uint Version { get; }
    /// <summary>Data alignment (<c>general.alignment</c>, default 32).</summary>
    public int Alignment { get; }
    /// <summary>Absolute offset of the tensor-data section.</summary>
    public long DataStart { get; }
    /// <summary>Metadata in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata { get; }
    /// <summary>Tensors in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    GgufFile(MappedFile map, uint version, int alignment, long dataStart, List<KeyValuePair<string, GgufValue>> metadata, List<GgufTensorInfo> tensors)
    {
        _map = map;
        Version = version;
        Alignment = alignment;
        DataStart = dataStart;
        Metadata = metadata;
        _metadata = metadata.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Maps and validates <paramref name="path"/>.</summary>
    public static GgufFile Open(string path)
    {
        var map = new MappedFile(path);
        try { return Parse(map); }
        catch { map.Dispose(); throw; }
    }

    static GgufFile Parse(MappedFile map)
    {
        var r = new Reader(map.Pointer, map.Length, map.Path);
        if (map.Length < 24) throw new ModelFormatException($"{map.Path}: truncated GGUF file ({map.Length} bytes; the 24-byte header is incomplete)");
        uint magic = r.U32("magic");
        if (magic != Magic) throw new ModelFormatException($"{map.Path}: not a GGUF file (magic 0x{magic:X8}, expected 0x{Magic:X8} \"GGUF\")");
        uint version = r.U32("version");
        if (version == 1) throw new ModelFormatException($"{map.Path}: GGUF version 1 is not supported (only versions 2 and 3)");
        if (version is not (2 or 3))
            throw new ModelFormatException((version & 0xFFFF) == 0 && version != 0
                ? $"{map.Path}: GGUF version field 0x{version:X8} looks byte-swapped: big-endian GGUF files are not supported"
                : $"{map.Path}: unsupported GGUF version {version} (only versions 2 and 3)");
        ulong tensorCount = r.U64("tensor_count");
        ulong kvCount = r.U64("metadata_kv_count");
        // Minimum on-disk sizes: a KV is ≥ 8 (key length) + 4 (type) + 1 bytes; a tensor info ≥ 8 + 4 + 8 + 4 + 8.
        if (kvCount > (ulong)(r.Remaining / 13)) throw new ModelFormatException($"{map.Path}: metadata_kv_count {kvCount} cannot fit in a {map.Length}-byte file");
        if (tensorCount > (ulong)(r.Remaining / 32)) throw new ModelFormatException($"{map.Path}: tensor_count {tensorCount} cannot fit in a {map.Length}-byte file");

        var metadata = new List<KeyValuePair<string, GgufValue>>((int)kvCount);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < kvCount; i++)
        {
            string key = r.String($"metadata key #{i}");
            if (key.Length == 0) throw new ModelFormatException($"{map.Path}: metadata key #{i} is empty");
            if (!seen.Add(key)) throw new ModelFormatException($"{map.Path}: metadata key '{key}' appears twice");
            uint type = r.U32($"type of key '{key}'");
            metadata.Add(new(key, r.Value((GgufValueType)type, key, 0)));
        }

        int alignment = DefaultAlignment;
        var alignKv = metadata.FirstOrDefault(kv => kv.Key == "general.alignment");
        if (alignKv.Key != null)
        {
            if (alignKv.Value.Value is not uint a) throw new ModelFormatException($"{map.Path}: key 'general.alignment' must be a UINT32, got {alignKv.Value.Type}");
            if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30)) throw new ModelFormatException($"{map.Path}: key 'general.alignment' = {a} is not a power of two");
            alignment = (int)a;
        }

        var infos = new List<(string Name, long[] Ne, GgmlType Type, ulong Offset)>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = r.String($"name of tensor #{i}");
            if (!names.Add(name)) throw new ModelFormatException($"{map.Path}: tensor '{name}' appears twice");
            uint nDims = r.U32($"n_dims of tensor '{name}'");
            if (nDims > 4) throw new ModelFormatException($"{map.Path}: tensor '{name}' has {nDims} dimensions (at most 4)");
            var ne = new long[nDims];
            for (int d = 0; d < nDims; d++)
            {
                ulong v = r.U64($"ne[{d}] of tensor '{name}'");
                if (v > long.MaxValue) throw new ModelFormatException($"{map.Path}: tensor '{name}' ne[{d}] = {v} is out of range");
                ne[d] = (long)v;
            }
            uint type = r.U32($"type of tensor '{name}'");
            ulong offset = r.U64($"offset of tensor '{name}'");
            infos.Add((name, ne, (GgmlType)type, offset));
        }

        long dataStart = AlignUp(r.Position, alignment);
        // A file without tensors (e.g. llama.cpp's vocab-only files) may end right after the header, unpadded.
        if (infos.Count == 0) dataStart = Math.Min(dataStart, map.Length);
        if (dataStart > map.Length) throw new ModelFormatException($"{map.Path}: truncated GGUF file: the tensor data section would start at {dataStart}, past the end ({map.Length} bytes)");
        long dataSize = map.Length - dataStart;
        var tensors = new List<GgufTensorInfo>(infos.Count);
        foreach (var (name, ne, type, offset) in infos)
        {
            var (bs, ts) = GgmlTypes.Geometry(type);
            if (bs == 0) throw new ModelFormatException($"{map.Path}: tensor '{name}' has ggml type {(uint)type} ({type}), which this build cannot read");
            long count = 1;
            foreach (long n in ne)
            {
                if (n == 0) { count = 0; break; }
                if (count > long.MaxValue / n) throw new ModelFormatException($"{map.Path}: tensor '{name}' shape {{{string.Join(", ", ne)}}} overflows");
                count *= n;
            }
            if (ne.Length > 0 && ne[0] % bs != 0)
                throw new ModelFormatException($"{map.Path}: tensor '{name}' ne[0] = {ne[0]} is not a multiple of the {type} block size {bs}");
            long bytes = count / bs;
            if (bytes > long.MaxValue / ts) throw new ModelFormatException($"{map.Path}: tensor '{name}' byte size overflows");
            bytes *= ts;
            if (offset % (ulong)alignment != 0) throw new ModelFormatException($"{map.Path}: tensor '{name}' offset {offset} is not a multiple of the alignment {alignment}");
            if (offset > (ulong)dataSize || bytes > dataSize - (long)offset)
                throw new ModelFormatException($"{map.Path}: truncated GGUF file: tensor '{name}' ({type}, {bytes} bytes at data offset {offset}) runs past the end of the file ({map.Length} bytes)");
            tensors.Add(new GgufTensorInfo(name, ne, type, (long)offset, dataStart + (long)offset, bytes));
        }
        return new GgufFile(map, version, alignment, dataStart, metadata, tensors);
    }

    /// <summary>Rounds <paramref name="x"/> up to a multiple of <paramref name="alignment"/> (a power of two).</summary>
    public static long AlignUp(long x, long alignment) => (x + alignment - 1) & ~(alignment - 1);

    // ---- metadata access -------------------------------------------------------------------------------------

    /// <summary>True when the key exists.</summary>
    public bool Contains(string key) => _metadata.ContainsKey(key);

    /// <summary>The value of <paramref name="key"/>, or null.</summary>
    public GgufValue? Get(string key) => _metadata.GetValueOrDefault(key);

    /// <summary>A required string.</summary>
    public string GetString(string key) => Required(key).Value as string ?? throw TypeError(key, "STRING");

    /// <summary>An optional string.</summary>
    public string? GetStringOrNull(string key) => Get(key) is { } v ? v.Value as string ?? throw TypeError(key, "STRING") : null;

    /// <summary>A required integer (any integer type, since writers differ on the width).</summary>
    public long GetInteger(string key) => Required(key).AsInteger() ?? throw TypeError(key, "integer");

    /// <summary>An optional integer.</summary>
    public long? GetIntegerOrNull(string key) => Get(key) is { } v ? v.AsInteger() ?? throw TypeError(key, "integer") : null;

    /// <summary>
    /// A required float (FLOAT32 or FLOAT64). An f32 is widened through its shortest decimal form, so 1e-5 stored as f32
    /// reads back as 1e-5 (as Python prints it), not 9.99999974737875e-06.
    /// </summary>
    public double GetFloat(string key) => Required(key).Value switch
    {
        float f => double.Parse(f.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture),
        double d => d,
        _ => throw TypeError(key, "FLOAT32"),
    };

    /// <summary>An optional bool.</summary>
    public bool? GetBoolOrNull(string key) => Get(key) is { } v ? v.Value as bool? ?? throw TypeError(key, "BOOL") : null;

    /// <summary>An optional array whose elements are <typeparamref name="T"/>.</summary>
    public T[]? GetArrayOrNull<T>(string key)
    {
        if (Get(key) is not { } v) return null;
        if (v.Type != GgufValueType.Array || v.Value is not T[] a) throw TypeError(key, $"ARRAY of {typeof(T).Name}");
        return a;
    }

    GgufValue Required(string key) => Get(key) ?? throw new ModelFormatException($"{Path}: metadata key '{key}' is missing");

    ModelFormatException TypeError(string key, string expected) =>
        new($"{Path}: metadata key '{key}' must be {expected}, got {_metadata[key].Type}{(_metadata[key].Type == GgufValueType.Array ? " of " + _metadata[key].ElementType : "")}");

    // ---- tensor access ---------------------------------------------------------------------------------------

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public GgufTensorInfo? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Address of a tensor's bytes inside the mapping.</summary>
    public byte* DataPointer(GgufTensorInfo t) => _map.Pointer + t.DataOffset;

    /// <summary>A tensor's bytes (tensors under 2 GiB).</summary>
    public ReadOnlySpan<byte> Bytes(GgufTensorInfo t) =>
        t.ByteSize > int.MaxValue ? throw new ModelFormatException($"{Path}: tensor '{t.Name}' is larger than 2 GiB; use DataPointer") : new(DataPointer(t), (int)t.ByteSize);

    /// <summary>Copies a tensor into f32 (dequantizing block types), row by row.</summary>
    public float[] ReadFloat32(GgufTensorInfo t)
    {
        if (t.ElementCount > Array.MaxLength) throw new ModelFormatException($"{Path}: tensor '{t.Name}' has too many elements ({t.ElementCount}) to copy into one array");
        var result = new float[t.ElementCount];
        if (result.Length == 0) return result;
        var type = GgmlTypes.ToTensorType(t.Type) ?? throw new ModelFormatException($"{Path}: tensor '{t.Name}' has type {t.Type}, which cannot be read as f32");
        long rowLen = t.Ne[0];
        long rowBytes = GgmlTypes.RowBytes(t.Type, rowLen);
        long rows = t.ElementCount / rowLen;
        byte* p = DataPointer(t);
        for (long i = 0; i < rows; i++)
            BlockFormats.DequantizeRow(type, new ReadOnlySpan<byte>(p + i * rowBytes, (int)rowBytes), result.AsSpan((int)(i * rowLen), (int)rowLen));
        return result;
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose() => _map.Dispose();

    /// <summary>Bounds-checked little-endian cursor over the mapping.</summary>
    struct Reader(byte* p, long length, string path)
    {
        public long Position;
        public readonly long Remaining => length - Position;

        readonly ModelFormatException Truncated(long need, string what) =>
            new($"{path}: truncated GGUF file: {what} needs {need} bytes at offset {Position}, but the file has {length} bytes");

        byte* Take(long n, string what)
        {
            if (n < 0 || n > Remaining) throw Truncated(n, what);
            byte* q = p + Position;
            Position += n;
            return q;
        }

        public uint U32(string what) => *(uint*)Take(4, what);
        public ulong U64(string what) => *(ulong*)Take(8, what);

        public string String(string what)
        {
            ulong len = U64($"length of {what}");
            if (len > (ulong)Remaining) throw new ModelFormatException($"{path}: {what}: string length {len} at offset {Position - 8} runs past the end of the file ({length} bytes)");
            byte* s = Take((long)len, what);
            try { return Strict.GetString(s, (int)len); }
            catch (DecoderFallbackException) { throw new ModelFormatException($"{path}: {what} is not valid UTF-8 (offset {Position - (long)len})"); }
        }

        static readonly UTF8Encoding Strict = new(false, true);

        public GgufValue Value(GgufValueType type, string key, int depth)
        {
            string what = $"value of key '{key}'";
            switch (type)
            {
                case GgufValueType.UInt8: return GgufValue.Scalar(type, *Take(1, what));
                case GgufValueType.Int8: return GgufValue.Scalar(type, *(sbyte*)Take(1, what));
                case GgufValueType.UInt16: return GgufValue.Scalar(type, *(ushort*)Take(2, what));
                case GgufValueType.Int16: return GgufValue.Scalar(type, *(short*)Take(2, what));
                case GgufValueType.UInt32: return GgufValue.Scalar(type, *(uint*)Take(4, what));
                case GgufValueType.Int32: return GgufValue.Scalar(type, *(int*)Take(4, what));
                case GgufValueType.Float32: return GgufValue.Scalar(type, *(float*)Take(4, what));
                case GgufValueType.UInt64: return GgufValue.Scalar(type, *(ulong*)Take(8, what));
                case GgufValueType.Int64: return GgufValue.Scalar(type, *(long*)Take(8, what));
                case GgufValueType.Float64: return GgufValue.Scalar(type, *(double*)Take(8, what));
                case GgufValueType.Bool:
                    byte b = *Take(1, what);
                    if (b > 1) throw new ModelFormatException($"{path}: key '{key}': BOOL value {b} is neither 0 nor 1");
                    return GgufValue.Scalar(type, b == 1);
                case GgufValueType.String: return GgufValue.Of(String(what));
                case GgufValueType.Array:
                    if (depth >= MaxArrayDepth) throw new ModelFormatException($"{path}: key '{key}': arrays nested deeper than {MaxArrayDepth} levels");
                    var et = (GgufValueType)U32($"array element type of key '{key}'");
                    ulong count = U64($"array length of key '{key}'");
                    int min = et switch
                    {
                        GgufValueType.String => 8,
                        GgufValueType.Array => 12,
                        _ => GgufValue.FixedSize(et) is var s && s > 0 ? s : throw new ModelFormatException($"{path}: key '{key}': unknown array element type {(uint)et}"),
                    };
                    if (count > (ulong)(Remaining / min) || count > (ulong)Array.MaxLength)
                        throw new ModelFormatException($"{path}: key '{key}': array of {count} {et} elements cannot fit in the remaining {Remaining} bytes of the file");
                    return ReadArray(et, (int)count, key, depth);
                default:
                    throw new ModelFormatException($"{path}: key '{key}' has unknown value type {(uint)type}");
            }
        }

        GgufValue ReadArray(GgufValueType et, int n, string key, int depth)
        {
            string what = $"array of key '{key}'";
            int size = GgufValue.FixedSize(et);
            if (size > 0 && et != GgufValueType.Bool)
            {
                var src = new ReadOnlySpan<byte>(Take((long)n * size, what), n * size);
                Array a = et switch
                {
                    GgufValueType.UInt8 => src.ToArray(),
                    GgufValueType.Int8 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, sbyte>(src).ToArray(),
                    GgufValueType.UInt16 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(src).ToArray(),
                    GgufValueType.Int16 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(src).ToArray(),
                    GgufValueType.UInt32 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(src).ToArray(),
                    GgufValueType.Int32 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(src).ToArray(),
                    GgufValueType.Float32 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(src).ToArray(),
                    GgufValueType.UInt64 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(src).ToArray(),
                    GgufValueType.Int64 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(src).ToArray(),
                    _ => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(src).ToArray(),
                };
                return GgufValue.Array(et, a);
            }
            if (et == GgufValueType.Bool)
            {
                var bools = new bool[n];
                for (int i = 0; i < n; i++)
                {
                    byte b = *Take(1, what);
                    if (b > 1) throw new ModelFormatException($"{path}: key '{key}': BOOL element {i} is {b}, neither 0 nor 1");
                    bools[i] = b == 1;
                }
                return GgufValue.Array(et, bools);
            }
            if (et == GgufValueType.String)
            {
                var strings = new string[n];
                for (int i = 0; i < n; i++) strings[i] = String($"element {i} of key '{key}'");
                return GgufValue.Array(et, strings);
            }
            var nested = new GgufValue[n];
            for (int i = 0; i < n; i++) nested[i] = Value(GgufValueType.Array, $"{key}[{i}]", depth + 1);
            return GgufValue.Array(GgufValueType.Array, nested);
        }
    }
}
