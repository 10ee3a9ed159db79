using FalconMamba.Generation;

namespace FalconMamba.Cli.Commands;

/// <summary>Finds the tokenizer that belongs to a model path (folder with tokenizer.json, or a .gguf file).</summary>
internal static class TokenizerLoader
{
    public static int[] Encode(string modelPath, string text) =>
        throw new FalconMambaException($"{modelPath}: text prompts need the tokenizer, which this build does not include yet; use --prompt-ids / --tokens");

    public static ITokenTextStreamer? Streamer(string modelPath) => null;
}
