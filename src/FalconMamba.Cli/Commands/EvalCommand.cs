using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using FalconMamba.Evaluation;
using FalconMamba.Model;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba eval ppl|kl|choice</c>: perplexity of a text, KL divergence / top-1 agreement of a (quantized)
/// model against a base model (as llama.cpp's perplexity --kl-divergence), and lm-eval-style multiple-choice accuracy.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var root = new Command("eval", "Evaluate a model: perplexity, KL against a base model, multiple-choice tasks.");
        root.Subcommands.Add(Perplexity());
        root.Subcommands.Add(Kl());
        root.Subcommands.Add(Choice());
        return root;
    }

    static Option<string?> TextOption() => new("--text") { Description = "UTF-8 text file, tokenized with the model's tokenizer." };
    static Option<string?> IdsOption() => new("--ids-file") { Description = "File of token ids (comma or whitespace separated)." };

    static int[] Tokens(ParseResult pr, Option<string?> text, Option<string?> ids, string modelPath)
    {
        if (pr.GetValue(ids) is string f)
        {
            if (!File.Exists(f)) throw new FalconMambaException($"--ids-file: '{f}' does not exist");
            return CommonOptions.ParseIds(File.ReadAllText(f).Replace('\n', ','), "--ids-file");
        }
        if (pr.GetValue(text) is string t)
        {
            if (!File.Exists(t)) throw new FalconMambaException($"--text: '{t}' does not exist");
            string s;
            try { s = File.ReadAllText(t, new System.Text.UTF8Encoding(false, true)); }
            catch (System.Text.DecoderFallbackException) { throw new FalconMambaException($"--text: '{t}' is not valid UTF-8"); }
            return TokenizerLoader.Encode(modelPath, s);
        }
        throw new ArgumentException("give --text or --ids-file");
    }

    static Command Perplexity()
    {
        var model = CommonOptions.Model();
        var text = TextOption();
        var ids = IdsOption();
        var threads = CommonOptions.Threads();
        var chunk = CommonOptions.Chunk();
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var cmd = new Command("ppl", "Perplexity of a text (every token predicted from all before it, constant memory).") { model, text, ids, threads, chunk, json };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            string path = pr.GetValue(model)!;
            using var m = CliRunner.LoadModel(pr, path);
            var tokens = Tokens(pr, text, ids, path);
            using var ev = new Evaluator(m, pr.GetValue(threads), pr.GetValue(chunk));
            var sw = Stopwatch.StartNew();
            var r = ev.Perplexity(tokens);
            if (pr.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(new { tokens = r.Tokens, mean_nll = r.MeanNll, perplexity = r.Perplexity, seconds = sw.Elapsed.TotalSeconds }));
            else Console.WriteLine($"tokens {r.Tokens}  mean NLL {r.MeanNll:F4} nats  perplexity {r.Perplexity:F3}  ({r.Tokens / sw.Elapsed.TotalSeconds:F0} tok/s)");
            return 0;
        }));
        return cmd;
    }

    static Command Kl()
    {
        var baseModel = new Option<string>("--base") { Description = "The reference model (f32/bf16).", Required = true };
        var model = CommonOptions.Model();
        var text = TextOption();
        var ids = IdsOption();
        var threads = CommonOptions.Threads();
        var chunk = CommonOptions.Chunk();
        var cmd = new Command("kl", "Mean KL divergence and top-1 agreement of next-token distributions against a base model.") { baseModel, model, text, ids, threads, chunk };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            using var b = MambaModel.Load(pr.GetValue(baseModel)!);
            using var m = CliRunner.LoadModel(pr, pr.GetValue(model)!);
            var tokens = Tokens(pr, text, ids, pr.GetValue(baseModel)!);
            var r = Evaluator.CompareWithBase(b, m, tokens, pr.GetValue(threads), pr.GetValue(chunk));
            Console.WriteLine($"tokens {r.Tokens}  mean KL {r.MeanKl:E4}  max KL {r.MaxKl:E4}  top-1 agreement {r.Top1Agreement:P2}  PPL base {r.BasePerplexity:F4} model {r.Perplexity:F4}");
            return 0;
        }));
        return cmd;
    }

    static Command Choice()
    {
        var model = CommonOptions.Model();
        var tasks = new Option<string>("--tasks") { Description = "JSONL: {\"context\": \"...\", \"choices\": [\"...\", ...], \"gold\": i} per line.", Required = true };
        var threads = CommonOptions.Threads();
        var limit = new Option<int>("--limit") { Description = "Evaluate at most this many items (0 = all).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("choice", "Multiple-choice accuracy (lm-eval acc and acc_norm) from continuation log-likelihoods.") { model, tasks, threads, limit };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            string path = pr.GetValue(model)!;
            using var m = CliRunner.LoadModel(pr, path);
            var items = MultipleChoice.Load(pr.GetValue(tasks)!);
            if (pr.GetValue(limit) > 0) items = items.Take(pr.GetValue(limit)).ToList();
            using var ev = new Evaluator(m, pr.GetValue(threads));
            var r = MultipleChoice.Run(ev, items, s => TokenizerLoader.Encode(path, s));
            Console.WriteLine($"items {r.Items}  acc {r.Accuracy:P2}  acc_norm {r.AccuracyNorm:P2}");
            return 0;
        }));
        return cmd;
    }
}
