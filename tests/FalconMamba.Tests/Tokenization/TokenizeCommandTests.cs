using System.Diagnostics;
using System.Text.Json;

namespace FalconMamba.Tests.Tokenization;

/// <summary>The <c>falcon-mamba tokenize</c> contract, through the built CLI (falcon-mamba.dll beside the tests).</summary>
public class TokenizeCommandTests(ITestOutputHelper output)
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "falcon-mamba.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, err);
    }

    [Fact]
    public void Jsonl_EncodeThenDecode_RoundTripsInOrder()
    {
        string dir = TestPaths.NewTempDir("tokcli");
        var cases = TokenizerTestData.Fuzz.Take(300).ToArray();
        string inPath = Path.Combine(dir, "in.jsonl");
        File.WriteAllLines(inPath, cases.Select(c => JsonSerializer.Serialize(new { text = c.Input })));
        var (code, stdout, err) = Run("tokenize", "--tokenizer", TokenizerTestData.Dir, "--jsonl", inPath);
        Assert.True(code == 0, err);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(cases.Length, lines.Length);
        for (int i = 0; i < cases.Length; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            Assert.Equal(cases[i].Ids, doc.RootElement.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray());
        }
        string idsPath = Path.Combine(dir, "ids.jsonl");
        File.WriteAllText(idsPath, stdout);
        (code, stdout, err) = Run("tokenize", "--tokenizer", TokenizerTestData.Dir, "--jsonl", idsPath, "--decode", "--skip-special");
        Assert.True(code == 0, err);
        lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < cases.Length; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            // The fuzz file's "decoded" is Rust's decode with special tokens skipped (the vocabulary lacks a few
            // control bytes, so it is not always the input).
            Assert.Equal(cases[i].Decoded, doc.RootElement.GetProperty("text").GetString());
        }
        output.WriteLine($"tokenize --jsonl: {cases.Length} lines encoded and decoded back, in order");
    }

    [Fact]
    public void TextAndFormats()
    {
        var (code, stdout, err) = Run("tokenize", "--tokenizer", TokenizerTestData.FalconJsonPath, "--text", "Hello world");
        Assert.True(code == 0, err);
        Assert.Equal("9856 1079", stdout.Trim());
        (code, stdout, _) = Run("tokenize", "--tokenizer", TokenizerTestData.FalconJsonPath, "--text", "9856 1079", "--decode");
        Assert.Equal("Hello world", stdout.Trim());
        (code, stdout, _) = Run("tokenize", "--tokenizer", TokenizerTestData.FalconJsonPath, "--text", "Hello world", "--format", "json");
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("Ġworld", doc.RootElement.GetProperty("tokens")[1].GetString());
        Assert.Equal(11, doc.RootElement.GetProperty("offsets")[1][1].GetInt32());
    }

    [Fact]
    public void BadInput_NamesFileAndLine()
    {
        string dir = TestPaths.NewTempDir("tokcli");
        string bad = Path.Combine(dir, "bad.jsonl");
        File.WriteAllText(bad, "{\"text\": \"ok\"}\n{\"text\": oops}\n");
        var (code, _, err) = Run("tokenize", "--tokenizer", TokenizerTestData.Dir, "--jsonl", bad);
        Assert.NotEqual(0, code);
        Assert.Contains("bad.jsonl:2", err);
        Assert.Contains("invalid JSON", err);

        string utf = Path.Combine(dir, "utf.jsonl");
        File.WriteAllBytes(utf, [.. "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \""u8, 0xC3, 0x28, .. "\"}\n"u8]);
        (code, _, err) = Run("tokenize", "--tokenizer", TokenizerTestData.Dir, "--jsonl", utf);
        Assert.NotEqual(0, code);
        Assert.Contains("utf.jsonl:3: invalid UTF-8", err);

        string txt = Path.Combine(dir, "t.txt");
        File.WriteAllBytes(txt, [.. "line one\n"u8, 0xFF, .. "\n"u8]);
        (code, _, err) = Run("tokenize", "--tokenizer", TokenizerTestData.Dir, "--file", txt);
        Assert.NotEqual(0, code);
        Assert.Contains("t.txt:2: invalid UTF-8", err);

        string ids = Path.Combine(dir, "ids.jsonl");
        File.WriteAllText(ids, "{\"ids\": [1, 2]}\n{\"ids\": [99999999]}\n");
        (code, _, err) = Run("tokenize", "--tokenizer", TokenizerTestData.Dir, "--jsonl", ids, "--decode");
        Assert.NotEqual(0, code);
        Assert.Contains("ids.jsonl:2", err);
        Assert.Contains("99999999", err);
        output.WriteLine(err.Trim());
    }
}
