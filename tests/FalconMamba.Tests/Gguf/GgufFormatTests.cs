using System.Buffers.Binary;
using FalconMamba.Formats.Gguf;
using FalconMamba.Kernels;
using FalconMamba.Model;

namespace FalconMamba.Tests.Gguf;

/// <summary>GGUF reader/writer: every metadata type, versions 2 and 3, alignment, and corrupt headers.</summary>
public class GgufFormatTests
{
    static string WriteSample(string dir, int alignment = 32)
    {
        var w = new GgufWriter(alignment);
        w.Add("general.architecture", GgufValue.Of("test"));
        w.Add("u8", GgufValue.Scalar(GgufValueType.UInt8, (byte)200));
        w.Add("i8", GgufValue.Scalar(GgufValueType.Int8, (sbyte)-5));
        w.Add("u16", GgufValue.Scalar(GgufValueType.UInt16, (ushort)65000));
        w.Add("i16", GgufValue.Scalar(GgufValueType.Int16, (short)-30000));
        w.Add("u32", GgufValue.Of(4000000000u));
        w.Add("i32", GgufValue.Of(-2000000000));
        w.Add("f32", GgufValue.Of(1.5e-5f));
        w.Add("bool", GgufValue.Of(true));
        w.Add("str", GgufValue.Of("héllo ✓"));
        w.Add("u64", GgufValue.Scalar(GgufValueType.UInt64, ulong.MaxValue));
        w.Add("i64", GgufValue.Scalar(GgufValueType.Int64, long.MinValue));
        w.Add("f64", GgufValue.Scalar(GgufValueType.Float64, Math.PI));
        w.Add("arr.str", GgufValue.Of(["a", "", "Ġthe"]));
        w.Add("arr.i32", GgufValue.Of([1, -2, 3]));
        w.Add("arr.bool", GgufValue.Array(GgufValueType.Bool, new[] { true, false }));
        w.Add("arr.empty", GgufValue.Array(GgufValueType.Float32, Array.Empty<float>()));
        w.Add("arr.nested", GgufValue.Array(GgufValueType.Array, new[] { GgufValue.Of([1, 2]), GgufValue.Of(["x"]), GgufValue.Array(GgufValueType.Array, new[] { GgufValue.Of([7f]) }) }));
        var rng = new Random(1);
        var f = Enumerable.Range(0, 3 * 64).Select(_ => (float)rng.NextDouble()).ToArray();
        w.AddTensor("vec", [5], [1f, 2f, 3f, 4f, 5f]);
        w.AddTensor("mat", [64, 3], f);
        var q = new byte[3 * 2 * 34];
        for (int r = 0; r < 3; r++) global::FalconMamba.Kernels.Quantized.Quantizers.QuantizeRow(TensorType.Q8_0, f.AsSpan(r * 64, 64), q.AsSpan(r * 68, 68));
        w.AddTensor("q8", [64, 3], GgmlType.Q8_0, q);
        string path = Path.Combine(dir, $"sample-{alignment}.gguf");
        w.Write(path);
        return path;
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(1)]
    public void RoundTripsEveryValueType(int alignment)
    {
        string dir = TestPaths.NewTempDir();
        using (var g = GgufFile.Open(WriteSample(dir, alignment)))
        {
            Assert.Equal(3u, g.Version);
            Assert.Equal(alignment, g.Alignment);
            Assert.Equal((byte)200, g.Get("u8")!.Value);
            Assert.Equal((sbyte)-5, g.Get("i8")!.Value);
            Assert.Equal((ushort)65000, g.Get("u16")!.Value);
            Assert.Equal((short)-30000, g.Get("i16")!.Value);
            Assert.Equal(4000000000L, g.GetInteger("u32"));
            Assert.Equal(-2000000000L, g.GetInteger("i32"));
            Assert.Equal(1.5e-5f, (float)g.GetFloat("f32"));
            Assert.True(g.GetBoolOrNull("bool"));
            Assert.Equal("héllo ✓", g.GetString("str"));
            Assert.Equal(ulong.MaxValue, g.Get("u64")!.Value);
            Assert.Equal(long.MinValue, g.GetInteger("i64"));
            Assert.Equal(Math.PI, g.GetFloat("f64"));
            Assert.Equal(["a", "", "Ġthe"], g.GetArrayOrNull<string>("arr.str")!);
            Assert.Equal([1, -2, 3], g.GetArrayOrNull<int>("arr.i32")!);
            Assert.Equal([true, false], g.GetArrayOrNull<bool>("arr.bool")!);
            Assert.Empty(g.GetArrayOrNull<float>("arr.empty")!);
            var nested = g.GetArrayOrNull<GgufValue>("arr.nested")!;
            Assert.Equal([1, 2], (int[])nested[0].Value);
            Assert.Equal(["x"], (string[])nested[1].Value);
            Assert.Equal([7f], (float[])((GgufValue[])nested[2].Value)[0].Value);
            Assert.Equal(["vec", "mat", "q8"], g.Tensors.Select(t => t.Name));
            Assert.All(g.Tensors, t => Assert.Equal(0, t.DataOffset % alignment));
            Assert.Equal([1f, 2f, 3f, 4f, 5f], g.ReadFloat32(g.Find("vec")!));
            Assert.Equal(new long[] { 3, 64 }, g.Find("mat")!.Shape);
            Assert.Throws<ModelFormatException>(() => g.GetString("u32"));
            Assert.Throws<ModelFormatException>(() => g.GetString("missing.key"));
        }
        Directory.Delete(dir, true);
    }

