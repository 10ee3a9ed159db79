using FalconMamba.Tokenization;

namespace FalconMamba.Tests.Tokenization;

/// <summary>
/// The Falcon tokenizer.json against independent vectors: llama.cpp's 46 (ids from Python transformers on
/// falcon-7b), the 66 merged reference cases, and 6,033 fuzz strings (ids and decode from Rust tokenizers 0.22.2).
/// </summary>
public class FalconVectorTests(ITestOutputHelper output)
{
    static string Show(int[] ids) => "[" + string.Join(",", ids) + "]";

    [Fact]
    public void LlamaCppVectors_AllMatch()
    {
        var tok = TokenizerTestData.Falcon;
        var vectors = TokenizerTestData.LlamaCppVectors();
        int pass = 0;
        var failures = new List<string>();
        foreach (var (input, ids) in vectors)
        {
            int[] got = tok.EncodeToIds(input, addSpecialTokens: false);
            if (got.AsSpan().SequenceEqual(ids)) pass++;
            else failures.Add($"{System.Text.Json.JsonSerializer.Serialize(input)}: expected {Show(ids)} got {Show(got)}");
            // Decoding the reference ids gives the input back (no clean-up): byte-level BPE is lossless.
            Assert.Equal(input, tok.Decode(ids, cleanUpTokenizationSpaces: false));
        }
        output.WriteLine($"llama.cpp vectors: {pass}/{vectors.Length} ids match");
        foreach (var f in failures.Take(10)) output.WriteLine(f);
        Assert.Equal(vectors.Length, pass);
        Assert.Equal(46, vectors.Length);
    }

    [Fact]
    public void Reference66_AllMatch()
    {
        var tok = TokenizerTestData.Falcon;
        var cases = TokenizerTestData.Reference66();
        int pass = 0;
        foreach (var (src, input, ids) in cases)
        {
            int[] got = tok.EncodeToIds(input, addSpecialTokens: false);
            if (got.AsSpan().SequenceEqual(ids)) pass++;
            else output.WriteLine($"{src}: expected {Show(ids)} got {Show(got)}");
        }
        output.WriteLine($"reference-66: {pass}/{cases.Length}");
        Assert.Equal(cases.Length, pass);
    }

    [Fact]
    public void Fuzz6033_IdsAndDecodeMatch()
    {
        var tok = TokenizerTestData.Falcon;
        var fuzz = TokenizerTestData.Fuzz;
        int idsPass = 0, decodePass = 0, shown = 0;
        foreach (var c in fuzz)
        {
            int[] got = tok.EncodeToIds(c.Input, addSpecialTokens: false);
            if (got.AsSpan().SequenceEqual(c.Ids)) idsPass++;
            else if (shown++ < 15) output.WriteLine($"ids mismatch {System.Text.Json.JsonSerializer.Serialize(c.Input)}: expected {Show(c.Ids)} got {Show(got)}");
            if (tok.Decode(c.Ids, skipSpecialTokens: true, cleanUpTokenizationSpaces: false) == c.Decoded) decodePass++;
        }
        output.WriteLine($"fuzz: ids {idsPass}/{fuzz.Length}, decode {decodePass}/{fuzz.Length}");
        Assert.Equal(fuzz.Length, idsPass);
        Assert.Equal(fuzz.Length, decodePass);
        Assert.Equal(6033, fuzz.Length);
    }

    [Fact]
    public void StreamingDecoder_ConcatenationEqualsDecode_NoPrematureReplacementChar()
    {
        var tok = TokenizerTestData.Falcon;
        int pass = 0, pieces = 0;
        foreach (var c in TokenizerTestData.Fuzz)
        {
            foreach (var (skip, clean) in new[] { (false, false), (true, false), (true, true) })
            {
                var sd = tok.CreateStreamingDecoder(skip, clean);
                var sb = new System.Text.StringBuilder();
                foreach (int id in c.Ids)
                {
                    string piece = sd.Push(id);
                    pieces++;
                    // The fuzz inputs are valid UTF-16, so every character is completed by some token:
                    // a U+FFFD in a piece would be a premature half character (or a real one in the input).
                    if (piece.Contains('\uFFFD') && !c.Input.Contains('\uFFFD'))
                        Assert.Fail($"streaming emitted U+FFFD for {System.Text.Json.JsonSerializer.Serialize(c.Input)}");
                    sb.Append(piece);
                }
                sb.Append(sd.Flush());
                Assert.Equal(tok.Decode(c.Ids, skip, cleanUpTokenizationSpaces: clean), sb.ToString());
            }
            pass++;
        }
        output.WriteLine($"streaming decoder: {pass}/{TokenizerTestData.Fuzz.Length} fuzz strings × 3 (skip specials off/on, clean-up off/on), {pieces} pushes; concatenation == Decode");
    }

    [Fact]
    public void ReadmeFacts()
    {
        var tok = TokenizerTestData.Falcon;
        Assert.Equal([9856], tok.EncodeToIds("Hello"));
        Assert.Equal([23090], tok.EncodeToIds(" Hello"));
        Assert.Equal([99, 11, 100], tok.EncodeToIds("x<|endoftext|>y"));
        // With special-token parsing off, "<|endoftext|>" is ordinary text.
        Assert.DoesNotContain(11, tok.EncodeToIds("x<|endoftext|>y", parseSpecialTokens: false));
        Assert.Equal(65024, tok.VocabSize);
        Assert.Equal(11, tok.TokenToId("<|endoftext|>"));
        Assert.True(tok.IsSpecial(11));
        // Offsets: each token maps back to its text.
        var enc = tok.Encode("Hello world 123456 мир");
        foreach (var (s, e) in enc.Offsets) Assert.True(s >= 0 && e <= "Hello world 123456 мир".Length && s <= e);
        Assert.Equal((0, 5), enc.Offsets[0]);
        Assert.Equal((5, 11), enc.Offsets[1]);
        Assert.Equal("Hello world", tok.Decode(enc.Ids.AsSpan()[..2]));
        // Clean-up of tokenization spaces, as transformers.
        Assert.Equal("Hello, it's me.", Tokenizer.CleanUpTokenizationSpaces("Hello , it 's me ."));
    }
}
