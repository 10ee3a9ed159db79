namespace FalconMamba.Tokenization;

/// <summary>
/// A token matched in the text before the model runs (tokenizer.json <c>added_tokens</c>): special tokens such as
/// <c>&lt;|endoftext|&gt;</c> and user-added words.
/// </summary>
/// <param name="Id">Its id.</param>
/// <param name="Content">The text it matches.</param>
/// <param name="Special">Special tokens are dropped by <c>skipSpecialTokens</c> and can be left unparsed.</param>
/// <param name="LStrip">The match also swallows whitespace on its left.</param>
/// <param name="RStrip">The match also swallows whitespace on its right.</param>
/// <param name="SingleWord">Matches only when not inside a word.</param>
/// <param name="Normalized">Matched against the normalized text rather than the raw input.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false,
    bool SingleWord = false, bool Normalized = false);
