using System.Diagnostics;
using System.Globalization;

namespace FalconMamba.Training;

/// <summary>One finished optimizer step, as reported to the caller (the CLI renders it).</summary>
public sealed record StepReport(long Step, double Tokens, double Loss, double? ValidationLoss, double LearningRate, int Batch, int Context,
    double GradNorm, double TokensPerSecond, TimeSpan Elapsed, TimeSpan? Eta, string? Checkpoint);

/// <summary>
/// The training loop: per step the context (stages), batch (ramp-up) and learning rate (WSD × BatchScaling) are pure
/// functions of the tokens seen; micro-batches accumulate gradients, the global norm is clipped, AdamW updates. Writes
/// metrics.csv and checkpoints under the output folder, resumes from the newest checkpoint, and on cancellation writes
/// a checkpoint after the current step and returns.
/// </summary>
public sealed class Trainer : IDisposable
{
    /// <summary>Options of the run.</summary>
    public TrainOptions Options { get; }
    /// <summary>Parameters (f32 master weights).</summary>
    public MambaParameters Parameters { get; }
    /// <summary>The optimizer.</summary>
    public AdamW Optimizer { get; }
    /// <summary>Forward/backward engine.</summary>
    public MambaTrainingModel Model { get; }
    readonly MambaParameters _grads;
    readonly TokenDataLoader _loader;
    /// <summary>Steps done.</summary>
    public long Step { get; private set; }
    /// <summary>Tokens trained on.</summary>
    public double Tokens { get; private set; }
    /// <summary>Checkpoint the run resumed from, if any.</summary>
    public string? ResumedFrom { get; }
    string CheckpointDir => Path.Combine(Options.Output, "checkpoints");
    /// <summary>metrics.csv path.</summary>
    public string MetricsPath => Path.Combine(Options.Output, "metrics.csv");

    /// <summary>Sets up a run (fresh, from init_from, or resumed from the newest checkpoint in the output folder).</summary>
    public Trainer(TrainOptions options, int vocabFromTokenizer = 0)
    {
        options.Validate();
        Options = options;
        var tokens = TokenDataLoader.LoadShards(options.Data);
        MambaParameters p;
        if (options.InitFrom != null) p = MambaParameters.LoadFolder(options.InitFrom);
        else
        {
            int vocab = options.VocabSize > 0 ? options.VocabSize : vocabFromTokenizer > 0 ? vocabFromTokenizer : tokens.Max() + 1;
            p = MambaParameters.Initialize(options.ModelConfig(vocab), options.Seed);
        }
        int maxId = tokens.Max();
        if (maxId >= p.Config.VocabSize) throw new FalconMambaException($"data: token id {maxId} is outside the model vocabulary ({p.Config.VocabSize})");
        Parameters = p;
        var decayKinds = options.DecayAll ? Enum.GetValues<ParameterKind>().ToHashSet() : new AdamWOptions().DecayKinds;
        Optimizer = new AdamW(p, new AdamWOptions { Beta1 = options.Beta1, Beta2 = options.Beta2, Epsilon = options.Epsilon, WeightDecay = options.WeightDecay, DecayKinds = decayKinds });
        _grads = p.ZerosLike();
        _loader = new TokenDataLoader(tokens, options.Seed, options.ValidationFraction, options.Stages[0].Context);
        Model = new MambaTrainingModel(p, options.Threads, options.ScanChunk);
        Directory.CreateDirectory(options.Output);
        var existing = Checkpoint.List(CheckpointDir);
        if (options.Resume && existing.Count > 0)
        {
            var st = Checkpoint.Load(existing[^1], p, Optimizer);
            Step = st.Step; Tokens = st.Tokens;
            _loader.Restore(st.Loader);
            ResumedFrom = existing[^1];
            TrimMetrics();
        }
        else if (File.Exists(MetricsPath)) File.Delete(MetricsPath);
        File.WriteAllText(Path.Combine(options.Output, "train.json"), options.ToJson());
    }

    /// <summary>Token budget: tokens, or steps × batch × final context.</summary>
    public double TokenBudget => Options.Tokens > 0 ? Options.Tokens : Options.Steps * (double)Options.Batch * Options.Stages[^1].Context;

    /// <summary>Learning rate at a clock value for a given batch.</summary>
    public double LearningRate(double tokens, int batch)
    {
        double lr = Schedules.WarmupStableDecay(tokens, Options.WarmupTokens, TokenBudget, Options.DecayTokens, Options.LearningRate, Options.DecayShape, Options.MinLrRatio);
        return Options.BatchScaling ? Schedules.BatchScaling(lr, batch, Options.Batch) : lr;
    }

