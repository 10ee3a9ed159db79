using System.Text;
using FalconMamba.Formats.Safetensors;
using FalconMamba.Model;

namespace FalconMamba.Tests.Model;

/// <summary>Every bad input gives a ModelFormatException whose message names the culprit.</summary>
public class BadInputTests
{
    static string GoodFolder(string dtype = "F32")
    {
        var cfg = TestModel.MakeConfig(d: 16, layers: 1, e: 32, n: 4, r: 2, v: 20);
        return new TestModel(cfg, 1).WriteFolder(TestPaths.NewTempDir(), dtype);
    }

    static string Model(string dir) => Path.Combine(dir, "model.safetensors");

    static ModelFormatException LoadFails(string dir) => Assert.Throws<ModelFormatException>(() => MambaModel.Load(dir).Dispose());

    static void Contains(Exception e, params string[] parts)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(e.Message);
        foreach (var p in parts) Assert.Contains(p, e.Message);
    }

    /// <summary>Rewrites the header JSON of a safetensors file, keeping the data bytes.</summary>
    static void RewriteHeader(string file, Func<string, string> edit)
    {
        var bytes = File.ReadAllBytes(file);
        int n = (int)BitConverter.ToUInt64(bytes, 0);
        string json = edit(Encoding.UTF8.GetString(bytes, 8, n).TrimEnd());
        var hb = Encoding.UTF8.GetBytes(json);
        int padded = (hb.Length + 7) / 8 * 8;
        using var fs = File.Create(file);
        fs.Write(BitConverter.GetBytes((ulong)padded));
        fs.Write(hb);
        for (int i = hb.Length; i < padded; i++) fs.WriteByte(0x20);
        fs.Write(bytes, 8 + n, bytes.Length - 8 - n);
    }

    [Fact]
    public void MissingFolderConfigAndWeights()
    {
        Contains(LoadFails("/nonexistent/model"), "/nonexistent/model", "does not exist");
        string dir = GoodFolder();
        File.Delete(Path.Combine(dir, "config.json"));
        Contains(LoadFails(dir), "config.json");
        dir = GoodFolder();
        File.Delete(Model(dir));
        Contains(LoadFails(dir), "no model.safetensors");
    }

    [Fact]
    public void TruncatedFile()
    {
        string dir = GoodFolder();
        var bytes = File.ReadAllBytes(Model(dir));
        foreach (int cut in new[] { 3, 8, 20, bytes.Length - 1, bytes.Length / 2 })
        {
            File.WriteAllBytes(Model(dir), bytes[..cut]);
            Contains(LoadFails(dir), "model.safetensors", "truncated");
        }
    }

    [Fact]
    public void OverlappingAndPastTheEndOffsets()
    {
        string dir = GoodFolder();
        RewriteHeader(Model(dir), j => System.Text.RegularExpressions.Regex.Replace(j, "\"backbone.norm_f.weight\":\\{[^}]*\\}",
            m => System.Text.RegularExpressions.Regex.Replace(m.Value, "\"data_offsets\":\\[(\\d+),(\\d+)\\]", mm => $"\"data_offsets\":[0,{long.Parse(mm.Groups[2].Value) - long.Parse(mm.Groups[1].Value)}]")));
        Contains(LoadFails(dir), "overlaps");

        dir = GoodFolder();
        RewriteHeader(Model(dir), j => System.Text.RegularExpressions.Regex.Replace(j, "\"data_offsets\":\\[(\\d+),(\\d+)\\]",
            m => $"\"data_offsets\":[{long.Parse(m.Groups[1].Value) + 1000000},{long.Parse(m.Groups[2].Value) + 1000000}]"));
        Assert.Contains("model.safetensors", LoadFails(dir).Message);
    }

    [Fact]
    public void BadHeaderJsonAndUnknownDType()
    {
        string dir = GoodFolder();
        RewriteHeader(Model(dir), j => j[..^5]);
        Contains(LoadFails(dir), "not valid JSON");
        dir = GoodFolder();
        RewriteHeader(Model(dir), j => j.Replace("\"F32\"", "\"Q9\""));
        Contains(LoadFails(dir), "unknown dtype 'Q9'");
        dir = GoodFolder();
        var b = File.ReadAllBytes(Model(dir));
        BitConverter.GetBytes(ulong.MaxValue).CopyTo(b, 0);
        File.WriteAllBytes(Model(dir), b);
        Contains(LoadFails(dir), "header length");
    }

    [Fact]
    public void ShapeAndDTypeMismatchNameTheTensor()
    {
        var cfg = TestModel.MakeConfig(d: 16, layers: 1, e: 32, n: 4, r: 2, v: 20);
        var tm = new TestModel(cfg, 1);
        tm.Tensors["backbone.layers.0.mixer.x_proj.weight"] = ([9, 32], new float[9 * 32]);
        string dir = tm.WriteFolder(TestPaths.NewTempDir());
        Contains(LoadFails(dir), "backbone.layers.0.mixer.x_proj.weight", "[9, 32]", "[10, 32]");

        tm = new TestModel(cfg, 1);
        dir = tm.WriteFolder(TestPaths.NewTempDir());
        var entries = tm.Tensors.Select(kv => kv.Key == "backbone.layers.0.mixer.D"
            ? SafetensorsEntry.FromBytes(kv.Key, "I32", kv.Value.Shape, new byte[kv.Value.Values.Length * 4])
            : SafetensorsEntry.FromFloat32(kv.Key, kv.Value.Shape, kv.Value.Values)).ToList();
        SafetensorsWriter.Write(Model(dir), entries);
        Contains(LoadFails(dir), "backbone.layers.0.mixer.D", "I32");

        tm = new TestModel(cfg, 1);
        tm.Tensors.Remove("backbone.layers.0.mixer.A_log");
        dir = tm.WriteFolder(TestPaths.NewTempDir());
        Contains(LoadFails(dir), "backbone.layers.0.mixer.A_log", "missing");
    }

    [Fact]
    public void BadConfigFieldsAreNamed()
    {
        Contains(Assert.Throws<ModelFormatException>(() => MambaConfig.Parse("{\"model_type\": \"llama\"}")), "model_type", "llama");
        Contains(Assert.Throws<ModelFormatException>(() => MambaConfig.Parse("{\"hidden_size\": 8}")), "model_type");
        Contains(Assert.Throws<ModelFormatException>(() => MambaConfig.Parse("{\"model_type\": \"mamba\", \"hidden_size\": \"big\"}")), "hidden_size");
        Contains(Assert.Throws<ModelFormatException>(() => MambaConfig.Parse("{\"model_type\": \"mamba\", \"num_hidden_layers\": -2}")), "num_hidden_layers");
        Contains(Assert.Throws<ModelFormatException>(() => MambaConfig.Parse("{\"model_type\": \"mamba\", \"vocab_size\": 10, \"eos_token_id\": [3, 12]}")), "eos_token_id 12");
        Contains(Assert.Throws<ModelFormatException>(() => MambaConfig.Parse("{not json")), "invalid JSON");
        // Contradiction between config and weights: intermediate_size vs the in_proj shape.
        string dir = GoodFolder();
        var text = File.ReadAllText(Path.Combine(dir, "config.json")).Replace("\"intermediate_size\": 32", "\"intermediate_size\": 48");
        File.WriteAllText(Path.Combine(dir, "config.json"), text);
        Contains(LoadFails(dir), "mixer.A_log", "[32, 4]", "[48, 4]", "config.json");
    }

    [Fact]
    public void ConfigDefaultsFollowHuggingFace()
    {
        var c = MambaConfig.Parse("{\"model_type\": \"falcon_mamba\", \"hidden_size\": 4096, \"expand\": 16, \"intermediate_size\": 8192, \"eos_token_id\": [11, 10]}");
        Assert.Equal(8192, c.IntermediateSize);          // intermediate_size wins over expand (SPEC.md §1 note A)
        Assert.Equal(256, c.TimeStepRank);               // "auto" = ceil(4096/16)
        Assert.Equal(1e-6, c.MixerRmsEps);
        Assert.True(c.TieWordEmbeddings);                // HF class default
        Assert.Equal([11, 10], c.EosTokenIds);
        var m = MambaConfig.Parse("{\"model_type\": \"mamba\", \"hidden_size\": 768, \"time_step_rank\": \"auto\"}");
        Assert.Equal(1536, m.IntermediateSize);          // expand 2 × 768
        Assert.Equal(48, m.TimeStepRank);
        Assert.False(m.UseBcdtRms);
        // round trip
        Assert.Equal(c with { }, MambaConfig.Parse(c.ToJson()) with { EosTokenIds = c.EosTokenIds });
    }
}
