using FalconMamba.Formats.Gguf;
using FalconMamba.Tokenization;

namespace FalconMamba.Tests.Gguf;

/// <summary>Tokenizer metadata: llama.cpp's falcon vocab GGUF read by our reader, and tokenizer.json → GGUF keys → tokenizer.</summary>
public class GgufTokenizerTests
{
    static readonly string[] Texts = ["Hello world", " Hello", "it's 1234567!!!", "Ünïcödé 東京 🙂\n\ttabs", "<|endoftext|>x", ">>QUESTION<<"];

    [Fact]
    public void ReadsLlamaCppFalconVocab()
    {
        string dir = Path.Combine(SkipWhen.SharedMissing(), "tokenizer");
        using var f = GgufFile.Open(Path.Combine(dir, "ggml-vocab-falcon.gguf"));
        var meta = GgufTokenizerMetadata.FromFile(f)!;
        TestContext.Current.TestOutputHelper?.WriteLine($"GGUF v{f.Version}, {f.Metadata.Count} keys, {f.Tensors.Count} tensors: model {meta.Model}, pre {meta.Pre}, {meta.Tokens.Length} tokens, {meta.Merges?.Length} merges, bos {meta.BosTokenId}, eos {meta.EosTokenId}");
        Assert.Equal("gpt2", meta.Model);
        Assert.Equal(65024, meta.Tokens.Length);
        Assert.Equal(64784, meta.Merges!.Length);
        var fromGguf = meta.ToTokenizer();
        var fromJson = Tokenizer.Load(Path.Combine(dir, "tokenizer.json"));
        foreach (var t in Texts) Assert.Equal(fromJson.Encode(t).Ids, fromGguf.Encode(t).Ids);
    }

    [Fact]
    public void HuggingFaceTokenizerRoundTripsThroughGgufKeys()
    {
        string shared = Path.Combine(SkipWhen.SharedMissing(), "tokenizer");
        string dir = TestPaths.NewTempDir();
        File.Copy(Path.Combine(shared, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"eos_token": "<|endoftext|>", "add_bos_token": false, "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}""");
        var meta = GgufTokenizerMetadata.FromHuggingFace(dir, 65024)!;
        var w = new GgufWriter();
        meta.WriteTo(w);
        string path = Path.Combine(dir, "vocab.gguf");
        w.Write(path);
        using var f = GgufFile.Open(path);
        var back = GgufTokenizerMetadata.FromFile(f)!;
        Assert.Equal(meta.Tokens, back.Tokens);
        Assert.Equal(meta.Merges, back.Merges);
        Assert.Equal(meta.TokenTypes, back.TokenTypes);
        Assert.Equal(11, back.EosTokenId);
        Assert.Equal("falcon", back.Pre);
        Assert.Contains("messages", back.ChatTemplate);
        // llama.cpp's own conversion of falcon-7b has the same tokens, types and merges
        using var lf = GgufFile.Open(Path.Combine(shared, "ggml-vocab-falcon.gguf"));
        var llama = GgufTokenizerMetadata.FromFile(lf)!;
        Assert.Equal(llama.Tokens, back.Tokens);
        Assert.Equal(llama.Merges, back.Merges);
        Assert.Equal(llama.TokenTypes, back.TokenTypes);
        var tok = back.ToTokenizer();
        var json = Tokenizer.Load(Path.Combine(shared, "tokenizer.json"));
        foreach (var t in Texts) Assert.Equal(json.Encode(t).Ids, tok.Encode(t).Ids);
        Directory.Delete(dir, true);
    }
}
