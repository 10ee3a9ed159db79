using FalconMamba.Formats.Gguf;
using FalconMamba.Kernels;
using FalconMamba.Model;

namespace FalconMamba.Tests.Gguf;

/// <summary>Writes tiny random models as GGUF files that llama.cpp can load (byte-level gpt2 vocabulary of V ≥ 256 tokens).</summary>
public static class GgufTestFiles
{
    /// <summary>GPT-2 byte → unicode mapping (printable bytes map to themselves, the rest to U+0100…), so the vocab has a "\n" token.</summary>
    static string[] ByteTokens()
    {
        var result = new string[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            result[b] = printable ? ((char)b).ToString() : ((char)(256 + extra++)).ToString();
        }
        return result;
    }

    /// <summary>A vocabulary of <paramref name="v"/> tokens: the 256 byte tokens then "tok{i}".</summary>
    public static GgufTokenizerMetadata Vocab(int v)
    {
        if (v < 256) throw new ArgumentException("llama.cpp's gpt2 vocab needs the 256 byte tokens");
        var bytes = ByteTokens();
        return new GgufTokenizerMetadata
        {
            Model = "gpt2", Pre = "default",
            Tokens = Enumerable.Range(0, v).Select(i => i < 256 ? bytes[i] : $"tok{i}").ToArray(),
            TokenTypes = Enumerable.Repeat(1, v).ToArray(),
            Merges = [],
            BosTokenId = 0, EosTokenId = 1,
        };
    }

    /// <summary>Writes the HF folder of <paramref name="tm"/> and converts it to a GGUF of <paramref name="type"/>; returns the path.</summary>
    public static string Write(TestModel tm, TensorType type, string dir)
    {
        string hf = tm.WriteFolder(Path.Combine(dir, "hf"));
        string path = Path.Combine(dir, $"model-{type}.gguf");
        using var w = ModelLoader.LoadWeights(hf, new ModelLoadOptions());
        GgufModelWriter.Write(path, w, type, Vocab(tm.Config.VocabSize));
        return path;
    }

    /// <summary>Our engine's logits for every position, by Score (chunked prefill) or by one Decode per token.</summary>
    public static float[][] EngineLogits(string path, int[] tokens, bool oneAtATime, int chunk = 5)
    {
        using var model = MambaModel.Load(path);
        using var ctx = model.CreateContext(threads: 2, chunkSize: chunk);
        var state = model.CreateState();
        var result = new float[tokens.Length][];
        if (oneAtATime)
            for (int i = 0; i < tokens.Length; i++) result[i] = ctx.Decode(tokens[i], state).ToArray();
        else
            ctx.Score(tokens, state, (pos, logits) => result[pos] = logits.ToArray());
        return result;
    }

    /// <summary>(max|a − b|, max|b|) over all positions.</summary>
    public static (double MaxDiff, double MaxRef) Compare(float[][] a, IReadOnlyList<IReadOnlyList<double>> b)
    {
        double md = 0, mr = 0;
        for (int t = 0; t < a.Length; t++)
            for (int v = 0; v < a[t].Length; v++)
            {
                md = Math.Max(md, Math.Abs(a[t][v] - b[t][v]));
                mr = Math.Max(mr, Math.Abs(b[t][v]));
            }
        return (md, mr);
    }

    /// <summary>Float logits as a double matrix.</summary>
    public static double[][] AsDouble(float[][] a) => a.Select(r => r.Select(x => (double)x).ToArray()).ToArray();
}
