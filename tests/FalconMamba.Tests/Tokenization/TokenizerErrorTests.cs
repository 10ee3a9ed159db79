using FalconMamba.Tokenization;

namespace FalconMamba.Tests.Tokenization;

/// <summary>Bad tokenizer files fail with a message naming the file and the culprit.</summary>
public class TokenizerErrorTests
{
    const string Model = """
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}
        """;

    static ModelFormatException LoadFails(string json, string file = "tokenizer.json")
    {
        string dir = TestPaths.NewTempDir("tokerr");
        string path = Path.Combine(dir, file);
        File.WriteAllText(path, json);
        return Assert.Throws<ModelFormatException>(() => Tokenizer.Load(path));
    }

    [Fact]
    public void ValidMinimalFile_Loads()
    {
        var tok = Tokenizer.FromJson("{" + Model + "}");
        Assert.Equal([2, 0], tok.EncodeToIds("aba"));
    }

    [Fact]
    public void InvalidJson_NamesFileAndLine()
    {
        var e = LoadFails("{\n \"model\": {\n  \"type\": \"BPE\",,\n}}");
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("line 3", e.Message);
    }

    [Fact]
    public void InvalidUtf8_IsReported()
    {
        string dir = TestPaths.NewTempDir("tokerr");
        string path = Path.Combine(dir, "tokenizer.json");
        File.WriteAllBytes(path, [.. "{\"model\": {\"type\": \"BPE\", \"vocab\": {\""u8, 0xC3, 0x28, .. "\": 0}, \"merges\": []}}"u8]);
        var e = Assert.Throws<ModelFormatException>(() => Tokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("invalid JSON", e.Message);
    }

    [Fact]
    public void MergeWithUnknownToken_NamesIt()
    {
        var e = LoadFails("""{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a zz"]}}""");
        Assert.Contains("merges[1]", e.Message);
        Assert.Contains("'zz'", e.Message);
        var e2 = LoadFails("""{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}}""");
        Assert.Contains("'ab'", e2.Message);
    }

    [Theory]
    [InlineData("\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"}", "Precompiled")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}", "BertPreTokenizer")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"UnicodeScripts\"}]}", "UnicodeScripts")]
    [InlineData("\"post_processor\": {\"type\": \"RobertaProcessing\"}", "RobertaProcessing")]
    [InlineData("\"decoder\": {\"type\": \"WordPiece\"}", "WordPiece")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a++\"}, \"behavior\": \"Isolated\", \"invert\": false}", "possessive")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Sideways\", \"invert\": false}", "Sideways")]
    public void UnsupportedComponent_NamesTheType(string component, string culprit)
    {
        var e = LoadFails("{" + component + ", " + Model + "}");
        Assert.Contains(culprit, e.Message);
        Assert.Contains("tokenizer.json", e.Message);
    }

    [Fact]
    public void OtherModelsAndDropout_AreRejected()
    {
        Assert.Contains("Unigram", LoadFails("""{"model": {"type": "Unigram", "vocab": []}}""").Message);
        Assert.Contains("dropout", LoadFails("""{"model": {"type": "BPE", "dropout": 0.1, "vocab": {}, "merges": []}}""").Message);
    }

    [Fact]
    public void BadIdInDecode_NamesTheId()
    {
        var tok = Tokenizer.FromJson("{" + Model + "}");
        var e = Assert.Throws<FalconMambaException>(() => tok.Decode([0, 7]));
        Assert.Contains("7", e.Message);
    }

    [Fact]
    public void TokenizerConfig_SpecialTokensAndTemplates()
    {
        string dir = TestPaths.NewTempDir("tokcfg");
        File.Copy(TokenizerTestData.FalconJsonPath, Path.Combine(dir, "tokenizer.json"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """
            {"bos_token": {"content": ">>TITLE<<", "lstrip": false}, "eos_token": "<|endoftext|>", "pad_token": null,
             "add_bos_token": true, "clean_up_tokenization_spaces": true,
             "chat_template": [{"name": "default", "template": "{{ messages }}"}, {"name": "tool_use", "template": "T"}]}
            """);
        var tok = Tokenizer.Load(dir);
        Assert.Equal(">>TITLE<<", tok.BosToken);
        Assert.Equal(0, tok.BosTokenId);
        Assert.Equal(11, tok.EosTokenId);
        Assert.Equal("{{ messages }}", tok.ChatTemplate);
        Assert.Equal("T", tok.ChatTemplates["tool_use"]);
        // add_bos_token applies because tokenizer.json has no post-processor.
        Assert.Equal([0, 9856], tok.EncodeToIds("Hello"));
        Assert.Equal([9856], tok.EncodeToIds("Hello", addSpecialTokens: false));
        // clean_up_tokenization_spaces from the config is the Decode default.
        int[] ids = tok.EncodeToIds("Hello , world .", addSpecialTokens: false);
        Assert.Equal("Hello, world.", tok.Decode(ids));
        Assert.Equal("Hello , world .", tok.Decode(ids, cleanUpTokenizationSpaces: false));

        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{\"chat_template\": 5}");
        Assert.Contains("chat_template", Assert.Throws<ModelFormatException>(() => Tokenizer.Load(dir)).Message);
    }
}