    bool Done => (Options.Steps > 0 && Step >= Options.Steps) || (Options.Tokens > 0 && Tokens >= Options.Tokens);

    /// <summary>Runs until the step/token budget or cancellation; reports each step. Returns the last checkpoint folder.</summary>
    public string? Run(Action<StepReport>? report = null, CancellationToken cancel = default)
    {
        var sw = Stopwatch.StartNew();
        double tokensAtStart = Tokens;
        string? lastCkpt = null;
        bool header = !File.Exists(MetricsPath);
        using var csv = new StreamWriter(MetricsPath, append: true);
        if (header) csv.WriteLine("step,tokens,loss,val_loss,lr,batch,context,grad_norm,tokens_per_s,elapsed_s");
        while (!Done && !cancel.IsCancellationRequested)
        {
            int ctx = Schedules.ContextLength(Tokens, Options.Stages);
            int bMin = Options.BatchMin > 0 ? Options.BatchMin : Options.Batch;
            int batch = Schedules.BatchRampUp(Tokens, bMin, Options.Batch, Options.BatchRampTokens, Options.MicroBatch);
            double lr = LearningRate(Tokens, batch);
            _grads.Clear();
            int micro = batch / Options.MicroBatch;
            double loss = 0;
            for (int i = 0; i < micro; i++)
            {
                var (x, y) = _loader.NextBatch(Options.MicroBatch, ctx);
                loss += Model.ForwardBackward(x, y, _grads, 1f / micro) / micro;
            }
            double norm = AdamW.ClipGlobalNorm(_grads, Options.GradClip);
            Optimizer.Update(Parameters, _grads, lr);
            Step++;
            Tokens += (double)batch * ctx;
            double? val = null;
            if (Options.EvalInterval > 0 && (Step % Options.EvalInterval == 0 || Done)) val = Validate(ctx);
            string? ck = null;
            if ((Options.CheckpointInterval > 0 && Step % Options.CheckpointInterval == 0) || Done || cancel.IsCancellationRequested)
                ck = lastCkpt = SaveCheckpoint();
            double el = sw.Elapsed.TotalSeconds, tps = (Tokens - tokensAtStart) / Math.Max(el, 1e-9);
            TimeSpan? eta = tps > 0 ? TimeSpan.FromSeconds(Math.Max(0, TokenBudget - Tokens) / tps) : null;
            csv.WriteLine(string.Join(',', Step.ToString(CultureInfo.InvariantCulture), Tokens.ToString("R", CultureInfo.InvariantCulture),
                loss.ToString("R", CultureInfo.InvariantCulture), val?.ToString("R", CultureInfo.InvariantCulture) ?? "", lr.ToString("R", CultureInfo.InvariantCulture),
                batch, ctx, norm.ToString("G6", CultureInfo.InvariantCulture), tps.ToString("F1", CultureInfo.InvariantCulture), el.ToString("F2", CultureInfo.InvariantCulture)));
            csv.Flush();
            report?.Invoke(new StepReport(Step, Tokens, loss, val, lr, batch, ctx, norm, tps, sw.Elapsed, eta, ck));
        }
        // Cancelled (Ctrl-C) after a step that did not write one: checkpoint now so the run can resume.
        if (cancel.IsCancellationRequested && (lastCkpt == null || !lastCkpt.EndsWith($"step-{Step:D8}", StringComparison.Ordinal)))
            lastCkpt = SaveCheckpoint();
        return lastCkpt;
    }

    /// <summary>Mean loss over the validation windows at this context (NaN when there are none).</summary>
    public double Validate(int context)
    {
        var (x, y) = _loader.Validation(context, Options.EvalWindows);
        if (x.Length == 0) return double.NaN;
        double total = 0;
        for (int i = 0; i < x.Length; i += Options.MicroBatch)
        {
            int n = Math.Min(Options.MicroBatch, x.Length - i);
            total += Model.Loss(x[i..(i + n)], y[i..(i + n)]) * n;
        }
        return total / x.Length;
    }

    /// <summary>Writes a checkpoint now.</summary>
    public string SaveCheckpoint() => Checkpoint.Save(CheckpointDir, Parameters, Optimizer,
        new TrainerState(Step, Tokens, Optimizer.Step, _loader.Position), Options.Tokenizer, Options.KeepCheckpoints);

    void TrimMetrics()
    {
        if (!File.Exists(MetricsPath)) return;
        var lines = File.ReadAllLines(MetricsPath);
        var keep = lines.Take(1).Concat(lines.Skip(1).Where(l => long.TryParse(l.Split(',')[0], out long s) && s <= Step)).ToArray();
        File.WriteAllLines(MetricsPath, keep);
    }

    /// <summary>Releases the worker threads.</summary>
    public void Dispose() => Model.Dispose();
}
