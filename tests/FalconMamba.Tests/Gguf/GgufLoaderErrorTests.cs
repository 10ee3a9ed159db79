using FalconMamba.Formats.Gguf;
using FalconMamba.Kernels;
using FalconMamba.Model;

namespace FalconMamba.Tests.Gguf;

/// <summary>The GGUF model loader checks every tensor (name, ne, type) and key, and names the culprit.</summary>
public class GgufLoaderErrorTests
{
    /// <summary>Copies a GGUF with one tensor dropped, renamed, reshaped or retyped, or one key changed.</summary>
    static string Rewrite(string src, string dst, Func<GgufTensorInfo, (string Name, long[] Ne, GgmlType Type, byte[] Data)?> tensor, Action<GgufWriter>? keys = null)
    {
        using var f = GgufFile.Open(src);
        var w = new GgufWriter(f.Alignment);
        foreach (var (k, v) in f.Metadata) w.Add(k, v);
        keys?.Invoke(w);
        foreach (var t in f.Tensors)
            if (tensor(t) is { } x) w.AddTensor(x.Name, x.Ne, x.Type, x.Data);
        w.Write(dst);
        return dst;
    }

    [Fact]
    public void EveryTensorAndKeyIsChecked()
    {
        string dir = TestPaths.NewTempDir();
        var tm = new TestModel(TestModel.MakeConfig(d: 32, e: 64, n: 4, r: 2, v: 256, layers: 2), seed: 5);
        string ok = GgufTestFiles.Write(tm, TensorType.F32, dir);
        void Expect(string path, params string[] parts)
        {
            var e = Assert.Throws<ModelFormatException>(() => MambaModel.Load(path).Dispose());
            TestContext.Current.TestOutputHelper?.WriteLine(e.Message);
            foreach (var p in parts) Assert.Contains(p, e.Message);
        }
        string P(string n) => Path.Combine(dir, n + ".gguf");
        using (var f = GgufFile.Open(ok))
        {
            byte[] Bytes(GgufTensorInfo t) => f.Bytes(t).ToArray();
            Expect(Rewrite(ok, P("missing"), t => t.Name == "blk.1.ssm_d" ? null : (t.Name, t.Ne, t.Type, Bytes(t))), "blk.1.ssm_d", "missing");
            Expect(Rewrite(ok, P("shape"), t => t.Name == "blk.0.ssm_x.weight" ? (t.Name, [t.Ne[0] / 2, t.Ne[1] * 2], t.Type, Bytes(t)) : (t.Name, t.Ne, t.Type, Bytes(t))), "blk.0.ssm_x.weight", "{64, 10}");
            Expect(Rewrite(ok, P("type"), t => t.Name == "blk.0.ssm_a" ? (t.Name, t.Ne, GgmlType.I32, Bytes(t)) : (t.Name, t.Ne, t.Type, Bytes(t))), "blk.0.ssm_a", "I32");
            Expect(Rewrite(ok, P("renamed"), t => t.Name == "output_norm.weight" ? ("blk.9.ssm_d", t.Ne, t.Type, Bytes(t)) : (t.Name, t.Ne, t.Type, Bytes(t))), "output_norm.weight", "missing");
            Expect(Rewrite(ok, P("extra"), t => (t.Name, t.Ne, t.Type, Bytes(t)),
                w => w.AddTensor("blk.7.ssm_b_norm.weight", [4], [1f, 1f, 1f, 1f])), "unexpected tensor", "blk.7.ssm_b_norm.weight");
            Expect(Rewrite(ok, P("arch"), t => (t.Name, t.Ne, t.Type, Bytes(t)), w => w.Add("general.architecture", GgufValue.Of("llama"))), "general.architecture", "llama");
            Expect(Rewrite(ok, P("key"), t => (t.Name, t.Ne, t.Type, Bytes(t)), w => w.Add("mamba.ssm.state_size", GgufValue.Of("sixteen"))), "mamba.ssm.state_size");
            Expect(Rewrite(ok, P("layers"), t => (t.Name, t.Ne, t.Type, Bytes(t)), w => w.Add("mamba.block_count", GgufValue.Of(3u))), "blk.2.");
        }
        Directory.Delete(dir, true);
    }
}
