using Encoding = System.Text.Encoding;
using FalconMamba.Tokenization;

namespace FalconMamba.Tests.Tokenization;

/// <summary>
/// <see cref="Tokenizer.FromGgufVocab"/> on llama.cpp's ggml-vocab-falcon.gguf gives the same ids as the
/// tokenizer.json path. The GGUF key/value section is read by a minimal reader here (SPEC.md §4.1); the real
/// reader lives in the library's Formats.
/// </summary>
public class GgufVocabTests(ITestOutputHelper output)
{
    /// <summary>Reads the header and metadata of a GGUF file (no tensors): key → value (arrays as object[]).</summary>
    static Dictionary<string, object> ReadGgufMetadata(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
        Assert.Equal(0x46554747u, r.ReadUInt32()); // "GGUF"
        uint version = r.ReadUInt32();
        Assert.True(version is 2 or 3, $"GGUF version {version}");
        r.ReadUInt64(); // tensor count
        ulong kvCount = r.ReadUInt64();
        var kv = new Dictionary<string, object>();
        for (ulong i = 0; i < kvCount; i++)
        {
            string key = Str(r);
            kv[key] = Value(r, r.ReadUInt32());
        }
        return kv;

        static string Str(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes(checked((int)r.ReadUInt64())));
        static object Value(BinaryReader r, uint type) => type switch
        {
            0 => r.ReadByte(), 1 => r.ReadSByte(), 2 => r.ReadUInt16(), 3 => r.ReadInt16(), 4 => r.ReadUInt32(), 5 => r.ReadInt32(),
            6 => r.ReadSingle(), 7 => r.ReadByte() != 0, 8 => Str(r), 10 => r.ReadUInt64(), 11 => r.ReadInt64(), 12 => r.ReadDouble(),
            9 => Array(r),
            _ => throw new InvalidDataException($"GGUF value type {type}"),
        };
        static object[] Array(BinaryReader r)
        {
            uint t = r.ReadUInt32();
            var a = new object[checked((int)r.ReadUInt64())];
            for (int k = 0; k < a.Length; k++) a[k] = Value(r, t);
            return a;
        }
    }

    [Fact]
    public void FalconGgufVocab_MatchesTokenizerJson()
    {
        string path = Path.Combine(TokenizerTestData.Dir, "ggml-vocab-falcon.gguf");
        var kv = ReadGgufMetadata(path);
        var tokens = ((object[])kv["tokenizer.ggml.tokens"]).Cast<string>().ToArray();
        var types = kv.TryGetValue("tokenizer.ggml.token_type", out var tt) ? ((object[])tt).Select(Convert.ToInt32).ToArray() : null;
        var merges = ((object[])kv["tokenizer.ggml.merges"]).Cast<string>().ToArray();
        int? Id(string key) => kv.TryGetValue(key, out var v) ? Convert.ToInt32(v) : null;
        string pre = kv.TryGetValue("tokenizer.ggml.pre", out var p) ? (string)p : "default";
        output.WriteLine($"GGUF: model {kv["tokenizer.ggml.model"]}, pre {pre}, {tokens.Length} tokens, {merges.Length} merges, bos {Id("tokenizer.ggml.bos_token_id")}, eos {Id("tokenizer.ggml.eos_token_id")}");

        var gguf = Tokenizer.FromGgufVocab(tokens, types, merges, pre, Id("tokenizer.ggml.bos_token_id"), Id("tokenizer.ggml.eos_token_id"),
            Id("tokenizer.ggml.padding_token_id"), kv.TryGetValue("tokenizer.ggml.add_bos_token", out var ab) && (bool)ab,
            kv.TryGetValue("tokenizer.chat_template", out var ct) ? (string)ct : null, (string)kv["tokenizer.ggml.model"]);
        var json = TokenizerTestData.Falcon;
        Assert.Equal(json.VocabSize, gguf.VocabSize);

        int vec = 0, fuzz = 0;
        foreach (var (input, ids) in TokenizerTestData.LlamaCppVectors())
        {
            Assert.Equal(ids, gguf.EncodeToIds(input, addSpecialTokens: false));
            vec++;
        }
        foreach (var c in TokenizerTestData.Fuzz)
        {
            Assert.Equal(json.EncodeToIds(c.Input, addSpecialTokens: false), gguf.EncodeToIds(c.Input, addSpecialTokens: false));
            Assert.Equal(c.Decoded, gguf.Decode(c.Ids, skipSpecialTokens: true, cleanUpTokenizationSpaces: false));
            fuzz++;
        }
        output.WriteLine($"GGUF path: llama.cpp vectors {vec}/46, fuzz {fuzz}/{TokenizerTestData.Fuzz.Length} identical to tokenizer.json (ids), decode identical");
        Assert.Equal("<|endoftext|>", gguf.EosToken);
    }

    [Fact]
    public void UnsupportedGgufPreTokenizer_IsAClearError()
    {
        var e = Assert.Throws<ModelFormatException>(() => Tokenizer.FromGgufVocab(["a", "b", "ab"], null, ["a b"], "llama-bpe", null, null, null, false, null));
        Assert.Contains("llama-bpe", e.Message);
        var e2 = Assert.Throws<ModelFormatException>(() => Tokenizer.FromGgufVocab(["a", "b"], null, ["a c"], "gpt-2", null, null, null, false, null));
        Assert.Contains("'c'", e2.Message);
        var e3 = Assert.Throws<ModelFormatException>(() => Tokenizer.FromGgufVocab(["a"], null, [], "gpt-2", null, null, null, false, null, model: "llama"));
        Assert.Contains("llama", e3.Message);
    }
}
