using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using FalconMamba.Tokenization;
using FalconMamba.Training;

namespace FalconMamba.Cli.Commands;

/// <summary>
/// <c>falcon-mamba train --config train.json [--key value …]</c>: trains a Mamba / Falcon Mamba model from scratch, from
/// an HF folder (<c>--init-from</c>) or a checkpoint (<c>--resume latest</c>). Every train.json key is also a flag
/// (snake_case key → <c>--kebab-case</c>). Progress goes to stderr; metrics.csv, loss.png, lr.png, checkpoints/ and
/// final/ (an HF model folder) go to the output folder. Ctrl-C finishes the current step, checkpoints and exits.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config", "-c") { Description = "train.json (snake_case keys; see docs/training.md)." };
        var cmd = new Command("train", "Train a model (AdamW, WSD schedule, batch ramp, context stages, checkpoints, resume).") { config };
        var flags = new List<(PropertyInfo Prop, Option<string?> Opt)>();
        foreach (var prop in typeof(TrainConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            string key = TrainConfig.KeyOf(prop.Name);
            var opt = new Option<string?>("--" + key.Replace('_', '-')) { Description = $"train.json '{key}' ({Describe(prop.PropertyType)})." };
            cmd.Options.Add(opt);
            flags.Add((prop, opt));
        }
        cmd.SetAction(pr => CliRunner.Run(pr, () =>
        {
            var json = new JsonObject();
            if (pr.GetValue(config) is string path)
            {
                if (!File.Exists(path)) throw new FalconMambaException($"--config: '{path}' does not exist");
                json = JsonNode.Parse(File.ReadAllText(path), documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                    ?? throw new FalconMambaException($"{path}: expected a JSON object");
            }
            foreach (var (prop, opt) in flags)
                if (pr.GetValue(opt) is string v) json[TrainConfig.KeyOf(prop.Name)] = FlagValue(prop.PropertyType, v, opt.Name);
            var cfg = TrainConfig.Parse(json.ToJsonString(), pr.GetValue(config) ?? "flags").Validate();
            return Run(cfg);
        }));
        return cmd;
    }

    static string Describe(Type t) => t == typeof(string[]) ? "comma-separated list" : t == typeof(ContextStage[]) ? "start:length,…" : t == typeof(bool) ? "true|false" : Nullable.GetUnderlyingType(t)?.Name ?? t.Name;

    static JsonNode? FlagValue(Type t, string v, string flag)
    {
        var c = CultureInfo.InvariantCulture;
        if (t == typeof(string)) return JsonValue.Create(v);
        if (t == typeof(string[])) return new JsonArray(v.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => (JsonNode?)JsonValue.Create(s.Trim())).ToArray());
        if (t == typeof(bool)) return bool.TryParse(v, out var b) ? JsonValue.Create(b) : throw new FalconMambaException($"{flag}: '{v}' is not true or false");
        if (t == typeof(ContextStage[]))
            return new JsonArray(v.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s =>
            {
                var parts = s.Split(':');
                if (parts.Length != 2 || !double.TryParse(parts[0], NumberStyles.Float, c, out var start) || !int.TryParse(parts[1], c, out var len))
                    throw new FalconMambaException($"{flag}: '{s}' is not start_tokens:length");
                return (JsonNode?)new JsonObject { ["start_tokens"] = start, ["length"] = len };
            }).ToArray());
        if (!double.TryParse(v, NumberStyles.Float, c, out var d)) throw new FalconMambaException($"{flag}: '{v}' is not a number");
        if (t == typeof(int) || t == typeof(long))
        {
            if (d != Math.Floor(d)) throw new FalconMambaException($"{flag}: '{v}' is not an integer");
            return JsonValue.Create((long)d);
        }
        return JsonValue.Create(d);
    }

    static int Run(TrainConfig cfg)
    {
        Directory.CreateDirectory(cfg.Output);
        // weights: checkpoint, HF folder, or fresh init
        string? ckpt = cfg.Resume != null ? Checkpoint.Resolve(cfg.Resume, cfg.Output) : null;
        string tokFolder = cfg.Tokenizer.Length > 0 ? cfg.Tokenizer : ckpt ?? cfg.InitFrom!;
        if (!File.Exists(Path.Combine(tokFolder, "tokenizer.json"))) throw new FalconMambaException($"tokenizer: '{tokFolder}' has no tokenizer.json");
        var tok = Tokenizer.Load(tokFolder);
        MambaParameters p;
        TrainerState? state = null;
        if (ckpt != null)
        {
            Console.Error.WriteLine($"resuming from {ckpt}");
            p = MambaParameters.Load(ckpt);
            state = Checkpoint.ReadState(ckpt);
        }
        else if (cfg.InitFrom != null) p = MambaParameters.Load(cfg.InitFrom);
        else p = MambaParameters.Initialize(cfg.ModelConfig(tok.VocabSize, tok.BosTokenId, tok.EosTokenId, tok.PadTokenId), cfg.Seed);
        if (tok.VocabSize > p.Config.VocabSize) throw new FalconMambaException($"tokenizer has {tok.VocabSize} tokens but the model's vocab_size is {p.Config.VocabSize}");
        int eos = tok.EosTokenId ?? (p.Config.EosTokenIds.Count > 0 ? p.Config.EosTokenIds[0] : throw new FalconMambaException("no EOS token in the tokenizer or config; needed between documents"));

        var (train, valid) = LoadData(cfg, tok, eos, p.Config.VocabSize);
        using var trainSource = train;
        Console.Error.WriteLine($"model {p.Config.ModelType}: {p.Count:N0} parameters (D {p.Config.HiddenSize}, E {p.Config.IntermediateSize}, N {p.Config.StateSize}, R {p.Config.TimeStepRank}, layers {p.Config.NumHiddenLayers}, V {p.Config.VocabSize}); " +
            $"data {train.Length:N0} train / {valid.Length:N0} valid tokens; budget {cfg.TotalTokens:N0} tokens; precision {cfg.Precision}");

        using var trainer = new Trainer(cfg, p, train, valid, state);
        if (ckpt != null) trainer.Optimizer.Load(Path.Combine(ckpt, "optimizer.safetensors"));
        File.WriteAllText(Path.Combine(cfg.Output, "train_config.json"), cfg.ToJson());
        var metrics = new MetricsLog(Path.Combine(cfg.Output, "metrics.csv"), trainer.Step);
        double elapsedBefore = MetricsLog.Read(Path.Combine(cfg.Output, "metrics.csv")).LastOrDefault()?.ElapsedSeconds ?? 0;

        bool stop = false;
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop = true; Console.Error.WriteLine("\ninterrupt: finishing this step, then writing a checkpoint"); };
        Console.CancelKeyPress += onCancel;
        var total = Stopwatch.StartNew();
        var lastPrint = Stopwatch.StartNew();
        double tokensAtStart = trainer.Tokens;
        long lastCkpt = trainer.Step;
        try
        {
            while (!trainer.Done && !stop)
            {
                var r = trainer.TrainStep();
                if (!double.IsFinite(r.Loss)) throw new FalconMambaException($"step {r.Step}: loss is {r.Loss}; lower lr or enable grad_clip");
                bool eval = cfg.EvalInterval > 0 && r.Step % cfg.EvalInterval == 0 || trainer.Done;
                double val = eval ? trainer.Validate() : double.NaN;
                double tps = (trainer.Tokens - tokensAtStart) / total.Elapsed.TotalSeconds;
                metrics.Append(new MetricsRow(r.Step, r.Tokens, r.Loss, val, r.Lr, r.Batch, r.SeqLen, r.GradNorm, r.Batch * r.SeqLen / r.Seconds, elapsedBefore + total.Elapsed.TotalSeconds));
                if (eval || r.Step == 1 || lastPrint.Elapsed.TotalSeconds >= 2 || trainer.Done)
                {
                    double left = Math.Max(0, cfg.TotalTokens - trainer.Tokens) / Math.Max(1, tps);
                    Console.Error.WriteLine($"step {r.Step,6}  tokens {r.Tokens,12:N0}  loss {r.Loss:F4}{(eval ? $"  val {val:F4}" : "")}  lr {r.Lr:E2}  batch {r.Batch}×{r.SeqLen}  |g| {r.GradNorm:F3}  {tps:F0} tok/s  ETA {TimeSpan.FromSeconds(left):hh\\:mm\\:ss}");
                    lastPrint.Restart();
                }
                if (cfg.CheckpointInterval > 0 && r.Step % cfg.CheckpointInterval == 0)
                {
                    Console.Error.WriteLine($"checkpoint {Checkpoint.Save(cfg.Output, trainer, tokFolder, cfg.KeepCheckpoints)}");
                    lastCkpt = r.Step;
                }
            }
        }
        finally { Console.CancelKeyPress -= onCancel; }
        if (trainer.Step != lastCkpt) Console.Error.WriteLine($"checkpoint {Checkpoint.Save(cfg.Output, trainer, tokFolder, cfg.KeepCheckpoints)}");
        TrainingPlots.Write(cfg.Output);
        if (stop) { Console.Error.WriteLine("stopped by interrupt; continue with --resume latest"); return 130; }
        string final = Path.Combine(cfg.Output, "final");
        Checkpoint.SaveModel(final, trainer.Parameters, tokFolder);
        Console.Error.WriteLine($"done: {trainer.Step} steps, {trainer.Tokens:N0} tokens, {(trainer.Tokens - tokensAtStart) / total.Elapsed.TotalSeconds:F0} tok/s, peak RSS {CommonOptions.PeakRssMiB():F0} MiB; model in {final}");
        return 0;
    }

    // Progress<T> posts to the thread pool, so its last report could land after the summary line; this one reports inline.
    sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    /// <summary>
    /// Token streams for training and validation: .tok shards used directly, text tokenized once into {output}/data
    /// (reused while inputs are unchanged). The training shards are memory-mapped (read a window at a time, so the data
    /// set is bounded by disk, not RAM); the validation tokens are read into memory.
    /// </summary>
    static (TokenSource Train, int[] Valid) LoadData(TrainConfig cfg, Tokenizer tok, int eos, int vocabSize)
    {
        int validEvery = cfg.ValidData.Length == 0 && cfg.ValidFraction > 0 ? (int)Math.Round(1 / cfg.ValidFraction) : 0;
        var (train, heldOut) = Stream(cfg.TrainData, "train", validEvery);
        var valid = cfg.ValidData.Length > 0 ? Stream(cfg.ValidData, "valid", 0).Train : heldOut;
        return (new ShardTokenSource(train, vocabSize), valid.SelectMany(TokenShards.Read).ToArray());

        (List<string> Train, List<string> Valid) Stream(string[] inputs, string prefix, int every)
        {
            var shards = inputs.Where(f => f.EndsWith(".tok", StringComparison.OrdinalIgnoreCase)).ToList();
            var texts = inputs.Except(shards).ToList();
            var tr = new List<string>(shards);
            var va = new List<string>();
            if (texts.Count > 0)
            {
                string dir = Path.Combine(cfg.Output, "data");
                string manifest = Path.Combine(dir, prefix + ".manifest");
                string key = string.Join("\n", texts.Select(f => new FileInfo(f) is var fi && fi.Exists ? $"{Path.GetFullPath(f)}|{fi.Length}|{fi.LastWriteTimeUtc.Ticks}" : throw new FalconMambaException($"data file '{f}' does not exist"))
                    .Append($"tokenizer|{tok.VocabSize}|{new FileInfo(Path.Combine(cfg.Tokenizer.Length > 0 ? cfg.Tokenizer : ".", "tokenizer.json")).Length}|eos {eos}|valid_every {every}"));
                string[] Listed(string kind) => Directory.GetFiles(dir, $"{prefix}{kind}-*.tok").Where(f => kind.Length > 0 || !f.Contains("-valid-")).Order(StringComparer.Ordinal).ToArray();
                if (!File.Exists(manifest) || File.ReadAllText(manifest) != key)
                {
                    if (Directory.Exists(dir)) foreach (var old in Directory.GetFiles(dir, prefix + "*.tok")) File.Delete(old);
                    var sw = Stopwatch.StartNew();
                    var progress = new SyncProgress(n => Console.Error.Write($"\rtokenizing {prefix}: {n:N0} documents"));
                    var res = TokenShards.Prepare(tok, texts.SelectMany(TokenShards.ReadDocuments), dir, prefix, eos, every, progress: progress);
                    Console.Error.WriteLine($"\rtokenized {prefix}: {res.TrainTokens:N0} + {res.ValidTokens:N0} held-out tokens in {sw.Elapsed.TotalSeconds:F1} s");
                    File.WriteAllText(manifest, key);
                }
                tr.AddRange(Listed(""));
                va.AddRange(Listed("-valid"));
            }
            return (tr, va);
        }
    }
}
