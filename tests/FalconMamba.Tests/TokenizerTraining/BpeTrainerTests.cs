using FalconMamba.Tokenization.Trainer;

namespace FalconMamba.Tests.TokenizerTraining;

/// <summary>The BPE trainer's output loads in the Rust HF tokenizer (Tokenizers.DotNet) and behaves like a Falcon tokenizer.</summary>
public class BpeTrainerTests
{
    /// <summary>A deterministic English-like corpus with digits, punctuation and some non-ASCII text.</summary>
    internal static List<string> Corpus(int docs, int seed)
    {
        var rng = new Random(seed);
        string[] words = ["the", "and", "of", "to", "in", "he", "that", "shall", "unto", "lord", "said", "his", "they", "for", "with", "him",
            "not", "them", "all", "was", "which", "it", "be", "is", "thou", "thy", "upon", "king", "people", "house", "day", "land", "café", "naïve", "Ωmega"];
        var list = new List<string>();
        for (int d = 0; d < docs; d++)
        {
            var sb = new System.Text.StringBuilder();
            int n = rng.Next(20, 80);
            for (int i = 0; i < n; i++)
            {
                string w = words[(int)Math.Min(words.Length - 1, Math.Abs(rng.NextDouble() * rng.NextDouble()) * words.Length)];
                if (i == 0 || rng.Next(12) == 0) w = char.ToUpperInvariant(w[0]) + w[1..];
                sb.Append(w);
                int r = rng.Next(30);
                sb.Append(r == 0 ? ", " : r == 1 ? ". " : r == 2 ? $" {rng.Next(100000)} " : r == 3 ? "; " : r == 4 ? "!\n" : " ");
            }
            list.Add(sb.ToString().Trim());
        }
        return list;
    }

    [Fact]
    public void TrainedTokenizerLoadsInTheRustTokenizerAndRoundTrips()
    {
        var corpus = Corpus(400, 1);
        var model = BpeTrainer.Train(corpus, new BpeTrainerOptions { VocabSize = 600, Threads = 2 });
        Assert.Equal(600, model.Vocab.Count);
        Assert.Equal("<|endoftext|>", model.Vocab[0]);
        Assert.Equal(600 - 3 - 256, model.Merges.Count);
        string dir = TestPaths.NewTempDir();
        BpeTrainer.Save(model, dir);

        var rust = new Tokenizers.DotNet.Tokenizer(vocabPath: Path.Combine(dir, "tokenizer.json"));
        long bytes = 0, tokens = 0;
        foreach (var text in corpus.Take(100).Append("x<|endoftext|>y 1234567 it's!!! Ωmega\n\nend"))
        {
            var ids = rust.Encode(text);
            Assert.All(ids, id => Assert.InRange((int)id, 0, 599));
            if (!text.Contains("<|endoftext|>")) Assert.Equal(text, rust.Decode(ids));
            bytes += System.Text.Encoding.UTF8.GetByteCount(text);
            tokens += ids.Length;
        }
        double ratio = bytes / (double)tokens;
        TestContext.Current.TestOutputHelper?.WriteLine($"600-token vocabulary: {ratio:F2} bytes per token on the training text");
        Assert.True(ratio > 2.5, $"merges barely compress: {ratio:F2} bytes/token");
        // specials match as whole tokens, and digits split in groups of three as in Falcon
        var special = rust.Encode("x<|endoftext|>y");
        Assert.Contains(0u, special);
        var digits = rust.Encode("1234567").Select(i => model.Vocab[(int)i]).ToArray();
        // no token crosses the 3-digit group boundaries: cumulative lengths hit 3 and 6
        var cuts = digits.Select((d, i) => digits.Take(i + 1).Sum(x => x.Length)).ToHashSet();
        Assert.Equal("1234567", string.Concat(digits));
        Assert.Contains(3, cuts);
        Assert.Contains(6, cuts);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void TrainingIsDeterministicAndValidatesArguments()
    {
        var corpus = Corpus(100, 2);
        var a = BpeTrainer.Train(corpus, new BpeTrainerOptions { VocabSize = 400, Threads = 2 });
        var b = BpeTrainer.Train(corpus, new BpeTrainerOptions { VocabSize = 400, Threads = 1 });
        Assert.Equal(a.Merges, b.Merges);
        Assert.Contains("--vocab-size", Assert.Throws<ArgumentOutOfRangeException>(() => BpeTrainer.Train(corpus, new BpeTrainerOptions { VocabSize = 100 })).Message);
    }
}

/// <summary>The default model's trained tokenizer encodes exactly like the Rust HF tokenizer.</summary>
public class ShippedTokenizerTests
{
    [Fact]
    public void DefaultModelTokenizerMatchesTheRustTokenizer()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "models", "falcon-mamba-tiny-kjv");
        var ours = FalconMamba.Tokenization.Tokenizer.Load(dir);
        var rust = new Tokenizers.DotNet.Tokenizer(vocabPath: Path.Combine(dir, "tokenizer.json"));
        var texts = new List<string> { File.ReadAllText(Path.Combine(dir, "valid-sample.txt")) };
        var rng = new Random(12);
        string[] alphabet = [.. "abcdefghijklmnopqrstuvwxyz ABCXYZ .,;:!?'\"-()0123456789\n\t  éüßΩжか".Select(c => c.ToString()), "😀", "<|im_end|>", " the", "LORD", "1234"];
        for (int i = 0; i < 2000; i++)
            texts.Add(string.Concat(Enumerable.Range(0, rng.Next(1, 60)).Select(_ => alphabet[rng.Next(alphabet.Length)])));
        int same = 0;
        foreach (var t in texts)
        {
            var a = ours.EncodeToIds(t, addSpecialTokens: false);
            var b = rust.Encode(t).Select(x => (int)x).ToArray();
            Assert.Equal(b, a);
            same++;
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{same} texts encode identically (incl. {texts[0].Length} chars of held-out KJV)");
    }
}
