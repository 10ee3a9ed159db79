using System.Text;

namespace FalconMamba.Formats.Gguf;

/// <summary>
/// Writes a GGUF v3 file (SPEC.md §4.1; gguf-py <c>GGUFWriter</c>): header, metadata, tensor infos, zero padding to
/// the alignment, then each tensor's bytes padded to the alignment. Tensor data is produced by a callback at write time,
/// so a 7B conversion streams without holding the model in memory. Writes a temp file, then renames it over the target.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>ggml's GGML_MAX_NAME: names must be shorter than this (gguf.cpp rejects longer ones).</summary>
    public const int MaxNameBytes = 64;

    readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    readonly List<PendingTensor> _tensors = [];
    readonly int _alignment;

    sealed record PendingTensor(string Name, long[] Ne, GgmlType Type, long ByteSize, Action<Stream> Write);

    /// <summary>A writer with the given data alignment (written as <c>general.alignment</c> when not 32).</summary>
    public GgufWriter(int alignment = GgufFile.DefaultAlignment)
    {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "alignment must be a power of two");
        _alignment = alignment;
        if (alignment != GgufFile.DefaultAlignment) Add("general.alignment", GgufValue.Of((uint)alignment));
    }

    /// <summary>Adds (or replaces) a metadata key.</summary>
    public GgufWriter Add(string key, GgufValue value)
    {
        if (string.IsNullOrEmpty(key)) throw new ArgumentException("metadata key must not be empty", nameof(key));
        if (Encoding.UTF8.GetByteCount(key) > 65535) throw new ArgumentException($"metadata key '{key[..40]}…' is longer than 65535 bytes", nameof(key));
        int i = _metadata.FindIndex(kv => kv.Key == key);
        if (i >= 0) _metadata[i] = new(key, value); else _metadata.Add(new(key, value));
        return this;
    }

    /// <summary>
    /// Adds a tensor whose bytes (exactly ne × type size) <paramref name="write"/> will write when the file is written.
    /// <paramref name="ne"/> is in ggml order (innermost dimension first).
    /// </summary>
    public GgufWriter AddTensor(string name, long[] ne, GgmlType type, Action<Stream> write)
    {
        if (Encoding.UTF8.GetByteCount(name) >= MaxNameBytes) throw new ArgumentException($"tensor name '{name}' is {Encoding.UTF8.GetByteCount(name)} bytes; GGUF readers accept at most {MaxNameBytes - 1}", nameof(name));
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"tensor '{name}' added twice", nameof(name));
        if (ne.Length is < 1 or > 4 || ne.Any(n => n <= 0)) throw new ArgumentException($"tensor '{name}': shape {{{string.Join(", ", ne)}}} must have 1–4 positive dims", nameof(ne));
        var (bs, ts) = GgmlTypes.Geometry(type);
        if (bs == 0) throw new ArgumentException($"tensor '{name}': ggml type {type} is not supported by the writer", nameof(type));
        if (ne[0] % bs != 0) throw new ArgumentException($"tensor '{name}': ne[0] = {ne[0]} is not a multiple of the {type} block size {bs}", nameof(ne));
        long count = ne.Aggregate(1L, (a, b) => checked(a * b));
        _tensors.Add(new PendingTensor(name, ne.ToArray(), type, count / bs * ts, write));
        return this;
    }

    /// <summary>Adds a tensor from bytes already in memory.</summary>
    public GgufWriter AddTensor(string name, long[] ne, GgmlType type, ReadOnlyMemory<byte> data)
    {
        AddTensor(name, ne, type, s => s.Write(data.Span));
        var t = _tensors[^1];
        if (t.ByteSize != data.Length) { _tensors.RemoveAt(_tensors.Count - 1); throw new ArgumentException($"tensor '{name}': {data.Length} bytes given, {t.ByteSize} expected for {type} {{{string.Join(", ", ne)}}}", nameof(data)); }
        return this;
    }

    /// <summary>Adds an f32 tensor.</summary>
    public GgufWriter AddTensor(string name, long[] ne, float[] data) =>
        AddTensor(name, ne, GgmlType.F32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()).ToArray());

    /// <summary>Writes the file (temp file + rename), reporting progress in [0, 1] by bytes written.</summary>
    public void Write(string path, IProgress<double>? progress = null)
    {
        string full = System.IO.Path.GetFullPath(path);
        string tmp = full + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                WriteTo(fs, progress);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    void WriteTo(Stream fs, IProgress<double>? progress)
    {
        var w = new BinaryWriter(fs, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }
        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            WriteString(w, t.Name);
            w.Write((uint)t.Ne.Length);
            foreach (long n in t.Ne) w.Write((ulong)n);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offsets[i] = offset;
            offset = GgufFile.AlignUp(offset + t.ByteSize, _alignment);
        }
        w.Flush();
        Pad(fs);
        long dataStart = fs.Position;
        long total = Math.Max(1, offset);
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            long before = fs.Position;
            t.Write(fs);
            long written = fs.Position - before;
            if (written != t.ByteSize) throw new InvalidOperationException($"tensor '{t.Name}': the data callback wrote {written} bytes, expected {t.ByteSize}");
            Pad(fs);
            progress?.Report((double)(fs.Position - dataStart) / total);
        }
    }

    void Pad(Stream s)
    {
        long pad = GgufFile.AlignUp(s.Position, _alignment) - s.Position;
        for (long i = 0; i < pad; i++) s.WriteByte(0);
    }

    static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    static void WriteValue(BinaryWriter w, GgufValue v)
    {
        switch (v.Value)
        {
            case byte x: w.Write(x); break;
            case sbyte x: w.Write(x); break;
            case ushort x: w.Write(x); break;
            case short x: w.Write(x); break;
            case uint x: w.Write(x); break;
            case int x: w.Write(x); break;
            case float x: w.Write(x); break;
            case bool x: w.Write((byte)(x ? 1 : 0)); break;
            case string x: WriteString(w, x); break;
            case ulong x: w.Write(x); break;
            case long x: w.Write(x); break;
            case double x: w.Write(x); break;
            case Array a:
                w.Write((uint)v.ElementType);
                w.Write((ulong)a.Length);
                if (v.ElementType == GgufValueType.Array)
                    foreach (GgufValue e in a) { w.Write((uint)e.ElementType); WriteArrayBody(w, e); }
                else foreach (var e in a) WriteValue(w, GgufValue.Scalar(v.ElementType, e));
                break;
            default: throw new InvalidOperationException($"cannot write GGUF value of .NET type {v.Value.GetType().Name}");
        }
    }

    static void WriteArrayBody(BinaryWriter w, GgufValue arr)
    {
        // nested: element type already written by the caller; write count + elements
        var a = (Array)arr.Value;
        w.Write((ulong)a.Length);
        if (arr.ElementType == GgufValueType.Array)
            foreach (GgufValue e in a) { w.Write((uint)e.ElementType); WriteArrayBody(w, e); }
        else foreach (var e in a) WriteValue(w, GgufValue.Scalar(arr.ElementType, e));
    }
}