    [Fact]
    public void ReadsVersion2AndRejectsVersion1AndBigEndian()
    {
        string dir = TestPaths.NewTempDir();
        string path = WriteSample(dir);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 2);
        File.WriteAllBytes(path, bytes);
        using (var g = GgufFile.Open(path)) Assert.Equal(2u, g.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 1);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("version 1", Assert.Throws<ModelFormatException>(() => GgufFile.Open(path)).Message);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), 3);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("big-endian", Assert.Throws<ModelFormatException>(() => GgufFile.Open(path)).Message);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void HugeLengthsAreRejectedBeforeAllocating()
    {
        string dir = TestPaths.NewTempDir();
        string path = WriteSample(dir);
        var bytes = File.ReadAllBytes(path);
        // first KV: u64 key length at offset 24, key "general.architecture", u32 type, then the string value's u64 length
        int valueLen = 24 + 8 + "general.architecture".Length + 4;
        var bad = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(valueLen), 1UL << 60);
        File.WriteAllBytes(path, bad);
        var e = Assert.Throws<ModelFormatException>(() => GgufFile.Open(path));
        Assert.Contains("general.architecture", e.Message);
        TestContext.Current.TestOutputHelper?.WriteLine(e.Message);
        bad = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(8), 1UL << 62);       // tensor_count
        File.WriteAllBytes(path, bad);
        Assert.Contains("tensor_count", Assert.Throws<ModelFormatException>(() => GgufFile.Open(path)).Message);
        bad = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(24), ulong.MaxValue); // first key length
        File.WriteAllBytes(path, bad);
        Assert.Contains("metadata key #0", Assert.Throws<ModelFormatException>(() => GgufFile.Open(path)).Message);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void TruncationAtEveryOffsetFailsCleanly()
    {
        string dir = TestPaths.NewTempDir();
        var bytes = File.ReadAllBytes(WriteSample(dir));
        string path = Path.Combine(dir, "cut.gguf");
        int errors = 0, valid = 0;
        for (int len = 0; len < bytes.Length; len++)
        {
            File.WriteAllBytes(path, bytes.AsSpan(0, len).ToArray());
            try { using var g = GgufFile.Open(path); foreach (var t in g.Tensors) g.ReadFloat32(t); valid++; }
            catch (ModelFormatException) { errors++; }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{bytes.Length} truncations: {errors} ModelFormatException, {valid} still valid (cut inside the final padding)");
        Assert.True(valid <= 32, "only cuts inside the last tensor's alignment padding may stay valid");
        Assert.Equal(bytes.Length, errors + valid);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void RandomByteFlipsNeverCrashTheModelLoader()
    {
        string dir = TestPaths.NewTempDir();
        var tm = new TestModel(TestModel.MakeConfig(d: 32, e: 64, n: 4, r: 2, v: 256, layers: 1), seed: 4);
        string src = GgufTestFiles.Write(tm, TensorType.Q8_0, dir);
        var bytes = File.ReadAllBytes(src);
        using (var g0 = GgufFile.Open(src)) Assert.True(g0.DataStart < bytes.Length);
        long headerLen;
        using (var g0 = GgufFile.Open(src)) headerLen = g0.DataStart;
        var rng = new Random(12);
        string path = Path.Combine(dir, "flip.gguf");
        int errors = 0, valid = 0;
        const int Trials = 800;
        for (int i = 0; i < Trials; i++)
        {
            var b = (byte[])bytes.Clone();
            int flips = rng.Next(1, 5);
            for (int k = 0; k < flips; k++)
            {
                // mostly the header (where the structure is); sometimes tensor data
                int at = rng.Next(4) == 0 ? rng.Next(b.Length) : rng.Next((int)headerLen);
                b[at] ^= (byte)(1 << rng.Next(8));
            }
            File.WriteAllBytes(path, b);
            try
            {
                using var m = MambaModel.Load(path);
                using var ctx = m.CreateContext(threads: 1, chunkSize: 4);
                ctx.Prefill([1, 2, 3], m.CreateState());
                valid++;
            }
            catch (ModelFormatException) { errors++; }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{Trials} files with 1–4 flipped bits ({bytes.Length} bytes, header {headerLen}): {errors} ModelFormatException, {valid} loaded and ran");
        Assert.Equal(Trials, errors + valid);
        Directory.Delete(dir, true);
    }
}
