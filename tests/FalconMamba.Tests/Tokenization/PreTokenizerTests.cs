using System.Text.RegularExpressions;
using FalconMamba.Tokenization;

namespace FalconMamba.Tests.Tokenization;

/// <summary>Hand-written fast paths against their plain references.</summary>
public class PreTokenizerTests(ITestOutputHelper output)
{
    /// <summary>
    /// The GPT-2 splitter against the same pattern run by .NET Regex, on text of BMP characters only (where .NET's
    /// UTF-16 classes equal code-point classes): identical pieces.
    /// </summary>
    [Fact]
    public void Gpt2Splitter_EqualsRegex_OnBmpText()
    {
        var regex = new Regex(Gpt2Splitter.Pattern, RegexOptions.CultureInvariant);
        var gen = new RandomText(99, ["<|endoftext|>"]);
        int strings = 0, pieces = 0;
        foreach (var c in TokenizerTestData.Fuzz.Select(f => f.Input).Concat(Enumerable.Range(0, 3000).Select(_ => gen.Next())))
        {
            if (c.Any(char.IsSurrogate)) continue;
            var expected = regex.Matches(c).Select(m => (m.Index, m.Index + m.Length)).ToList();
            var got = new List<(int, int)>();
            for (int i = 0; i < c.Length;) { int j = Gpt2Splitter.Next(c, i); got.Add((i, j)); i = j; }
            Assert.Equal(expected, got);
            strings++;
            pieces += got.Count;
        }
        output.WriteLine($"GPT-2 splitter == .NET Regex on {strings} BMP strings, {pieces} pieces");
    }

    [Fact]
    public void Gpt2Splitter_CountsAstralLettersAndDigits()
    {
        // 𝐀𝐁 are letters (Lu, outside the BMP), 𝟙𝟚 digits (Nd): a plain UTF-16 regex would call them "other".
        string s = " 𝐀𝐁 𝟙𝟚!";
        var got = new List<string>();
        for (int i = 0; i < s.Length;) { int j = Gpt2Splitter.Next(s, i); got.Add(s[i..j]); i = j; }
        Assert.Equal([" 𝐀𝐁", " 𝟙𝟚", "!"], got);
    }

    [Fact]
    public void SplitRegex_StandsInForAstralCharacters()
    {
        var re = OnigurumaRegex.Compile(@"\p{L}+|\p{N}+", "test");
        var matches = new List<(int, int)>();
        re.FindMatches("a𝐀𝐁b 𝟙2", matches, EncodeScratch.Current);
        // "a𝐀𝐁b" is one letter run (6 UTF-16 units), "𝟙2" one number run.
        Assert.Equal([(0, 6), (7, 10)], matches);
        Assert.Equal(@"\u00E9[0-9a-fA-F]", OnigurumaRegex.Translate(@"\x{E9}\h", "test", out _));
    }

    [Fact]
    public void EncodeBatch_EqualsSequential_AndOffsetsAreOrdered()
    {
        var tok = TokenizerTestData.Falcon;
        var inputs = TokenizerTestData.Fuzz.Select(f => f.Input).ToArray();
        var batch = tok.EncodeBatch(inputs);
        var batchIds = tok.EncodeBatchToIds(inputs);
        int tokens = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            var seq = tok.Encode(inputs[i]);
            Assert.Equal(seq.Ids, batch[i].Ids);
            Assert.Equal(seq.Ids, batchIds[i]);
            Assert.Equal(seq.Offsets, batch[i].Offsets);
            int prevStart = 0;
            for (int k = 0; k < seq.Count; k++)
            {
                var (s, e) = seq.Offsets[k];
                Assert.True(s >= prevStart && s <= e && e <= inputs[i].Length, $"offsets {s}..{e} of token {k} in input {i}");
                prevStart = s;
                Assert.Equal(tok.IdToToken(seq.Ids[k]), seq.Tokens[k]);
            }
            // Pure-ASCII inputs that survive a round trip (the vocabulary lacks a few control bytes): the token
            // texts at their offsets add up to the input.
            if (inputs[i].All(c => c < 0x80) && tok.Decode(seq.Ids, cleanUpTokenizationSpaces: false) == inputs[i])
                Assert.Equal(inputs[i], string.Concat(seq.Offsets.Select(o => inputs[i][o.Start..o.End])));
            tokens += seq.Count;
        }
        output.WriteLine($"EncodeBatch == Encode on {inputs.Length} strings ({tokens} tokens); offsets ordered and in range");
    }

    [Theory]
    [InlineData("metaspace-always")]
    [InlineData("llama2-normalizer")]
    public void StreamingDecoder_GenericPath_EqualsDecode(string variant)
    {
        var tok = Tokenizer.FromJson(SyntheticTokenizers.SentencePieceStyle(variant));
        var gen = new RandomText(5, ["<s>", "</s>"]);
        for (int n = 0; n < 300; n++)
        {
            int[] ids = tok.EncodeToIds(gen.Next());
            var sd = tok.CreateStreamingDecoder(skipSpecialTokens: n % 2 == 0);
            var sb = new System.Text.StringBuilder();
            foreach (int id in ids) sb.Append(sd.Push(id));
            sb.Append(sd.Flush());
            Assert.Equal(tok.Decode(ids, skipSpecialTokens: n % 2 == 0, cleanUpTokenizationSpaces: false), sb.ToString());
        }
    }
}
