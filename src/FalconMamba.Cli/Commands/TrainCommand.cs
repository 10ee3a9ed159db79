using System.CommandLine;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FalconMamba.Tokenization;
using FalconMamba.Training;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba train --config train.json [--any-field value]</c>: trains or continues a model (docs/training.md);
/// <c>falcon-mamba train tokenize</c>: text / JSONL files → binary token shards. Every train.json key is also a flag
/// (snake_case key → --kebab-case flag), flags override the file.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config", "-c") { Description = "train.json (keys documented in docs/training.md)." };
        var cmd = new Command("train", "Train or continue a Mamba / Falcon Mamba model on token shards (see docs/training.md).") { config };
        var fields = new List<(PropertyInfo Prop, string Key, Option<string?> Opt)>();
        foreach (var prop in typeof(TrainOptions).GetProperties())
        {
            var key = prop.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name;
            if (key == null) continue;
            var opt = new Option<string?>("--" + key.Replace('_', '-'))
            {
                Description = key == "context_stages" ? "Context stages as START_TOKENS:CONTEXT,… (e.g. 0:2048,1e9:8192)." : $"Overrides '{key}' of train.json ({TypeName(prop.PropertyType)}).",
            };
            cmd.Options.Add(opt);
            fields.Add((prop, key, opt));
        }
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            JsonObject json = new();
            if (pr.GetValue(config) is string path)
            {
                if (!File.Exists(path)) throw new FalconMambaException($"--config: '{path}' does not exist");
                try { json = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject ?? throw new FalconMambaException($"{path}: expected a JSON object"); }
                catch (JsonException e) { throw new FalconMambaException($"{path}: invalid JSON ({e.Message})"); }
            }
            foreach (var (prop, key, opt) in fields)
                if (pr.GetValue(opt) is string v) json[key] = FlagValue(prop.PropertyType, key, v);
            var tmp = Path.GetTempFileName();
            TrainOptions options;
            try { File.WriteAllText(tmp, json.ToJsonString()); options = TrainOptions.Load(tmp); }
            catch (FalconMambaException e) { throw new FalconMambaException("train options: " + e.Message[(e.Message.IndexOf(':') + 1)..].Trim()); }
            finally { File.Delete(tmp); }
            return Train(options);
        }));
        cmd.Subcommands.Add(Tokenize());
        return cmd;
    }

    static string TypeName(Type t) => t == typeof(string) ? "text" : t == typeof(bool) ? "true|false" : Nullable.GetUnderlyingType(t)?.Name ?? t.Name.ToLowerInvariant();

    static JsonNode? FlagValue(Type t, string key, string v)
    {
        if (t == typeof(string)) return JsonValue.Create(v);
        if (key == "context_stages")
        {
            var arr = new JsonArray();
            foreach (var part in v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var kv = part.Split(':');
                if (kv.Length != 2 || !double.TryParse(kv[0], CultureInfo.InvariantCulture, out double s) || !int.TryParse(kv[1], CultureInfo.InvariantCulture, out int c))
                    throw new ArgumentException($"--context-stages: '{part}' is not START_TOKENS:CONTEXT");
                arr.Add(new JsonObject { ["start_tokens"] = s, ["context"] = c });
            }
            return arr;
        }
        try { return JsonNode.Parse(v); }
        catch (JsonException) { throw new ArgumentException($"--{key.Replace('_', '-')}: '{v}' is not a valid {TypeName(t)}"); }
    }

    static int Train(TrainOptions options)
    {
        int vocab = 0;
        if (options.Tokenizer != null && options.VocabSize == 0 && options.InitFrom == null) vocab = Tokenizer.Load(options.Tokenizer).VocabSize;
        using var trainer = new Trainer(options, vocab);
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cts.IsCancellationRequested) return;   // a second Ctrl-C kills the process
            e.Cancel = true;
            Console.Error.WriteLine("\nCtrl-C: finishing this step and writing a checkpoint…");
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        var cfg = trainer.Parameters.Config;
        Console.Error.WriteLine($"model {cfg.ModelType}: d_model {cfg.HiddenSize}, layers {cfg.NumHiddenLayers}, d_inner {cfg.IntermediateSize}, d_state {cfg.StateSize}, dt_rank {cfg.TimeStepRank}, vocab {cfg.VocabSize}, {trainer.Parameters.Count / 1e6:F2} M parameters");
        if (trainer.ResumedFrom != null) Console.Error.WriteLine($"resumed from {trainer.ResumedFrom} (step {trainer.Step}, {trainer.Tokens:N0} tokens)");
        var lastPrint = DateTime.MinValue;
        try
        {
            trainer.Run(r =>
            {
                bool important = r.ValidationLoss != null || r.Checkpoint != null;
                if (!important && (DateTime.UtcNow - lastPrint).TotalSeconds < 0.5) return;
                lastPrint = DateTime.UtcNow;
                string val = r.ValidationLoss is double v ? $" val {v:F4}" : "";
                string eta = r.Eta is TimeSpan e ? $" ETA {e:hh\\:mm\\:ss}" : "";
                Console.Error.WriteLine($"step {r.Step} tokens {r.Tokens:N0} loss {r.Loss:F4}{val} lr {r.LearningRate:E2} batch {r.Batch}×{r.Context} |g| {r.GradNorm:F3} {r.TokensPerSecond:F0} tok/s{eta}"
                    + (r.Checkpoint != null ? $" → {r.Checkpoint}" : ""));
            }, cts.Token);
        }
        finally { Console.CancelKeyPress -= onCancel; }
        string plots = TrainingPlots.Write(trainer.MetricsPath, options.Output);
        Console.Error.WriteLine($"metrics {trainer.MetricsPath}; plots {plots}; peak memory {CommonOptions.PeakRssMiB():F0} MiB");
        return cts.IsCancellationRequested ? 130 : 0;
    }

    static Command Tokenize()
    {
        var input = new Option<string[]>("--input", "-i") { Description = "Text (.txt: one document per file) or JSONL (.jsonl: a \"text\" field per line) files.", Required = true, AllowMultipleArgumentsPerToken = true };
        var tok = new Option<string>("--tokenizer") { Description = "Folder with tokenizer.json.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Output folder for shard-NNNNN.bin files.", Required = true };
        var shard = new Option<long>("--shard-tokens") { Description = "Tokens per shard.", DefaultValueFactory = _ => 1L << 26 };
        var eos = new Option<int?>("--eos-id") { Description = "Id placed after every document (default: the tokenizer's eos)." };
        var threads = CommonOptions.Threads();
        var cmd = new Command("tokenize", "Tokenize text / JSONL files into binary token shards (uint16 when the vocabulary fits, else uint32).") { input, tok, output, shard, eos, threads };
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            var t = Tokenizer.Load(pr.GetValue(tok)!);
            int eosId = pr.GetValue(eos) ?? t.EosTokenId ?? throw new FalconMambaException("--tokenizer: the tokenizer has no eos token; give --eos-id");
            foreach (var f in pr.GetValue(input)!) if (!File.Exists(f)) throw new FalconMambaException($"--input: '{f}' does not exist");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var last = DateTime.MinValue;
            var paths = TokenShards.Write(pr.GetValue(input)!, s => t.EncodeToIds(s, addSpecialTokens: false), pr.GetValue(output)!, t.VocabSize, eosId,
                pr.GetValue(shard), new Progress(p =>
                {
                    if ((DateTime.UtcNow - last).TotalSeconds < 0.5) return;
                    last = DateTime.UtcNow;
                    Console.Error.Write($"\r{p.Docs:N0} documents, {p.Tokens:N0} tokens, {p.Tokens / sw.Elapsed.TotalSeconds:N0} tok/s   ");
                }), pr.GetValue(threads));
            long total = paths.Sum(p => (new FileInfo(p).Length - 16) / (t.VocabSize <= 65535 ? 2 : 4));
            Console.Error.WriteLine($"\rwrote {paths.Count} shard(s), {total:N0} tokens to {pr.GetValue(output)} in {sw.Elapsed.TotalSeconds:F1} s");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Synchronous progress (System.Progress posts to the thread pool; here order matters).</summary>
    sealed class Progress(Action<(long Docs, long Tokens)> a) : IProgress<(long Docs, long Tokens)>
    {
        public void Report((long Docs, long Tokens) value) => a(value);
    }
}
