using FalconMamba.Generation;
using FalconMamba.Tokenization;

namespace FalconMamba.Cli.Commands;

/// <summary>Finds the tokenizer that belongs to a model path (a folder with tokenizer.json, or a .gguf file).</summary>
internal static class TokenizerLoader
{
    static readonly Dictionary<string, Tokenizer> Cache = new();

    /// <summary>The model's tokenizer, or null when the folder has none.</summary>
    public static Tokenizer? TryLoad(string modelPath)
    {
        if (Cache.TryGetValue(modelPath, out var t)) return t;
        if (File.Exists(modelPath) && modelPath.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
        {
            // GGUF: the tokenizer.ggml.* keys embedded by the converter (null for files without a vocabulary)
            using var f = Formats.Gguf.GgufFile.Open(modelPath);
            var meta = Formats.Gguf.GgufTokenizerMetadata.FromFile(f);
            if (meta == null || meta.Model == "none") return null;
            return Cache[modelPath] = meta.ToTokenizer();
        }
        string? folder = Directory.Exists(modelPath) ? modelPath : null;
        if (folder == null || !File.Exists(Path.Combine(folder, "tokenizer.json"))) return null;
        return Cache[modelPath] = Tokenizer.Load(folder);
    }

    /// <summary>The model's tokenizer, or a clear error naming the path.</summary>
    public static Tokenizer Load(string modelPath) =>
        TryLoad(modelPath) ?? throw new FalconMambaException($"{modelPath}: no tokenizer.json beside the model (or tokenizer keys in the GGUF); give token ids instead (--prompt-ids / --tokens / --ids-file)");

    public static int[] Encode(string modelPath, string text) => Load(modelPath).EncodeToIds(text);

    public static ITokenTextStreamer? Streamer(string modelPath) => TryLoad(modelPath)?.CreateStreamingDecoder(skipSpecialTokens: true);
}
