using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using FalconMamba.Tokenization.Trainer;

namespace FalconMamba.Cli.Commands;

/// <summary><c>falcon-mamba tokenizer train --input FILES --vocab-size N --out DIR</c>: byte-level BPE with Falcon's pre-tokenization.</summary>
internal static class TokenizerTrainCommand
{
    public static Command Create()
    {
        var input = new Option<string[]>("--input", "-i") { Description = "Text files (UTF-8; .jsonl files use each line's \"text\" field). Repeatable.", Required = true, AllowMultipleArgumentsPerToken = true };
        var vocab = new Option<int>("--vocab-size") { Description = "Vocabulary size including the special tokens and 256 byte symbols.", DefaultValueFactory = _ => 8192 };
        var output = new Option<string>("--out", "-o") { Description = "Output folder for tokenizer.json and tokenizer_config.json.", Required = true };
        var special = new Option<string[]>("--special") { Description = "Special tokens in id order (default: <|endoftext|> <|im_start|> <|im_end|>).", AllowMultipleArgumentsPerToken = true };
        var minFreq = new Option<int>("--min-frequency") { Description = "Minimum pair count for a merge.", DefaultValueFactory = _ => 2 };
        var threads = CommonOptions.Threads();
        var train = new Command("train", "Train a byte-level BPE tokenizer (Falcon pre-tokenization) and write HF tokenizer files.") { input, vocab, output, special, minFreq, threads };
        train.SetAction(pr => CliRunner.Run(pr, () =>
        {
            var files = pr.GetValue(input)!;
            var docs = new List<string>();
            foreach (var f in files) docs.AddRange(ReadDocuments(f));
            long chars = docs.Sum(d => (long)d.Length);
            Console.Error.WriteLine($"read {docs.Count:N0} documents, {chars:N0} characters from {files.Length} file(s)");
            var options = new BpeTrainerOptions
            {
                VocabSize = pr.GetValue(vocab),
                MinFrequency = pr.GetValue(minFreq),
                Threads = pr.GetValue(threads),
                SpecialTokens = pr.GetValue(special) is { Length: > 0 } s ? s : new BpeTrainerOptions().SpecialTokens,
            };
            var sw = Stopwatch.StartNew();
            int lastPct = -1;
            var progress = new Progress<double>(p =>
            {
                int pct = (int)(p * 100);
                if (pct / 10 != lastPct / 10) { lastPct = pct; Console.Error.WriteLine($"  {pct}% ({sw.Elapsed.TotalSeconds:F1} s)"); }
            });
            var model = BpeTrainer.Train(docs, options, progress);
            BpeTrainer.Save(model, pr.GetValue(output)!);
            Console.Error.WriteLine($"trained {model.Vocab.Count:N0} tokens ({model.Merges.Count:N0} merges) in {sw.Elapsed.TotalSeconds:F1} s → {pr.GetValue(output)}");
            return 0;
        }));
        return new Command("tokenizer", "Tokenizer tools.") { train };
    }

    static IEnumerable<string> ReadDocuments(string path)
    {
        if (!File.Exists(path)) throw new FalconMambaException($"--input: '{path}' does not exist");
        var utf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        string text;
        try { text = File.ReadAllText(path, utf8); }
        catch (DecoderFallbackException) { throw new FalconMambaException($"--input: '{path}' is not valid UTF-8"); }
        if (!path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)) return [text];
        var docs = new List<string>();
        int lineNo = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (!doc.RootElement.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new FalconMambaException($"{path}:{lineNo}: no string field \"text\"");
                docs.Add(t.GetString()!);
            }
            catch (JsonException e) { throw new FalconMambaException($"{path}:{lineNo}: invalid JSON ({e.Message})"); }
        }
        return docs;
    }
}
