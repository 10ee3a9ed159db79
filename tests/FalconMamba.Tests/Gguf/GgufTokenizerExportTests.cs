using FalconMamba.Formats.Gguf;
using FalconMamba.Tokenization;

namespace FalconMamba.Tests.Gguf;

/// <summary>GGUF → HF conversion writes a tokenizer.json that encodes like the original (ours and the Rust tokenizer).</summary>
public class GgufTokenizerExportTests
{
    [Fact]
    public void ConvertedFolderCarriesAnEquivalentTokenizerJson()
    {
        string model = Path.Combine(TestPaths.RepoRoot, "models", "falcon-mamba-tiny-kjv");
        string outDir = TestPaths.NewTempDir();
        GgufConverter.GgufToHuggingFace(Path.Combine(model, "falcon-mamba-tiny-kjv-f16.gguf"), outDir);
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer.json")));
        var original = Tokenizer.Load(model);
        var exported = Tokenizer.Load(outDir);
        var rust = new Tokenizers.DotNet.Tokenizer(vocabPath: Path.Combine(outDir, "tokenizer.json"));
        string text = File.ReadAllText(Path.Combine(model, "valid-sample.txt")) + " 1234567 it's!!! <|im_start|>user\nhi<|im_end|>";
        var a = original.EncodeToIds(text, addSpecialTokens: false);
        Assert.Equal(a, exported.EncodeToIds(text, addSpecialTokens: false));
        Assert.Equal(a, rust.Encode(text).Select(x => (int)x).ToArray());
        Assert.Equal(original.EosToken, exported.EosToken);
        TestContext.Current.TestOutputHelper?.WriteLine($"{a.Length} tokens identical through GGUF → tokenizer.json (ours and Rust)");
    }
}
