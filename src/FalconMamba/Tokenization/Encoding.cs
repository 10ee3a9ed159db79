namespace FalconMamba.Tokenization;

/// <summary>The result of encoding one text.</summary>
/// <param name="Ids">Token ids.</param>
/// <param name="Tokens">Token strings (the vocabulary entries, e.g. <c>Ġworld</c>).</param>
/// <param name="Offsets">For each token, the UTF-16 range <c>[Start, End)</c> of the input it came from; (0, 0) for
/// tokens the post-processor added. A token that is part of a character covers the whole character.</param>
public sealed record Encoding(int[] Ids, string[] Tokens, (int Start, int End)[] Offsets)
{
    /// <summary>Number of tokens.</summary>
    public int Count => Ids.Length;
}
