using System.Text.Json;
using FalconMamba.Tokenization;

namespace FalconMamba.Tests.Tokenization;

/// <summary>Shared reference data for the tokenizer tests: the Falcon tokenizer.json and its vectors (loaded once).</summary>
internal static class TokenizerTestData
{
    static readonly Lazy<Tokenizer> _falcon = new(() => Tokenizer.Load(Path.Combine(Dir, "tokenizer.json")));

    public static string Dir => Path.Combine(SkipWhen.SharedMissing(), "tokenizer");
    public static string FalconJsonPath => Path.Combine(Dir, "tokenizer.json");
    public static Tokenizer Falcon => _falcon.Value;

    public sealed record FuzzCase(string Input, int[] Ids, string Decoded);

    static readonly Lazy<FuzzCase[]> _fuzz = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "vectors", "fuzz-6033.json")));
        return doc.RootElement.EnumerateArray().Select(e => new FuzzCase(e.GetProperty("input").GetString()!,
            e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(), e.GetProperty("decoded").GetString()!)).ToArray();
    });

    public static FuzzCase[] Fuzz => _fuzz.Value;

    /// <summary>llama.cpp's test-tokenizer-0 pairs: inputs split on the separator, expected ids one line each.</summary>
    public static (string Input, int[] Ids)[] LlamaCppVectors()
    {
        string inp = File.ReadAllText(Path.Combine(Dir, "vectors", "ggml-vocab-falcon.gguf.inp"));
        string[] outLines = File.ReadAllLines(Path.Combine(Dir, "vectors", "ggml-vocab-falcon.gguf.out"));
        var inputs = inp.Split("\n__ggml_vocab_test__\n").ToList();
        if (inputs[^1].Length == 0) inputs.RemoveAt(inputs.Count - 1);
        Assert.Equal(inputs.Count, outLines.Length);
        return inputs.Select((s, i) => (s, outLines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToArray();
    }

    public static (string Src, string Input, int[] Ids)[] Reference66()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "vectors", "reference-66.json")));
        return doc.RootElement.EnumerateArray().Select(e => (e.GetProperty("src").GetString()!, e.GetProperty("input").GetString()!,
            e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray())).ToArray();
    }
}
